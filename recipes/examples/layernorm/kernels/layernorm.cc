// LayerNorm over the last axis: the glue has checked that weight, and bias when given, have
// x[-1] elements; bias is optional (args.bias.has_value()).
#include <opforge/ops.h>

#include <cmath>

namespace {
template <class T>
void layer_norm(const layernorm::LayerNormArgs& args) {
  const int64_t n = args.x.shape[args.x.ndim - 1];
  const int64_t rows = n == 0 ? 0 : args.x.numel() / n;
  const T* x = args.x.ptr<T>();
  const T* weight = args.weight.ptr<T>();
  const T* bias = args.bias.has_value() ? args.bias.ptr<T>() : nullptr;
  T* y = args.y.ptr<T>();
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * n;
    T* out = y + r * n;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += double(in[i]);
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (double(in[i]) - mean) * (double(in[i]) - mean);
    var /= double(n);
    const double inv = 1.0 / std::sqrt(var + args.eps);
    for (int64_t i = 0; i < n; ++i) {
      const double v = (double(in[i]) - mean) * inv * double(weight[i]);
      out[i] = T(bias ? v + double(bias[i]) : v);
    }
  }
}
}  // namespace

void layernorm::LayerNorm_cpu(opforge::Context& ctx, const LayerNormArgs& args) {
  (void)ctx;
  if (args.x.dtype == opforge::DType::Float32) layer_norm<float>(args);
  else layer_norm<double>(args);
}
