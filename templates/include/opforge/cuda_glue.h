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

}  // namespace cuda_glue
}  // namespace opforge
