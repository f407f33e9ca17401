// opforge CUDA kernel helpers: for .cu kernel sources, never needed by CPU kernels.
//
// A CUDA kernel entry point (e.g. `void AddSub_cuda(Context&, const AddSubArgs&)`) runs on
// the host: it launches on ctx.stream (the framework's current stream for the op's device,
// already made current) and reports failures through ctx.fail(). After it returns the glue
// checks for launch errors too, so a forgotten check still becomes a framework error.
#pragma once

#include <opforge/kernel.h>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

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
