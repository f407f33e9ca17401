// The IoU of two boxes (x1, y1, x2, y2), shared by the CPU and CUDA kernels and mirrored by
// reference.py: a box with x2 < x1 or y2 < y1 has no area, and boxes without a union have
// IoU 0.
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define BOX_HD __host__ __device__
#else
#define BOX_HD
#endif

namespace box {

template <class T>
BOX_HD T clamp0(T v) { return v > T(0) ? v : T(0); }

template <class T>
BOX_HD T iou(const T* a, const T* b) {
  const T area_a = clamp0(a[2] - a[0]) * clamp0(a[3] - a[1]);
  const T area_b = clamp0(b[2] - b[0]) * clamp0(b[3] - b[1]);
  const T w = clamp0((a[2] < b[2] ? a[2] : b[2]) - (a[0] > b[0] ? a[0] : b[0]));
  const T h = clamp0((a[3] < b[3] ? a[3] : b[3]) - (a[1] > b[1] ? a[1] : b[1]));
  const T inter = w * h;
  const T sum = area_a + area_b;  // two statements: no fused multiply-add on the device,
  const T union_ = sum - inter;   // so the rounding is numpy's
  return union_ > T(0) ? inter / union_ : T(0);
}

// Whether box j comes before box i in NMS's order: by decreasing score, ties by index, NaN
// scores last (where numpy's argsort of -scores puts them). A strict total order.
template <class T>
BOX_HD bool before(T score_j, int64_t j, T score_i, int64_t i) {
  const bool nan_j = score_j != score_j, nan_i = score_i != score_i;
  if (nan_j != nan_i) return nan_i;
  if (!nan_j && score_j != score_i) return score_j > score_i;
  return j < i;
}

}  // namespace box
