// An existing TorchScript op, written the usual way (TORCH_LIBRARY), brought to opforge as it
// is: opforge compiles it with the release's pinned flags and packages it; nothing here knows
// about opforge.
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

namespace {

at::Tensor clamp(const at::Tensor& x, double lo, double hi) {
  TORCH_CHECK(lo <= hi, "native_demo::Clamp: lo (", lo, ") must not exceed hi (", hi, ")");
  return x.clamp(lo, hi);
}

}  // namespace

TORCH_LIBRARY(native_demo, m) {
  m.def("Clamp(Tensor x, *, float lo, float hi) -> Tensor", &clamp);
}
