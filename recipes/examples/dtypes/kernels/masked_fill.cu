// CUDA kernel of narrow::MaskedFill: a bool mask picks where the value replaces x.
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void masked_fill(const T* __restrict__ x, const bool* __restrict__ mask,
                            T* __restrict__ y, T value, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = mask[i] ? value : x[i];
  }
}

template <class T>
void launch(opforge::Context& ctx, const narrow::MaskedFillArgs& args, T value) {
  const int64_t n = args.x.numel();
  if (n == 0) return;
  masked_fill<T><<<opforge::cuda::grid_for(n, kThreads), kThreads, 0,
                   opforge::cuda::stream(ctx)>>>(args.x.ptr<T>(), args.mask.ptr<bool>(),
                                                 args.y.ptr<T>(), value, n);
  opforge::cuda::check(ctx, cudaGetLastError(), "MaskedFill: kernel launch");
}

}  // namespace

void narrow::MaskedFill_cuda(opforge::Context& ctx, const MaskedFillArgs& args) {
  if (!args.mask.same_shape(args.x)) {
    ctx.fail("MaskedFill: mask must have x's shape");
    return;
  }
  const float value = static_cast<float>(args.value);
  switch (args.x.dtype) {
    case opforge::DType::Float32: launch<float>(ctx, args, value); break;
    case opforge::DType::BFloat16: launch<__nv_bfloat16>(ctx, args, __float2bfloat16_rn(value)); break;
    case opforge::DType::Int32: launch<int32_t>(ctx, args, static_cast<int32_t>(value)); break;
    default: ctx.fail("MaskedFill: unsupported dtype %s", opforge::dtype_name(args.x.dtype));
  }
}
