// opforge glue helpers: used by the generated framework glue, never by kernels.
#pragma once

#include <opforge/kernel.h>

#include <climits>
#include <cstdint>
#include <initializer_list>
#include <string>
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

// --- shape expressions (opforge/recipe/shapes.py) --------------------------------------
// Generated code computes a dim through an object `m` whose class each use defines:
// ShapeMath below for concrete shapes (every framework's compute path), a TensorFlow shape
// function's and a TensorRT IExprBuilder's in those glues. The arithmetic is the one here.

enum class DimOp { kAdd, kSub, kMul, kFloorDiv, kCeilDiv, kMin, kMax };

// A slice bound left out: x[:-1] starts at 0, x[1:] stops at the rank.
constexpr int32_t kNoIndex = INT32_MIN;

// a op b in 64 bits, // rounding down and cdiv up (as Python's // and -(-a // b)); false on
// division by zero or overflow.
inline bool apply(DimOp op, int64_t a, int64_t b, int64_t* out) {
  switch (op) {
    case DimOp::kAdd: return !__builtin_add_overflow(a, b, out);
    case DimOp::kSub: return !__builtin_sub_overflow(a, b, out);
    case DimOp::kMul: return !__builtin_mul_overflow(a, b, out);
    case DimOp::kMin: *out = a < b ? a : b; return true;
    case DimOp::kMax: *out = a > b ? a : b; return true;
    case DimOp::kFloorDiv:
    case DimOp::kCeilDiv: {
      if (b == 0 || (a == INT64_MIN && b == -1)) return false;
      const int64_t q = a / b, r = a % b;
      const bool same_sign = (r < 0) == (b < 0);
      if (op == DimOp::kFloorDiv) *out = q - (r != 0 && !same_sign ? 1 : 0);
      else *out = q + (r != 0 && same_sign ? 1 : 0);
      return true;
    }
  }
  return false;
}

// Python's slice bounds of a sequence of n: negative from the end, clamped to [0, n].
inline void slice_bounds(int32_t n, int32_t start, int32_t stop, int32_t* from, int32_t* to) {
  auto clamp = [n](int32_t i, int32_t missing) {
    if (i == kNoIndex) return missing;
    if (i < 0) i += n;
    return i < 0 ? 0 : (i > n ? n : i);
  };
  *from = clamp(start, 0);
  *to = clamp(stop, n);
}

inline std::string shape_text(const int64_t* dims, int32_t n) {
  std::string text = "[";
  for (int32_t i = 0; i < n; ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

inline std::string shape_text(const ConstTensorView& x) { return shape_text(x.shape, x.ndim); }

// Shape expressions over concrete shapes: the op's inputs and int / int[] attributes. The
// first error fails the context and makes ok() false; later calls then do nothing.
class ShapeMath {
 public:
  ShapeMath(Context& ctx, const char* op, const ConstTensorView* const* inputs,
            const char* const* names, const int64_t* ints, const Span<int64_t>* lists,
            const char* const* list_names)
      : ctx_(ctx), op_(op), inputs_(inputs), names_(names), ints_(ints), lists_(lists),
        list_names_(list_names) {}

  // What the next expressions compute, for error messages ("output values").
  void start(const char* what) {
    what_ = what;
    dims_.clear();
  }
  bool ok() const { return ok_; }
  const std::vector<int64_t>& dims() const { return dims_; }

  int64_t num(int64_t v) { return v; }
  int64_t attr(int j) { return ints_[j]; }
  // A data-dependent dim: its bound, the rows allocated (set_dynamic gives them).
  int64_t dynamic(int j) { return dynamic_[j]; }
  void set_dynamic(const int64_t* bounds) { dynamic_ = bounds; }
  int64_t item(int j, int64_t index) {
    const Span<int64_t>& s = lists_[j];
    const int64_t i = index < 0 ? s.size + index : index;
    if (i < 0 || i >= s.size) {
      ok_ = false;
      ctx_.fail("%s: %s needs %s[%lld], but %s has %lld elements", op_, what_, list_names_[j],
           static_cast<long long>(index), list_names_[j], static_cast<long long>(s.size));
      return 0;
    }
    return s[i];
  }
  int64_t dim(int input, int index) {
    const ConstTensorView& x = *inputs_[input];
    const int32_t i = index < 0 ? x.ndim + index : index;
    if (i < 0 || i >= x.ndim) {
      ok_ = false;
      ctx_.fail("%s: %s needs %s[%d], but %s has shape %s", op_, what_, names_[input], index,
           names_[input], shape_text(x).c_str());
      return 0;
    }
    return x.shape[i];
  }
  int64_t op(DimOp k, int64_t a, int64_t b) {
    int64_t out = 0;
    if (ok_ && !apply(k, a, b, &out)) {
      ok_ = false;
      ctx_.fail("%s: %s divides by zero or overflows 64 bits (%lld and %lld)", op_, what_,
           static_cast<long long>(a), static_cast<long long>(b));
    }
    return out;
  }
  void push(int64_t d) {
    if (!ok_) return;
    if (d < 0) {
      ok_ = false;
      ctx_.fail("%s: %s gets a negative dim, %lld", op_, what_, static_cast<long long>(d));
    } else if (dims_.size() >= static_cast<size_t>(kMaxDims)) {
      ok_ = false;
      ctx_.fail("%s: %s has more than %d dims, the most kernels take", op_, what_, kMaxDims);
    } else {
      dims_.push_back(d);
    }
  }
  void push_slice(int input, int32_t start, int32_t stop) {
    const ConstTensorView& x = *inputs_[input];
    int32_t from = 0, to = 0;
    slice_bounds(x.ndim, start, stop, &from, &to);
    for (int32_t i = from; i < to; ++i) push(x.shape[i]);
  }

  // "x has shape [2, 3]; k is 4" for a failed constraint's message.
  std::string describe(std::initializer_list<int> inputs) const {
    std::string text;
    for (int i : inputs) {
      text += (text.empty() ? "" : ", ") + std::string(names_[i]) + " has shape " +
              shape_text(*inputs_[i]);
    }
    return text;
  }

 private:
  Context& ctx_;
  const char* op_;
  const char* what_ = "";
  const ConstTensorView* const* inputs_;
  const char* const* names_;
  const int64_t* ints_;
  const Span<int64_t>* lists_;
  const char* const* list_names_;
  const int64_t* dynamic_ = nullptr;
  std::vector<int64_t> dims_;
  bool ok_ = true;
};

// Scratch buffers and data-dependent dims' counts are carved from one allocation (TensorRT's
// workspace), each at a multiple of this.
constexpr int64_t kScratchAlign = 256;

// The bytes of a buffer of `shape` rounded up to kScratchAlign; -1 when that overflows.
inline int64_t aligned_bytes(const std::vector<int64_t>& shape, DType t) {
  int64_t n = dtype_size(t);
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return -1;
  }
  if (n > INT64_MAX - kScratchAlign) return -1;
  return (n + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
}

// A contiguous view of `shape` at `data` (a scratch buffer, an output allocated by hand).
inline void fill_view(TensorView* v, void* data, DType dtype, const std::vector<int64_t>& shape) {
  v->data = data;
  v->dtype = dtype;
  v->ndim = static_cast<int32_t>(shape.size());
  for (int32_t i = 0; i < v->ndim; ++i) v->shape[i] = shape[i];
  set_contiguous_strides(*v);
}

// After a kernel: the count it reported for a data-dependent dim, within [0, max].
inline bool check_dynamic(Context& ctx, const char* op, const char* name, int64_t count,
                          int64_t max) {
  if (count == -1) {
    ctx.fail("%s: the kernel did not report the data-dependent dim %s (write it to *args.%s.value)",
             op, name, name);
    return false;
  }
  if (count < 0 || count > max) {
    ctx.fail("%s: the kernel reported %s = %lld, outside [0, %lld] (its bound)", op, name,
             static_cast<long long>(count), static_cast<long long>(max));
    return false;
  }
  return true;
}

// An input's declared rank (recipe: inputs[].rank).
inline bool expect_rank(Context& ctx, const char* op, const char* name, const ConstTensorView& x,
                        int32_t rank) {
  if (x.ndim == rank) return true;
  ctx.fail("%s: input %s must have %d dims, but has shape %s", op, name, rank,
           shape_text(x).c_str());
  return false;
}

// An input's declared shape (recipe: inputs[].shape), computed into `want`.
inline bool expect_shape(Context& ctx, const char* op, const char* name, const ConstTensorView& x,
                         const std::vector<int64_t>& want, const char* rule) {
  bool same = x.ndim == static_cast<int32_t>(want.size());
  for (int32_t i = 0; same && i < x.ndim; ++i) same = x.shape[i] == want[i];
  if (same) return true;
  ctx.fail("%s: input %s must have shape %s (%s), but has shape %s", op, name,
           shape_text(want.data(), static_cast<int32_t>(want.size())).c_str(), rule,
           shape_text(x).c_str());
  return false;
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
