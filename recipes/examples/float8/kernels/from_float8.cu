// CUDA kernel of fp8::FromFloat8E4M3, exact; written for either FP8 format (the CUDA type).
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {

constexpr int kThreads = 256;

template <class F>
__global__ void from_float8(const F* __restrict__ x, float* __restrict__ y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = static_cast<float>(x[i]);
  }
}

template <class F>
void launch(opforge::Context& ctx, const fp8::FromFloat8E4M3Args& args) {
  const int64_t n = args.x.numel();
  if (n == 0) return;
  from_float8<F><<<opforge::cuda::grid_for(n, kThreads), kThreads, 0,
                   opforge::cuda::stream(ctx)>>>(args.x.ptr<F>(), args.y.ptr<float>(), n);
  opforge::cuda::check(ctx, cudaGetLastError(), "FromFloat8E4M3: kernel launch");
}

}  // namespace

void fp8::FromFloat8E4M3_cuda(opforge::Context& ctx, const FromFloat8E4M3Args& args) {
  switch (args.x.dtype) {
    case opforge::DType::Float8E4M3FN: launch<__nv_fp8_e4m3>(ctx, args); break;
    case opforge::DType::Float8E5M2: launch<__nv_fp8_e5m2>(ctx, args); break;
    default: ctx.fail("FromFloat8E4M3: unsupported dtype %s", opforge::dtype_name(args.x.dtype));
  }
}
