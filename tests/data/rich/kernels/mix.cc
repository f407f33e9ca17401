#include <opforge/ops.h>

#include <cstring>

namespace {
template <class T>
void fill(const opforge::TensorView& t, double v) {
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<T>()[i] = static_cast<T>(v);
}
}  // namespace

void my_lab::Mix_cpu(opforge::Context& ctx, const MixArgs& args) {
  if (std::strcmp(args.mode, "fail") == 0) {
    ctx.fail("Mix: mode 'fail' asks the kernel to fail");
    return;
  }
  const double v = args.n * args.scale + (args.sizes.size ? args.sizes[0] : 0) +
                   (args.weights.size ? args.weights[0] : 0) + (args.on ? 1 : 0) +
                   static_cast<double>(std::strlen(args.mode));
  if (args.b.dtype == opforge::DType::Float32) fill<float>(args.b, v);
  else fill<double>(args.b, v);
  fill<int32_t>(args.d, static_cast<double>(args.idx.numel()));
}
