// A hand-written TORCH_LIBRARY op doing what the generated acme::AddSub does (same schema,
// same checks, float32 and float16 on the CPU), written the lean way: the glue-overhead
// benchmark (benchmarks/overhead.py) times it against the generated op.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <tuple>

namespace {

template <class T>
void add_sub(const at::Tensor& a, const at::Tensor& b, float alpha, at::Tensor& sum,
             at::Tensor& diff) {
  const T* pa = static_cast<const T*>(a.data_ptr());
  const T* pb = static_cast<const T*>(b.data_ptr());
  T* ps = static_cast<T*>(sum.data_ptr());
  T* pd = static_cast<T*>(diff.data_ptr());
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(pa[i]), y = alpha * static_cast<float>(pb[i]);
    ps[i] = T(x + y);
    pd[i] = T(x - y);
  }
}

std::tuple<at::Tensor, at::Tensor> add_sub_cpu(const at::Tensor& a_in, const at::Tensor& b_in,
                                               double alpha) {
  const at::Tensor a = a_in.contiguous(), b = b_in.contiguous();
  TORCH_CHECK(a.scalar_type() == at::kFloat || a.scalar_type() == at::kHalf,
              "hand::AddSub: a must be float32 or float16");
  TORCH_CHECK(b.scalar_type() == a.scalar_type(), "hand::AddSub: a and b must share a dtype");
  TORCH_CHECK(a.sizes() == b.sizes(), "hand::AddSub: a and b must have the same shape");
  at::Tensor sum = at::empty(a.sizes(), a.options());
  at::Tensor diff = at::empty(a.sizes(), a.options());
  if (a.scalar_type() == at::kFloat) {
    add_sub<float>(a, b, static_cast<float>(alpha), sum, diff);
  } else {
    add_sub<c10::Half>(a, b, static_cast<float>(alpha), sum, diff);
  }
  return {sum, diff};
}

}  // namespace

TORCH_LIBRARY(hand, m) {
  m.def("AddSub(Tensor a, Tensor b, *, float alpha=1.0) -> (Tensor sum, Tensor diff)");
}
TORCH_LIBRARY_IMPL(hand, CPU, m) { m.impl("AddSub", &add_sub_cpu); }
