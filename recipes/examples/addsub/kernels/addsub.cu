// CUDA kernel of acme::AddSub. Memory-bound: each element reads a and b and writes sum and
// diff once, so the kernel's job is to keep the memory system busy: 16-byte vector loads
// and stores where every pointer is 16-byte aligned, a grid-stride loop over the vectors,
// then a scalar loop for the tail (and for unaligned views).
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {

constexpr int kThreads = 256;

// Eight halves or four floats in one 16-byte vector.
template <class T> struct Vec;
template <> struct Vec<float> { using type = float4; static constexpr int n = 4; };
template <> struct Vec<__half> { using type = uint4; static constexpr int n = 8; };

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <class T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}

template <class T>
__global__ void add_sub_vec(const T* __restrict__ a, const T* __restrict__ b,
                            T* __restrict__ sum, T* __restrict__ diff, float alpha,
                            int64_t vectors) {
  using V = typename Vec<T>::type;
  constexpr int N = Vec<T>::n;
  const V* av = reinterpret_cast<const V*>(a);
  const V* bv = reinterpret_cast<const V*>(b);
  V* sv = reinterpret_cast<V*>(sum);
  V* dv = reinterpret_cast<V*>(diff);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < vectors;
       i += stride) {
    V x = __ldcs(av + i), y = __ldcs(bv + i), s, d;
    const T* xs = reinterpret_cast<const T*>(&x);
    const T* ys = reinterpret_cast<const T*>(&y);
    T* ss = reinterpret_cast<T*>(&s);
    T* ds = reinterpret_cast<T*>(&d);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float p = to_float(xs[k]), q = alpha * to_float(ys[k]);
      ss[k] = from_float<T>(p + q);
      ds[k] = from_float<T>(p - q);
    }
    __stcs(sv + i, s);
    __stcs(dv + i, d);
  }
}

template <class T>
__global__ void add_sub_scalar(const T* __restrict__ a, const T* __restrict__ b,
                               T* __restrict__ sum, T* __restrict__ diff, float alpha,
                               int64_t begin, int64_t end) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = begin + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < end; i += stride) {
    const float p = to_float(a[i]), q = alpha * to_float(b[i]);
    sum[i] = from_float<T>(p + q);
    diff[i] = from_float<T>(p - q);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class T>
void launch(opforge::Context& ctx, const acme::AddSubArgs& args) {
  const int64_t n = args.a.numel();
  if (n == 0) return;
  const T* a = args.a.ptr<T>();
  const T* b = args.b.ptr<T>();
  T* sum = args.sum.ptr<T>();
  T* diff = args.diff.ptr<T>();
  const float alpha = static_cast<float>(args.alpha);
  cudaStream_t stream = opforge::cuda::stream(ctx);
  int64_t done = 0;
  if (aligned16(a) && aligned16(b) && aligned16(sum) && aligned16(diff)) {
    const int64_t vectors = n / Vec<T>::n;
    if (vectors > 0) {
      add_sub_vec<T><<<opforge::cuda::grid_for(vectors, kThreads), kThreads, 0, stream>>>(
          a, b, sum, diff, alpha, vectors);
      done = vectors * Vec<T>::n;
    }
  }
  if (done < n) {
    add_sub_scalar<T><<<opforge::cuda::grid_for(n - done, kThreads), kThreads, 0, stream>>>(
        a, b, sum, diff, alpha, done, n);
  }
  opforge::cuda::check(ctx, cudaGetLastError(), "AddSub: kernel launch");
}

}  // namespace

void acme::AddSub_cuda(opforge::Context& ctx, const AddSubArgs& args) {
  if (!args.a.same_shape(args.b)) {
    ctx.fail("AddSub: a and b must have the same shape");
    return;
  }
  switch (args.a.dtype) {
    case opforge::DType::Float32: launch<float>(ctx, args); break;
    case opforge::DType::Float16: launch<__half>(ctx, args); break;
    default: ctx.fail("AddSub: unsupported dtype %s", opforge::dtype_name(args.a.dtype));
  }
}
