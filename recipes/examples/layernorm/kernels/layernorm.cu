// The CUDA twin of layernorm.cc: one thread per row (rows are short in this example); bias
// is optional (args.bias.has_value()).
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {
template <class T>
__global__ void layer_norm(const T* x, const T* weight, const T* bias, T* y, int64_t rows,
                           int64_t n, double eps) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    const T* in = x + r * n;
    T* out = y + r * n;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += double(in[i]);
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (double(in[i]) - mean) * (double(in[i]) - mean);
    var /= double(n);
    const double inv = 1.0 / sqrt(var + eps);
    for (int64_t i = 0; i < n; ++i) {
      const double v = (double(in[i]) - mean) * inv * double(weight[i]);
      out[i] = T(bias ? v + double(bias[i]) : v);
    }
  }
}

template <class T>
void launch(opforge::Context& ctx, const layernorm::LayerNormArgs& args) {
  const int64_t n = args.x.shape[args.x.ndim - 1];
  const int64_t rows = n == 0 ? 0 : args.x.numel() / n;
  if (rows == 0) return;
  const T* bias = args.bias.has_value() ? args.bias.ptr<T>() : nullptr;
  layer_norm<T><<<opforge::cuda::grid_for(rows, 128), 128, 0, opforge::cuda::stream(ctx)>>>(
      args.x.ptr<T>(), args.weight.ptr<T>(), bias, args.y.ptr<T>(), rows, n, args.eps);
  opforge::cuda::check(ctx, cudaGetLastError(), "LayerNorm");
}
}  // namespace

void layernorm::LayerNorm_cuda(opforge::Context& ctx, const LayerNormArgs& args) {
  if (args.x.dtype == opforge::DType::Float32) launch<float>(ctx, args);
  else launch<double>(ctx, args);
}
