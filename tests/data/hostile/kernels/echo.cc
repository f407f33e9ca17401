// Test-only kernel: y = x + the sum of the bytes of `text`, so that a test vector proves the
// string attribute (its recipe default included) reaches the kernel byte for byte.
#include <opforge/ops.h>

void hostile::Echo_cpu(opforge::Context& ctx, const EchoArgs& args) {
  if (args.x.dtype != opforge::DType::Float32) {
    ctx.fail("Echo: x must be float32");
    return;
  }
  double bytes = 0;
  for (const unsigned char* p = reinterpret_cast<const unsigned char*>(args.text); *p; ++p) bytes += *p;
  const float* x = args.x.ptr<float>();
  float* y = args.y.ptr<float>();
  for (int64_t i = 0; i < args.x.numel(); ++i) y[i] = x[i] + static_cast<float>(bytes);
}
