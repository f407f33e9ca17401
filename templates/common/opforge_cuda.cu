// opforge CUDA runtime helpers for the framework glue (see opforge/cuda_glue.h); compiled
// into the kernels library with the CUDA runtime linked statically.
#include <opforge/cuda_glue.h>

#include <cuda_runtime.h>

namespace opforge {
namespace cuda_glue {

bool check_launch(Context& ctx, const char* op) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    ctx.fail("%s: CUDA kernel launch failed: %s (%s)", op, cudaGetErrorString(err),
             cudaGetErrorName(err));
  }
  return !ctx.failed();
}

int pointer_device(const void* ptr) {
  cudaPointerAttributes attrs{};
  if (cudaPointerGetAttributes(&attrs, ptr) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state of a failed query
    return -1;
  }
  return attrs.type == cudaMemoryTypeDevice || attrs.type == cudaMemoryTypeManaged
             ? attrs.device
             : -1;
}

int current_device() {
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return device;
}

}  // namespace cuda_glue
}  // namespace opforge
