// CPU kernel of fp8::ToFloat8E4M3: opforge::float8_e4m3fn rounds as ml_dtypes and PyTorch.
#include <opforge/ops.h>

void fp8::ToFloat8E4M3_cpu(opforge::Context&, const ToFloat8E4M3Args& args) {
  const float* x = args.x.ptr<float>();
  opforge::float8_e4m3fn* y = args.y.ptr<opforge::float8_e4m3fn>();
  for (int64_t i = 0, n = args.x.numel(); i < n; ++i) y[i] = x[i];
}
