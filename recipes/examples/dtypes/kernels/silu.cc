// CPU kernel of narrow::Silu: float32 arithmetic on every dtype, stored back rounded to
// nearest even (opforge::bfloat16 and opforge::half convert so).
#include <opforge/ops.h>

#include <cmath>

namespace {

template <class T>
void silu(const narrow::SiluArgs& args) {
  const T* x = args.x.ptr<T>();
  T* y = args.y.ptr<T>();
  for (int64_t i = 0, n = args.x.numel(); i < n; ++i) {
    const float v = static_cast<float>(x[i]);
    y[i] = T(v / (1.0f + std::exp(-v)));
  }
}

}  // namespace

void narrow::Silu_cpu(opforge::Context& ctx, const SiluArgs& args) {
  switch (args.x.dtype) {
    case opforge::DType::BFloat16: silu<opforge::bfloat16>(args); break;
    case opforge::DType::Float16: silu<opforge::half>(args); break;
    case opforge::DType::Float32: silu<float>(args); break;
    default: ctx.fail("Silu: unsupported dtype %s", opforge::dtype_name(args.x.dtype));
  }
}
