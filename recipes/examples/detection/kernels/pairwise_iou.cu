// The IoU of every pair of boxes, one thread per pair. This op has no CPU kernel: a CPU build
// leaves it out, and its checks are skipped there.
#include <opforge/cuda.h>
#include <opforge/ops.h>

#include "box_iou.h"

namespace {
__global__ void pairwise_iou(const float* a, const float* b, float* iou, int64_t n, int64_t m) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < n * m;
       p += int64_t(gridDim.x) * blockDim.x) {
    iou[p] = box::iou(a + 4 * (p / m), b + 4 * (p % m));
  }
}
}  // namespace

void detection::PairwiseIoU_cuda(opforge::Context& ctx, const PairwiseIoUArgs& args) {
  const int64_t n = args.a.shape[0], m = args.b.shape[0];
  if (n * m == 0) return;
  pairwise_iou<<<opforge::cuda::grid_for(n * m, 256), 256, 0, opforge::cuda::stream(ctx)>>>(
      args.a.ptr<float>(), args.b.ptr<float>(), args.iou.ptr<float>(), n, m);
  opforge::cuda::check(ctx, cudaGetLastError(), "PairwiseIoU");
}
