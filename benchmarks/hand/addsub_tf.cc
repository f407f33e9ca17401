// A hand-written TensorFlow OpKernel doing what the generated Acme>AddSub does (same
// signature, same checks, float32 and float16 on the CPU). benchmarks/build_time.py compiles
// it the usual hand way (g++ with tf.sysconfig's flags); benchmarks/overhead.py times it
// against the generated op.
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

using namespace tensorflow;

REGISTER_OP("HandAddSub")
    .Input("a: T").Input("b: T").Output("sum: T").Output("diff: T")
    .Attr("T: {float, half}").Attr("alpha: float = 1.0")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(0));
      return Status();
    });

template <class T>
class HandAddSubOp : public OpKernel {
 public:
  explicit HandAddSubOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("alpha", &alpha_));
  }
  void Compute(OpKernelContext* c) override {
    const Tensor& a = c->input(0);
    const Tensor& b = c->input(1);
    OP_REQUIRES(c, a.shape() == b.shape(),
                errors::InvalidArgument("HandAddSub: a and b must have the same shape"));
    Tensor *sum = nullptr, *diff = nullptr;
    OP_REQUIRES_OK(c, c->allocate_output(0, a.shape(), &sum));
    OP_REQUIRES_OK(c, c->allocate_output(1, a.shape(), &diff));
    const T* pa = a.flat<T>().data();
    const T* pb = b.flat<T>().data();
    T* ps = sum->flat<T>().data();
    T* pd = diff->flat<T>().data();
    const int64_t n = a.NumElements();
    for (int64_t i = 0; i < n; ++i) {
      const float x = static_cast<float>(pa[i]), y = alpha_ * static_cast<float>(pb[i]);
      ps[i] = static_cast<T>(x + y);
      pd[i] = static_cast<T>(x - y);
    }
  }

 private:
  float alpha_;
};

REGISTER_KERNEL_BUILDER(Name("HandAddSub").Device(DEVICE_CPU).TypeConstraint<float>("T"),
                        HandAddSubOp<float>);
REGISTER_KERNEL_BUILDER(Name("HandAddSub").Device(DEVICE_CPU).TypeConstraint<Eigen::half>("T"),
                        HandAddSubOp<Eigen::half>);
