// RoIAlign on the CPU: one output element at a time (roi_align_impl.h has the arithmetic).
#include <opforge/ops.h>

#include "roi_align_impl.h"

namespace {
template <class T>
void run(opforge::Context& ctx, const detection::RoIAlignArgs& args) {
  const int64_t batch = args.x.shape[0];
  const T* rois = args.rois.ptr<T>();
  for (int64_t k = 0; k < args.rois.shape[0]; ++k) {
    const T image = rois[k * 5];
    if (!(image >= T(0) && image < T(batch))) {
      ctx.fail("RoIAlign: rois[%lld] names image %g, but x has %lld", static_cast<long long>(k),
               static_cast<double>(image), static_cast<long long>(batch));
      return;
    }
  }
  const int64_t n = args.y.numel();
  T* y = args.y.ptr<T>();
  for (int64_t i = 0; i < n; ++i) {
    y[i] = roi::pooled(args.x.ptr<T>(), rois, args.x.shape[1], args.x.shape[2], args.x.shape[3],
                       args.pooled_height, args.pooled_width, T(args.spatial_scale),
                       args.sampling_ratio, args.aligned, i);
  }
}
}  // namespace

void detection::RoIAlign_cpu(opforge::Context& ctx, const RoIAlignArgs& args) {
  if (args.x.dtype == opforge::DType::Float32) run<float>(ctx, args);
  else run<double>(ctx, args);
}
