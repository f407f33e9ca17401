// CPU kernel of narrow::QuantizeInt8: float32 -> int8 with a scale and a zero point.
#include <opforge/ops.h>

#include <cmath>

void narrow::QuantizeInt8_cpu(opforge::Context& ctx, const QuantizeInt8Args& args) {
  if (!(args.scale > 0)) {
    ctx.fail("QuantizeInt8: scale must be positive, got %g", args.scale);
    return;
  }
  const float* x = args.x.ptr<float>();
  int8_t* q = args.q.ptr<int8_t>();
  const float scale = static_cast<float>(args.scale);
  for (int64_t i = 0, n = args.x.numel(); i < n; ++i) {
    // nearbyint rounds half to even (the default rounding mode); clamp in float, where the
    // value cannot overflow
    const float v = std::nearbyint(x[i] / scale) + static_cast<float>(args.zero_point);
    q[i] = static_cast<int8_t>(std::fmin(127.0f, std::fmax(-128.0f, v)));
  }
}
