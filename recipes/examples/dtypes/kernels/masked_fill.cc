// CPU kernel of narrow::MaskedFill: a bool mask (one byte per element, as in every
// framework) picks where the value replaces x.
#include <opforge/ops.h>

namespace {

template <class T>
void masked_fill(const narrow::MaskedFillArgs& args) {
  const T* x = args.x.ptr<T>();
  const bool* mask = args.mask.ptr<bool>();
  T* y = args.y.ptr<T>();
  const T value = T(static_cast<float>(args.value));
  for (int64_t i = 0, n = args.x.numel(); i < n; ++i) y[i] = mask[i] ? value : x[i];
}

}  // namespace

void narrow::MaskedFill_cpu(opforge::Context& ctx, const MaskedFillArgs& args) {
  if (!args.mask.same_shape(args.x)) {
    ctx.fail("MaskedFill: mask must have x's shape");
    return;
  }
  switch (args.x.dtype) {
    case opforge::DType::Float32: masked_fill<float>(args); break;
    case opforge::DType::BFloat16: masked_fill<opforge::bfloat16>(args); break;
    case opforge::DType::Int32: masked_fill<int32_t>(args); break;
    default: ctx.fail("MaskedFill: unsupported dtype %s", opforge::dtype_name(args.x.dtype));
  }
}
