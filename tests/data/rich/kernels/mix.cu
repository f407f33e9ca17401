// The CUDA twin of mix.cc: the same values, filled on the device on ctx.stream.
#include <opforge/cuda.h>
#include <opforge/ops.h>

#include "mix_value.h"

#include <cstring>

namespace {
template <class T>
__global__ void fill(T* out, int64_t n, double v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    out[i] = static_cast<T>(v);
  }
}

template <class T>
void launch(opforge::Context& ctx, const opforge::TensorView& t, double v) {
  const int64_t n = t.numel();
  if (n == 0) return;
  fill<T><<<opforge::cuda::grid_for(n, 128), 128, 0, opforge::cuda::stream(ctx)>>>(t.ptr<T>(), n, v);
  opforge::cuda::check(ctx, cudaGetLastError(), "Mix: fill");
}
}  // namespace

void my_lab::Mix_cuda(opforge::Context& ctx, const MixArgs& args) {
  if (std::strcmp(args.mode, "fail") == 0) {
    ctx.fail("Mix: mode 'fail' asks the kernel to fail");
    return;
  }
  const double v = mix_value(args);
  if (args.b.dtype == opforge::DType::Float32) launch<float>(ctx, args.b, v);
  else launch<double>(ctx, args.b, v);
  launch<int32_t>(ctx, args.d, static_cast<double>(args.idx.numel()));
}
