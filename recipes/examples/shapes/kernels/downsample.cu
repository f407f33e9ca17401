// The CUDA twin of downsample.cc.
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {
template <class T>
__global__ void downsample(const T* x, const T* scale, T* y, int64_t n, int64_t channels,
                           int64_t length, int64_t out, int64_t stride) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = e / out, i = e % out;
    y[e] = x[row * length + i * stride] * scale[row % channels];
  }
}

template <class T>
void launch(opforge::Context& ctx, const shapes::DownsampleArgs& args) {
  const int64_t n = args.y.numel();
  if (n == 0) return;
  downsample<T><<<opforge::cuda::grid_for(n, 128), 128, 0, opforge::cuda::stream(ctx)>>>(
      args.x.ptr<T>(), args.scale.ptr<T>(), args.y.ptr<T>(), n, args.x.shape[1],
      args.x.shape[2], args.y.shape[2], args.strides[0]);
  opforge::cuda::check(ctx, cudaGetLastError(), "Downsample");
}
}  // namespace

void shapes::Downsample_cuda(opforge::Context& ctx, const DownsampleArgs& args) {
  if (args.x.dtype == opforge::DType::Float32) launch<float>(ctx, args);
  else launch<double>(ctx, args);
}
