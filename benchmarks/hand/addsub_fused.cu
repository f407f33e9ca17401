// A hand-written fused add/sub kernel, as one would write it without opforge: one element
// per thread, float32 only. Compiled by benchmarks/gpu_check.py with nvcc and called through
// ctypes on PyTorch's current stream.
#include <cuda_runtime.h>

#include <cstdint>

__global__ void addsub_fused(const float* __restrict__ a, const float* __restrict__ b,
                             float* __restrict__ sum, float* __restrict__ diff, float alpha,
                             int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    const float x = a[i], y = alpha * b[i];
    sum[i] = x + y;
    diff[i] = x - y;
  }
}

extern "C" int addsub_fused_launch(const float* a, const float* b, float* sum, float* diff,
                                   float alpha, int64_t n, void* stream) {
  const int threads = 256;
  const int64_t blocks = (n + threads - 1) / threads;
  addsub_fused<<<static_cast<unsigned>(blocks), threads, 0, static_cast<cudaStream_t>(stream)>>>(
      a, b, sum, diff, alpha, n);
  return static_cast<int>(cudaGetLastError());
}
