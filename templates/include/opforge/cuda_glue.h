// opforge CUDA glue helpers: implemented in the kernels library (opforge_cuda.cu), so the
// framework glue needs no CUDA headers of its own.
#pragma once

#include <opforge/kernel.h>

namespace opforge {
namespace cuda_glue {

// After a CUDA kernel entry point returned: records a pending launch error in ctx.
// Returns !ctx.failed().
bool check_launch(Context& ctx, const char* op);

// The CUDA device that owns `ptr`, or -1 for host (or unknown) memory.
int pointer_device(const void* ptr);

// The current device, or -1 when CUDA is unavailable (no driver, no device).
int current_device();

// A data-dependent dim's count in device memory: set to -1 (unreported) before the kernel,
// read back after it (a copy to the host and a wait for `stream`), and for TensorRT narrowed
// to its int32 size tensor on the GPU, clamped to [0, max]. Each returns !ctx.failed().
bool reset_count(Context& ctx, int64_t* device_count, void* stream);
bool read_count(Context& ctx, const int64_t* device_count, void* stream, int64_t* host_count);
bool count_to_size_tensor(Context& ctx, const int64_t* device_count, int64_t max,
                          int32_t* size_tensor, void* stream);

// Wait for everything queued on `stream`; false when CUDA reports an error.
bool wait(void* stream);

// `bytes` from `src` to `dst`, both on the device, on `stream` (ONNX Runtime's outputs of
// data-dependent size are copies of the rows the kernel filled).
bool copy_on_device(Context& ctx, void* dst, const void* src, int64_t bytes, void* stream);

}  // namespace cuda_glue
}  // namespace opforge
