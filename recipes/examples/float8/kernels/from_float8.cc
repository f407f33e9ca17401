// CPU kernel of fp8::FromFloat8E4M3, exact; written for either FP8 format (the storage type).
#include <opforge/ops.h>

namespace {

template <class F>
void from_float8(const fp8::FromFloat8E4M3Args& args) {
  const F* x = args.x.ptr<F>();
  float* y = args.y.ptr<float>();
  for (int64_t i = 0, n = args.x.numel(); i < n; ++i) y[i] = x[i];
}

}  // namespace

void fp8::FromFloat8E4M3_cpu(opforge::Context& ctx, const FromFloat8E4M3Args& args) {
  switch (args.x.dtype) {
    case opforge::DType::Float8E4M3FN: from_float8<opforge::float8_e4m3fn>(args); break;
    case opforge::DType::Float8E5M2: from_float8<opforge::float8_e5m2>(args); break;
    default: ctx.fail("FromFloat8E4M3: unsupported dtype %s", opforge::dtype_name(args.x.dtype));
  }
}
