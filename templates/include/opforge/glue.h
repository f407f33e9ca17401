// opforge glue helpers: used by the generated framework glue, never by kernels.
#pragma once

#include <opforge/kernel.h>

#include <cstdint>
#include <vector>

namespace opforge {
namespace glue {

template <class View>  // TensorView or ConstTensorView
void set_contiguous_strides(View& v) {
  int64_t stride = 1;
  for (int32_t i = v.ndim - 1; i >= 0; --i) {
    v.strides[i] = stride;
    stride *= v.shape[i];
  }
}

inline bool check_rank(Context& ctx, const char* op, const char* name, int64_t ndim) {
  if (ndim > kMaxDims) {
    ctx.fail("%s: %s has %lld dims; opforge kernels take at most %d", op, name,
             static_cast<long long>(ndim), kMaxDims);
    return false;
  }
  return true;
}

// Output shape rule like(x).
inline std::vector<int64_t> like(const ConstTensorView& x) {
  return std::vector<int64_t>(x.shape, x.shape + x.ndim);
}

// Output shape rule broadcast(x, y): numpy broadcasting.
inline bool broadcast(Context& ctx, const char* op, const char* xn, const ConstTensorView& x,
                      const char* yn, const ConstTensorView& y, std::vector<int64_t>& out) {
  const int32_t n = x.ndim > y.ndim ? x.ndim : y.ndim;
  out.assign(n, 1);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t xi = x.ndim - n + i, yi = y.ndim - n + i;
    const int64_t a = xi >= 0 ? x.shape[xi] : 1, b = yi >= 0 ? y.shape[yi] : 1;
    if (a != b && a != 1 && b != 1) {
      ctx.fail("%s: %s and %s do not broadcast (dim %d: %lld vs %lld)", op, xn, yn, i,
               static_cast<long long>(a), static_cast<long long>(b));
      return false;
    }
    out[i] = (a == 0 || b == 0) ? 0 : (a > b ? a : b);
  }
  return true;
}

// One explicit output dim taken from an input: x[index], negative from the end.
inline bool dim(Context& ctx, const char* op, const char* name, const ConstTensorView& x,
                int index, std::vector<int64_t>& out) {
  const int32_t i = index < 0 ? x.ndim + index : index;
  if (i < 0 || i >= x.ndim) {
    ctx.fail("%s: the output shape needs %s[%d], but %s has %d dims", op, name, index, name,
             x.ndim);
    return false;
  }
  out.push_back(x.shape[i]);
  return true;
}

// Float attributes reach kernels as a double holding a float32 value in every framework:
// ONNX and TensorFlow attributes are float32, so the frameworks that hand over a double
// (PyTorch's `float`, TensorRT's FLOAT64 plugin fields) are rounded to float32 first. A
// kernel then computes the same result from `alpha=0.1` wherever it runs.
inline double float_attr(double value) { return static_cast<double>(static_cast<float>(value)); }

inline std::vector<double> float_attrs(const double* values, size_t n) {
  std::vector<double> out(values, values + n);
  for (double& v : out) v = float_attr(v);
  return out;
}

}  // namespace glue
}  // namespace opforge
