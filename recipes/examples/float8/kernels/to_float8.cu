// CUDA kernel of fp8::ToFloat8E4M3. CUDA's __nv_fp8_e4m3(float) saturates; without
// saturation (__NV_NOSAT) an overflow is NaN, as on the CPU.
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {

constexpr int kThreads = 256;

__global__ void to_float8(const float* __restrict__ x, __nv_fp8_storage_t* __restrict__ y,
                          int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = __nv_cvt_float_to_fp8(x[i], __NV_NOSAT, __NV_E4M3);
  }
}

}  // namespace

void fp8::ToFloat8E4M3_cuda(opforge::Context& ctx, const ToFloat8E4M3Args& args) {
  const int64_t n = args.x.numel();
  if (n == 0) return;
  to_float8<<<opforge::cuda::grid_for(n, kThreads), kThreads, 0, opforge::cuda::stream(ctx)>>>(
      args.x.ptr<float>(), args.y.ptr<__nv_fp8_storage_t>(), n);
  opforge::cuda::check(ctx, cudaGetLastError(), "ToFloat8E4M3: kernel launch");
}
