// RoIAlign for one output element, shared by the CPU and CUDA kernels (torchvision's
// roi_align forward, in the input's precision). The glue has checked that x is [N, C, H, W],
// rois is [K, 5] and the pooled sizes are at least 1.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define ROI_HD __host__ __device__
#else
#define ROI_HD
#endif

namespace roi {

template <class T>
ROI_HD T bilinear(const T* image, int64_t height, int64_t width, T y, T x) {
  if (y < T(-1) || y > T(height) || x < T(-1) || x > T(width)) return T(0);
  if (y < T(0)) y = T(0);
  if (x < T(0)) x = T(0);
  int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = T(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = T(x_low);
  } else {
    x_high = x_low + 1;
  }
  const T ly = y - T(y_low), lx = x - T(x_low), hy = T(1) - ly, hx = T(1) - lx;
  return hy * hx * image[y_low * width + x_low] + hy * lx * image[y_low * width + x_high] +
         ly * hx * image[y_high * width + x_low] + ly * lx * image[y_high * width + x_high];
}

// y[index] of the [K, C, pooled_height, pooled_width] output.
template <class T>
ROI_HD T pooled(const T* x, const T* rois, int64_t channels, int64_t height, int64_t width,
                int64_t pooled_height, int64_t pooled_width, T scale, int64_t sampling_ratio,
                bool aligned, int64_t index) {
  const int64_t pw = index % pooled_width, ph = (index / pooled_width) % pooled_height;
  const int64_t c = (index / pooled_width / pooled_height) % channels;
  const int64_t k = index / pooled_width / pooled_height / channels;
  const T* roi = rois + k * 5;
  const int64_t image = static_cast<int64_t>(roi[0]);
  const T offset = aligned ? T(0.5) : T(0);
  const T x1 = roi[1] * scale - offset, y1 = roi[2] * scale - offset;
  const T x2 = roi[3] * scale - offset, y2 = roi[4] * scale - offset;
  T w = x2 - x1, h = y2 - y1;
  if (!aligned) {
    w = w > T(1) ? w : T(1);
    h = h > T(1) ? h : T(1);
  }
  const T bin_h = h / T(pooled_height), bin_w = w / T(pooled_width);
  const int64_t grid_h = sampling_ratio > 0 ? sampling_ratio
                                            : static_cast<int64_t>(ceil(h / T(pooled_height)));
  const int64_t grid_w = sampling_ratio > 0 ? sampling_ratio
                                            : static_cast<int64_t>(ceil(w / T(pooled_width)));
  const int64_t count = grid_h * grid_w > 1 ? grid_h * grid_w : 1;
  const T* plane = x + (image * channels + c) * height * width;
  T total = T(0);
  for (int64_t iy = 0; iy < grid_h; ++iy) {
    const T yy = y1 + T(ph) * bin_h + (T(iy) + T(0.5)) * bin_h / T(grid_h);
    for (int64_t ix = 0; ix < grid_w; ++ix) {
      const T xx = x1 + T(pw) * bin_w + (T(ix) + T(0.5)) * bin_w / T(grid_w);
      total += bilinear(plane, height, width, yy, xx);
    }
  }
  return total / T(count);
}

}  // namespace roi
