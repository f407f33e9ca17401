// CPU kernel of acme::AddSub, written once against opforge's kernel API and shared by the
// glue of every framework. opforge/ops.h (generated from recipe.toml) declares
// AddSubArgs and the function this file defines.
#include <opforge/ops.h>

namespace {

template <class T>
void add_sub(const acme::AddSubArgs& args) {
  const T* a = args.a.ptr<T>();
  const T* b = args.b.ptr<T>();
  T* sum = args.sum.ptr<T>();
  T* diff = args.diff.ptr<T>();
  const float alpha = static_cast<float>(args.alpha);
  const int64_t n = args.a.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(a[i]), y = alpha * static_cast<float>(b[i]);
    sum[i] = T(x + y);
    diff[i] = T(x - y);
  }
}

}  // namespace

void acme::AddSub_cpu(opforge::Context& ctx, const AddSubArgs& args) {
  if (!args.a.same_shape(args.b)) {
    ctx.fail("AddSub: a and b must have the same shape");
    return;
  }
  switch (args.a.dtype) {
    case opforge::DType::Float32: add_sub<float>(args); break;
    case opforge::DType::Float16: add_sub<opforge::half>(args); break;
    default: ctx.fail("AddSub: unsupported dtype %s", opforge::dtype_name(args.a.dtype));
  }
}
