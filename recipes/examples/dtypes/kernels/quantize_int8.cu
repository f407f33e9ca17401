// CUDA kernel of narrow::QuantizeInt8: float32 -> int8 with a scale and a zero point.
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {

constexpr int kThreads = 256;

__global__ void quantize(const float* __restrict__ x, int8_t* __restrict__ q, float scale,
                         float zero_point, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float v = rintf(x[i] / scale) + zero_point;  // rintf: half to even
    q[i] = static_cast<int8_t>(fminf(127.0f, fmaxf(-128.0f, v)));
  }
}

}  // namespace

void narrow::QuantizeInt8_cuda(opforge::Context& ctx, const QuantizeInt8Args& args) {
  if (!(args.scale > 0)) {
    ctx.fail("QuantizeInt8: scale must be positive, got %g", args.scale);
    return;
  }
  const int64_t n = args.x.numel();
  if (n == 0) return;
  quantize<<<opforge::cuda::grid_for(n, kThreads), kThreads, 0, opforge::cuda::stream(ctx)>>>(
      args.x.ptr<float>(), args.q.ptr<int8_t>(), static_cast<float>(args.scale),
      static_cast<float>(args.zero_point), n);
  opforge::cuda::check(ctx, cudaGetLastError(), "QuantizeInt8: kernel launch");
}
