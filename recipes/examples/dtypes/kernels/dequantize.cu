// CUDA kernel of narrow::Dequantize: int8, uint8 or int16 quanta -> float32 (TensorRT has
// no int16 tensors: its plugin never sees Int16).
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {

constexpr int kThreads = 256;

template <class Q>
__global__ void dequantize(const Q* __restrict__ q, float* __restrict__ y, float scale,
                           int64_t zero_point, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = static_cast<float>(static_cast<int64_t>(q[i]) - zero_point) * scale;
  }
}

template <class Q>
void launch(opforge::Context& ctx, const narrow::DequantizeArgs& args) {
  const int64_t n = args.q.numel();
  if (n == 0) return;
  dequantize<Q><<<opforge::cuda::grid_for(n, kThreads), kThreads, 0,
                  opforge::cuda::stream(ctx)>>>(args.q.ptr<Q>(), args.y.ptr<float>(),
                                                static_cast<float>(args.scale),
                                                args.zero_point, n);
  opforge::cuda::check(ctx, cudaGetLastError(), "Dequantize: kernel launch");
}

}  // namespace

void narrow::Dequantize_cuda(opforge::Context& ctx, const DequantizeArgs& args) {
  switch (args.q.dtype) {
    case opforge::DType::Int8: launch<int8_t>(ctx, args); break;
    case opforge::DType::UInt8: launch<uint8_t>(ctx, args); break;
    case opforge::DType::Int16: launch<int16_t>(ctx, args); break;
    default: ctx.fail("Dequantize: unsupported dtype %s", opforge::dtype_name(args.q.dtype));
  }
}
