// The usual hand route for a TorchScript op: torch/extension.h + torch.utils.cpp_extension.load.
// Same op as recipes/examples/addsub (float32 and float16, CPU).
#include <torch/extension.h>

std::tuple<at::Tensor, at::Tensor> add_sub(const at::Tensor& a_in, const at::Tensor& b_in,
                                           double alpha) {
  TORCH_CHECK(a_in.sizes() == b_in.sizes(), "a and b must have the same shape");
  auto a = a_in.contiguous(), b = b_in.contiguous();
  auto sum = at::empty_like(a), diff = at::empty_like(a);
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(a.scalar_type(), "add_sub", [&] {
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.data_ptr<scalar_t>();
    scalar_t* ps = sum.data_ptr<scalar_t>();
    scalar_t* pd = diff.data_ptr<scalar_t>();
    for (int64_t i = 0; i < a.numel(); ++i) {
      const float x = static_cast<float>(pa[i]), y = static_cast<float>(alpha) * static_cast<float>(pb[i]);
      ps[i] = static_cast<scalar_t>(x + y);
      pd[i] = static_cast<scalar_t>(x - y);
    }
  });
  return {sum, diff};
}

TORCH_LIBRARY(hand, m) { m.def("add_sub(Tensor a, Tensor b, float alpha=1.0) -> (Tensor, Tensor)"); }
TORCH_LIBRARY_IMPL(hand, CPU, m) { m.impl("add_sub", &add_sub); }
