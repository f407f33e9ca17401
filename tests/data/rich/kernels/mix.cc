#include <opforge/ops.h>

#include "mix_value.h"

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
  const double v = mix_value(args);
  if (args.b.dtype == opforge::DType::Float32) fill<float>(args.b, v);
  else fill<double>(args.b, v);
  fill<int32_t>(args.d, static_cast<double>(args.idx.numel()));
}
