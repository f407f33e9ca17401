// opforge CUDA runtime helpers for the framework glue (see opforge/cuda_glue.h); compiled
// into the kernels library with the CUDA runtime linked statically.
#include <opforge/cuda_glue.h>

#include <cuda_runtime.h>

#include <cstdint>

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

namespace {

bool checked(Context& ctx, cudaError_t err, const char* what) {
  if (err == cudaSuccess) return true;
  ctx.fail("%s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
  return false;
}

__global__ void narrow_count(const int64_t* count, int64_t max, int32_t* size) {
  int64_t n = *count;
  n = n < 0 ? 0 : (n > max ? max : n);
  *size = static_cast<int32_t>(n > INT32_MAX ? INT32_MAX : n);  // TensorRT's size tensors are int32
}

}  // namespace

bool reset_count(Context& ctx, int64_t* device_count, void* stream) {
  return checked(ctx, cudaMemsetAsync(device_count, 0xff, sizeof(int64_t),
                                      static_cast<cudaStream_t>(stream)),
                 "clearing a data-dependent dim's count");
}

bool read_count(Context& ctx, const int64_t* device_count, void* stream, int64_t* host_count) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  return checked(ctx, cudaMemcpyAsync(host_count, device_count, sizeof(int64_t),
                                      cudaMemcpyDeviceToHost, s),
                 "reading a data-dependent dim's count") &&
         checked(ctx, cudaStreamSynchronize(s), "waiting for a data-dependent dim's count");
}

bool count_to_size_tensor(Context& ctx, const int64_t* device_count, int64_t max,
                          int32_t* size_tensor, void* stream) {
  narrow_count<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(device_count, max, size_tensor);
  return checked(ctx, cudaGetLastError(), "writing a data-dependent dim's size tensor");
}

bool wait(void* stream) {
  return cudaStreamSynchronize(static_cast<cudaStream_t>(stream)) == cudaSuccess;
}

bool copy_on_device(Context& ctx, void* dst, const void* src, int64_t bytes, void* stream) {
  return bytes == 0 ||
         checked(ctx, cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes),
                                      cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)),
                 "copying the rows of a data-dependent output");
}

}  // namespace cuda_glue
}  // namespace opforge
