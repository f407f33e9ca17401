// A native PyTorch op beside the kernel op: its source and include folder sit under a path
// with '"', ';', '${x}' and spaces, which the generated CMake must pass through intact.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "twice.h"

namespace {
at::Tensor twice(const at::Tensor& x) { return x.mul(kTwice); }
}  // namespace

TORCH_LIBRARY_FRAGMENT(hostile, m) { m.def("Twice(Tensor x) -> Tensor"); }
TORCH_LIBRARY_IMPL(hostile, CPU, m) { m.impl("Twice", &twice); }
