// CUDA kernel of narrow::Silu: __nv_bfloat16, __half and float, computed in float32.
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <class T>
__global__ void silu(const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float v = to_float(x[i]);
    y[i] = from_float<T>(v / (1.0f + expf(-v)));
  }
}

template <class T>
void launch(opforge::Context& ctx, const narrow::SiluArgs& args) {
  const int64_t n = args.x.numel();
  if (n == 0) return;
  silu<T><<<opforge::cuda::grid_for(n, kThreads), kThreads, 0, opforge::cuda::stream(ctx)>>>(
      args.x.ptr<T>(), args.y.ptr<T>(), n);
  opforge::cuda::check(ctx, cudaGetLastError(), "Silu: kernel launch");
}

}  // namespace

void narrow::Silu_cuda(opforge::Context& ctx, const SiluArgs& args) {
  switch (args.x.dtype) {
    case opforge::DType::BFloat16: launch<__nv_bfloat16>(ctx, args); break;
    case opforge::DType::Float16: launch<__half>(ctx, args); break;
    case opforge::DType::Float32: launch<float>(ctx, args); break;
    default: ctx.fail("Silu: unsupported dtype %s", opforge::dtype_name(args.x.dtype));
  }
}
