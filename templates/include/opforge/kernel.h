// opforge kernel API: the framework-neutral view of tensors that kernels are written against.
//
// A kernel sees tensors through views (data pointer, dtype, shape, strides in elements):
// inputs as ConstTensorView, which it can only read, outputs as TensorView, which it fills.
// Attributes are PODs; a float attribute is a double holding a float32 value, the same
// value in every framework (ONNX and TensorFlow store float attributes as float32, so
// PyTorch's and TensorRT's doubles are rounded to float32 by the glue). A kernel reports
// failures through Context::fail(); it never throws or aborts. The glue opforge generates
// for each framework turns a failure into that framework's error (TORCH_CHECK,
// OP_REQUIRES, an OrtStatus, ...). Nothing here depends on a framework or on the C++
// library's ABI, so one compiled kernel serves every framework's glue.
#pragma once

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

namespace opforge {

// bool is one byte (0 or 1) in every framework, as C++'s bool is on the platforms opforge
// builds for: a kernel reads ptr<bool>(). BFloat16, Float8E4M3FN and Float8E5M2 read as the
// storage types below (CPU) or the CUDA types (opforge/cuda.h).
enum class DType : int32_t {
  Float16 = 0, Float32 = 1, Float64 = 2, Int32 = 3, Int64 = 4, BFloat16 = 5, Int8 = 6,
  UInt8 = 7, Int16 = 8, Bool = 9, Float8E4M3FN = 10, Float8E5M2 = 11
};

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float16: return "float16";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::BFloat16: return "bfloat16";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Int16: return "int16";
    case DType::Bool: return "bool";
    case DType::Float8E4M3FN: return "float8_e4m3fn";
    case DType::Float8E5M2: return "float8_e5m2";
  }
  return "unknown";
}

constexpr int kMaxDims = 8;

// Bytes per element of a dtype.
inline int64_t dtype_size(DType t) {
  switch (t) {
    case DType::Float64: case DType::Int64: return 8;
    case DType::Float32: case DType::Int32: return 4;
    case DType::Float16: case DType::BFloat16: case DType::Int16: return 2;
    case DType::Int8: case DType::UInt8: case DType::Bool: case DType::Float8E4M3FN:
    case DType::Float8E5M2: return 1;
  }
  return 1;
}

// IEEE 754 binary16 storage with float conversions, for CPU kernels. Arithmetic goes
// through float: `half h = float(a) + float(b);`.
struct half {
  uint16_t bits = 0;
  half() = default;
  half(float f) : bits(from_float(f)) {}  // NOLINT: implicit by design
  operator float() const { return to_float(bits); }  // NOLINT

  static float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t out;
    if (exp == 0) {
      if (man == 0) {
        out = sign;
      } else {  // subnormal: normalise
        exp = 127 - 15 + 1;
        while (!(man & 0x400u)) { man <<= 1; --exp; }
        out = sign | (exp << 23) | ((man & 0x3ffu) << 13);
      }
    } else if (exp == 0x1f) {
      out = sign | 0x7f800000u | (man << 13);
    } else {
      out = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    std::memcpy(&f, &out, sizeof f);
    return f;
  }

  static uint16_t from_float(float f) {  // round to nearest even
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = int32_t((x >> 23) & 0xffu) - 127 + 15;
    uint32_t man = x & 0x7fffffu;
    if (((x >> 23) & 0xffu) == 0xffu) return uint16_t(sign | 0x7c00u | (man ? 0x200u : 0));
    if (exp >= 0x1f) return uint16_t(sign | 0x7c00u);
    if (exp <= 0) {
      if (exp < -10) return uint16_t(sign);
      man |= 0x800000u;
      uint32_t shift = uint32_t(14 - exp);
      uint32_t half_man = man >> shift;
      uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
      if (rem > mid || (rem == mid && (half_man & 1u))) ++half_man;
      return uint16_t(sign | half_man);
    }
    uint32_t out = sign | (uint32_t(exp) << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (out & 1u))) ++out;
    return uint16_t(out);
  }
};

// bfloat16 storage (the upper half of a float32) with float conversions, for CPU kernels.
// Arithmetic goes through float, as with half.
struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  bfloat16(float f) : bits(from_float(f)) {}  // NOLINT: implicit by design
  operator float() const { return to_float(bits); }  // NOLINT

  static float to_float(uint16_t b) {
    uint32_t x = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &x, sizeof f);
    return f;
  }

  static uint16_t from_float(float f) {  // round to nearest even; NaN stays a (quiet) NaN
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);
    return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  }
};

namespace detail {

// An 8-bit float of E exponent and M mantissa bits (bias 2^(E-1) - 1). Fn (e4m3fn): no
// infinities, only S.1111.111 is NaN, so the largest exponent holds numbers; otherwise
// (e5m2) IEEE-like. Conversions match ml_dtypes and PyTorch: round to nearest even, and a
// value beyond the largest finite one becomes NaN (Fn) or infinity, not saturated.
template <int E, int M, bool Fn>
struct Float8 {
  static constexpr int kBias = (1 << (E - 1)) - 1;
  static constexpr int kMaxExp = (1 << E) - 1;

  uint8_t bits = 0;
  Float8() = default;
  Float8(float f) : bits(from_float(f)) {}  // NOLINT: implicit by design
  operator float() const { return to_float(bits); }  // NOLINT

  static float max_finite() {
    return Fn ? std::ldexp(float((2 << M) - 2), kMaxExp - kBias - M)
              : std::ldexp(float((2 << M) - 1), kMaxExp - 1 - kBias - M);
  }

  static float to_float(uint8_t b) {
    const int exp = (b >> M) & kMaxExp, man = b & ((1 << M) - 1);
    float v;
    if (exp == kMaxExp && (Fn ? man == (1 << M) - 1 : man != 0)) {
      v = NAN;
    } else if (exp == kMaxExp && !Fn) {
      v = INFINITY;
    } else if (exp == 0) {
      v = std::ldexp(float(man), 1 - kBias - M);
    } else {
      v = std::ldexp(float(man + (1 << M)), exp - kBias - M);
    }
    return (b & 0x80u) ? -v : v;
  }

  static uint8_t from_float(float f) {
    const uint8_t sign = std::signbit(f) ? 0x80u : 0;
    const uint8_t nan = Fn ? 0x7fu : 0x7eu, overflow = Fn ? 0x7fu : 0x7cu;
    if (std::isnan(f)) return uint8_t(sign | nan);
    const float a = std::fabs(f);
    if (a == 0) return sign;
    int e = 0;
    std::frexp(a, &e);  // a = frac * 2^e, frac in [0.5, 1): its exponent is e - 1
    int step = (e - 1 > 1 - kBias ? e - 1 : 1 - kBias) - M;  // the value of the last bit
    float q = std::nearbyint(std::ldexp(a, -step));  // the default rounding: to nearest even
    if (!(std::ldexp(q, step) <= max_finite())) return uint8_t(sign | overflow);
    if (step == 1 - kBias - M) return uint8_t(sign | uint8_t(q));  // subnormal (or the
                                                                  // smallest normal)
    if (q >= float(2 << M)) {  // rounding carried into the next exponent
      q /= 2;
      ++step;
    }
    return uint8_t(sign | ((step + M + kBias) << M) | (int(q) - (1 << M)));
  }
};

}  // namespace detail

// FP8 storage with float conversions, for CPU kernels (arithmetic goes through float).
using float8_e4m3fn = detail::Float8<4, 3, true>;
using float8_e5m2 = detail::Float8<5, 2, false>;

namespace detail {

// The fields and shape queries of a tensor view; Void is `void` for a view the kernel may
// write through and `const void` for one it may only read.
template <class Void>
struct View {
  Void* data = nullptr;
  DType dtype = DType::Float32;
  int32_t ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // in elements, not bytes

  View() = default;
  // A writable view converts to a read-only one (as T* converts to const T*), never back.
  template <class Other, class = typename std::enable_if<
                             std::is_const<Void>::value && !std::is_const<Other>::value>::type>
  View(const View<Other>& other)  // NOLINT: implicit by design
      : data(other.data), dtype(other.dtype), ndim(other.ndim) {
    for (int32_t i = 0; i < kMaxDims; ++i) {
      shape[i] = other.shape[i];
      strides[i] = other.strides[i];
    }
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool contiguous() const {
    int64_t expect = 1;
    for (int32_t i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expect) return false;
      expect *= shape[i];
    }
    return true;
  }
  // T* for an output, const T* for an input: writing to an input does not compile.
  template <class T>
  typename std::conditional<std::is_const<Void>::value, const T, T>::type* ptr() const {
    return static_cast<typename std::conditional<std::is_const<Void>::value, const T, T>::type*>(
        data);
  }
  template <class Other>
  bool same_shape(const View<Other>& other) const {
    if (ndim != other.ndim) return false;
    for (int32_t i = 0; i < ndim; ++i) {
      if (shape[i] != other.shape[i]) return false;
    }
    return true;
  }
};

}  // namespace detail

// An output tensor: the glue allocated it, the kernel fills it (ptr<T>() is T*).
using TensorView = detail::View<void>;
// An input tensor: the caller's memory, read-only to the kernel (ptr<T>() is const T*). An
// input may alias a tensor the caller still uses, so writing to it would corrupt that.
using ConstTensorView = detail::View<const void>;

// An optional input (`optional = true` in the recipe): a ConstTensorView that may be absent.
// has_value() is false when the caller left the input out; its data is then nullptr and its
// shape empty (ndim 0), so a kernel asks has_value() before reading it. The glue checks an
// optional input's declared rank, shape and the constraints naming it only when it is given.
struct OptionalTensorView : ConstTensorView {
  bool present = false;

  OptionalTensorView() = default;
  // A given input (the glue's view of it, read-only or not).
  template <class Other>
  OptionalTensorView(const detail::View<Other>& given)  // NOLINT: implicit by design
      : ConstTensorView(given), present(true) {}
  bool has_value() const { return present; }
};

// A data-dependent dim (`dynamic_dims` in the recipe: NMS keeps a number of boxes only its
// kernel knows). The outputs whose first dim it is were allocated with `max` rows; the kernel
// fills their first rows and writes how many, 0 to max, to *value before it returns: host
// memory for a CPU kernel, device memory on the op's device for a CUDA kernel (written by a
// device thread, or with cudaMemcpyAsync on ctx.stream), so no host round trip is needed
// there. A kernel that leaves it unwritten, or writes more than max, fails the call
// (TensorRT, which reads it on the GPU, clamps it to [0, max] instead).
struct DynamicDim {
  int64_t* value = nullptr;
  int64_t max = 0;
};

// Per-call context: the device and its stream (nullptr on CPU), and the error channel.
struct Context {
  void* stream = nullptr;  // cudaStream_t for CUDA kernels
  int32_t device = -1;     // -1: CPU

  // Record a failure; the glue raises it as the framework's error after the kernel returns.
  void fail(const char* format, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 2, 3)))
#endif
  {
    if (failed_) return;  // keep the first message: it is the cause
    failed_ = true;
    va_list args;
    va_start(args, format);
    std::vsnprintf(message_, sizeof message_, format, args);
    va_end(args);
  }
  bool failed() const { return failed_; }
  const char* message() const { return message_; }

 private:
  bool failed_ = false;
  char message_[1024] = {};
};

// Attribute lists reach kernels as pointer + length, whatever the framework stores.
template <class T> struct Span {
  const T* data = nullptr;
  int64_t size = 0;
  const T& operator[](int64_t i) const { return data[i]; }
};

}  // namespace opforge
