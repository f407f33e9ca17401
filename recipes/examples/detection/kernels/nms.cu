// Greedy NMS on the device, in one block: the boxes ranked by decreasing score (ties: lower
// index first, NaN scores last) into the `order` scratch buffer, then the greedy pass with every thread
// suppressing a share of the later boxes. The number kept is written to args.kept on the
// device, so TensorRT needs no host round trip.
#include <opforge/cuda.h>
#include <opforge/ops.h>

#include "box_iou.h"

namespace {
constexpr int kThreads = 512;

template <class T>
__global__ void nms(const T* boxes, const T* scores, int64_t n, T threshold, int64_t* order,
                    uint8_t* removed, int64_t* keep, int64_t* kept) {
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    int64_t rank = 0;
    for (int64_t j = 0; j < n; ++j) rank += box::before(scores[j], j, scores[i], i);
    order[rank] = i;
    removed[i] = 0;
  }
  __shared__ int64_t count;
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  for (int64_t r = 0; r < n; ++r) {
    const int64_t i = order[r];
    if (!removed[i]) {  // the same for every thread: read after the barrier below
      if (threadIdx.x == 0) keep[count++] = i;
      for (int64_t s = r + 1 + threadIdx.x; s < n; s += blockDim.x) {
        const int64_t j = order[s];
        if (!removed[j] && box::iou(boxes + 4 * i, boxes + 4 * j) > threshold) removed[j] = 1;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *kept = count;
}

template <class T>
void launch(opforge::Context& ctx, const detection::NMSArgs& args) {
  nms<T><<<1, kThreads, 0, opforge::cuda::stream(ctx)>>>(
      args.boxes.ptr<T>(), args.scores.ptr<T>(), args.boxes.shape[0], T(args.iou_threshold),
      args.order.ptr<int64_t>(), args.removed.ptr<uint8_t>(), args.keep.ptr<int64_t>(),
      args.kept.value);
  opforge::cuda::check(ctx, cudaGetLastError(), "NMS");
}
}  // namespace

void detection::NMS_cuda(opforge::Context& ctx, const NMSArgs& args) {
  if (args.boxes.dtype == opforge::DType::Float32) launch<float>(ctx, args);
  else launch<double>(ctx, args);
}
