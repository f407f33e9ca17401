// An existing TensorFlow op (REGISTER_OP + OpKernel), brought to opforge as it is.
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"

#include <algorithm>

namespace {

using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;

class ClampOp : public OpKernel {
 public:
  explicit ClampOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("lo", &lo_));
    OP_REQUIRES_OK(c, c->GetAttr("hi", &hi_));
    OP_REQUIRES(c, lo_ <= hi_, ::tensorflow::errors::InvalidArgument(
                                   "NativeDemoClamp: lo must not exceed hi"));
  }

  void Compute(OpKernelContext* c) override {
    const Tensor& x = c->input(0);
    Tensor* y = nullptr;
    OP_REQUIRES_OK(c, c->allocate_output(0, x.shape(), &y));
    const auto in = x.flat<float>();
    auto out = y->flat<float>();
    for (int64_t i = 0; i < in.size(); ++i) out(i) = std::min(std::max(in(i), lo_), hi_);
  }

 private:
  float lo_ = 0, hi_ = 0;
};

}  // namespace

REGISTER_OP("NativeDemoClamp")
    .Input("x: float")
    .Output("y: float")
    .Attr("lo: float")
    .Attr("hi: float")
    .SetShapeFn(::tensorflow::shape_inference::UnchangedShape)
    .Doc("y = min(max(x, lo), hi)");

REGISTER_KERNEL_BUILDER(Name("NativeDemoClamp").Device(::tensorflow::DEVICE_CPU), ClampOp);
