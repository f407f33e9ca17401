// Every strides[0]-th element of the last axis, scaled per channel: the glue has checked
// that x has 3 dims, scale x[1] elements and strides[0] >= 1.
#include <opforge/ops.h>

namespace {
template <class T>
void downsample(const shapes::DownsampleArgs& args) {
  const int64_t channels = args.x.shape[1], length = args.x.shape[2];
  const int64_t out = args.y.shape[2], stride = args.strides[0];
  const T* x = args.x.ptr<T>();
  const T* scale = args.scale.ptr<T>();
  T* y = args.y.ptr<T>();
  for (int64_t row = 0; row < args.x.shape[0] * channels; ++row) {
    for (int64_t i = 0; i < out; ++i) {
      y[row * out + i] = x[row * length + i * stride] * scale[row % channels];
    }
  }
}
}  // namespace

void shapes::Downsample_cpu(opforge::Context& ctx, const DownsampleArgs& args) {
  (void)ctx;
  if (args.x.dtype == opforge::DType::Float32) downsample<float>(args);
  else downsample<double>(args);
}
