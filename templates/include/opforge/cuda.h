// opforge CUDA kernel helpers: for .cu kernel sources, never needed by CPU kernels.
//
// A CUDA kernel entry point (e.g. `void AddSub_cuda(Context&, const AddSubArgs&)`) runs on
// the host: it launches on ctx.stream (the framework's current stream for the op's device,
// already made current) and reports failures through ctx.fail(). After it returns the glue
// checks for launch errors too, so a forgotten check still becomes a framework error.
#pragma once

#include <opforge/kernel.h>

// The CUDA types of the kernel API's dtypes: __half (Float16), __nv_bfloat16 (BFloat16),
// __nv_fp8_e4m3 (Float8E4M3FN) and __nv_fp8_e5m2 (Float8E5M2, CUDA 11.8 and later); the
// storage of each is the framework's, so ptr<__nv_bfloat16>() reads a bfloat16 tensor as it
// is. Note: CUDA's float -> FP8 constructors saturate (__NV_SATFINITE) where the CPU helpers
// of opforge/kernel.h, ml_dtypes and PyTorch give NaN (e4m3fn) or infinity (e5m2).
#include <cuda_runtime.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#if CUDART_VERSION >= 11080
#include <cuda_fp8.h>
#endif

#include <cstdint>

namespace opforge {
namespace cuda {

inline cudaStream_t stream(const Context& ctx) { return static_cast<cudaStream_t>(ctx.stream); }

// True when `err` is cudaSuccess; otherwise records "<what>: <CUDA error>" in ctx.
inline bool check(Context& ctx, cudaError_t err, const char* what) {
  if (err == cudaSuccess) return true;
  ctx.fail("%s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
  return false;
}

// A 1-D grid for `n` work items: enough blocks to fill the device a few times over (grid-
// stride loops cover the rest), never more than needed.
inline dim3 grid_for(int64_t n, int threads, int blocks_per_sm = 8) {
  int device = 0, sms = 80;
  if (cudaGetDevice(&device) == cudaSuccess) {
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  }
  const int64_t needed = (n + threads - 1) / threads;
  const int64_t cap = static_cast<int64_t>(sms) * blocks_per_sm;
  const int64_t blocks = needed < cap ? needed : cap;
  return dim3(static_cast<unsigned>(blocks > 0 ? blocks : 1));
}

}  // namespace cuda
}  // namespace opforge
