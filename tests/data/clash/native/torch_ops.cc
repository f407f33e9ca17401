// Registers one declared op (Scale) and one the recipe does not declare (Hidden).
#include <ATen/core/Tensor.h>
#include <torch/library.h>

namespace {
at::Tensor scale(const at::Tensor& x) { return x.mul(2.0); }
at::Tensor hidden(const at::Tensor& x) { return x; }
}  // namespace

TORCH_LIBRARY(clash_demo, m) {
  m.def("Scale(Tensor x) -> Tensor", &scale);
  m.def("Hidden(Tensor x) -> Tensor", &hidden);
}
