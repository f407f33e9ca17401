// Greedy NMS on the CPU: the boxes by decreasing score (sorted into the `order` scratch
// buffer: ties keep the lower index first, NaN scores last), each kept unless a kept box overlaps it by
// more than iou_threshold. Writes the kept indices to the first rows of `keep` and their
// number to args.kept; the glue hands out exactly those rows.
#include <opforge/ops.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "box_iou.h"

namespace {
template <class T>
void run(const detection::NMSArgs& args) {
  const int64_t n = args.boxes.shape[0];
  const T* boxes = args.boxes.ptr<T>();
  const T* scores = args.scores.ptr<T>();
  int64_t* order = args.order.ptr<int64_t>();
  uint8_t* removed = args.removed.ptr<uint8_t>();
  int64_t* keep = args.keep.ptr<int64_t>();
  const T threshold = T(args.iou_threshold);
  std::iota(order, order + n, int64_t(0));
  std::sort(order, order + n,
            [scores](int64_t a, int64_t b) { return box::before(scores[a], a, scores[b], b); });
  std::memset(removed, 0, static_cast<size_t>(n));
  int64_t kept = 0;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t i = order[r];
    if (removed[i]) continue;
    keep[kept++] = i;
    for (int64_t s = r + 1; s < n; ++s) {
      const int64_t j = order[s];
      if (!removed[j] && box::iou(boxes + 4 * i, boxes + 4 * j) > threshold) removed[j] = 1;
    }
  }
  *args.kept.value = kept;
}
}  // namespace

void detection::NMS_cpu(opforge::Context& ctx, const NMSArgs& args) {
  (void)ctx;
  if (args.boxes.dtype == opforge::DType::Float32) run<float>(args);
  else run<double>(args);
}
