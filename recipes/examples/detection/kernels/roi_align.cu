// RoIAlign on the device: one thread per output element (roi_align_impl.h has the
// arithmetic). RoIs naming an image outside x give zeros there (checking them would need a
// host round trip; the CPU kernel reports them).
#include <opforge/cuda.h>
#include <opforge/ops.h>

#include "roi_align_impl.h"

namespace {
template <class T>
__global__ void roi_align(const T* x, const T* rois, T* y, int64_t n, int64_t batch,
                          int64_t channels, int64_t height, int64_t width, int64_t pooled_height,
                          int64_t pooled_width, T scale, int64_t sampling_ratio, bool aligned) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = i / pooled_width / pooled_height / channels;
    const T image = rois[k * 5];
    y[i] = image >= T(0) && image < T(batch)
               ? roi::pooled(x, rois, channels, height, width, pooled_height, pooled_width, scale,
                             sampling_ratio, aligned, i)
               : T(0);
  }
}

template <class T>
void launch(opforge::Context& ctx, const detection::RoIAlignArgs& args) {
  const int64_t n = args.y.numel();
  if (n == 0) return;
  roi_align<T><<<opforge::cuda::grid_for(n, 256), 256, 0, opforge::cuda::stream(ctx)>>>(
      args.x.ptr<T>(), args.rois.ptr<T>(), args.y.ptr<T>(), n, args.x.shape[0], args.x.shape[1],
      args.x.shape[2], args.x.shape[3], args.pooled_height, args.pooled_width,
      T(args.spatial_scale), args.sampling_ratio, args.aligned);
  opforge::cuda::check(ctx, cudaGetLastError(), "RoIAlign");
}
}  // namespace

void detection::RoIAlign_cuda(opforge::Context& ctx, const RoIAlignArgs& args) {
  if (args.x.dtype == opforge::DType::Float32) launch<float>(ctx, args);
  else launch<double>(ctx, args);
}
