// CPU kernel of narrow::Dequantize: int8, uint8 or int16 quanta -> float32.
#include <opforge/ops.h>

namespace {

template <class Q>
void dequantize(const narrow::DequantizeArgs& args) {
  const Q* q = args.q.ptr<Q>();
  float* y = args.y.ptr<float>();
  const float scale = static_cast<float>(args.scale);
  for (int64_t i = 0, n = args.q.numel(); i < n; ++i) {
    y[i] = static_cast<float>(static_cast<int64_t>(q[i]) - args.zero_point) * scale;
  }
}

}  // namespace

void narrow::Dequantize_cpu(opforge::Context& ctx, const DequantizeArgs& args) {
  switch (args.q.dtype) {
    case opforge::DType::Int8: dequantize<int8_t>(args); break;
    case opforge::DType::UInt8: dequantize<uint8_t>(args); break;
    case opforge::DType::Int16: dequantize<int16_t>(args); break;
    default: ctx.fail("Dequantize: unsupported dtype %s", opforge::dtype_name(args.q.dtype));
  }
}
