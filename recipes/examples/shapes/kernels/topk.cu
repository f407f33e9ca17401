// TopK over the last axis on the device: one thread per row, selection by repeated scans
// (small k); the glue has checked 0 <= k <= x[-1].
#include <opforge/cuda.h>
#include <opforge/ops.h>

namespace {
template <class T>
__global__ void topk(const T* x, T* values, int64_t* indices, int64_t rows, int64_t n,
                     int64_t k) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    const T* row = x + r * n;
    for (int64_t j = 0; j < k; ++j) {
      // the j-th largest: the first index not yet taken with the largest value
      int64_t best = -1;
      for (int64_t i = 0; i < n; ++i) {
        bool taken = false;
        for (int64_t t = 0; t < j && !taken; ++t) taken = indices[r * k + t] == i;
        if (!taken && (best < 0 || row[i] > row[best])) best = i;
      }
      indices[r * k + j] = best;
      values[r * k + j] = row[best];
    }
  }
}

template <class T>
void launch(opforge::Context& ctx, const shapes::TopKArgs& args) {
  const int64_t n = args.x.ndim ? args.x.shape[args.x.ndim - 1] : 1;
  const int64_t rows = n ? args.x.numel() / n : 0;
  if (rows == 0 || args.k == 0) return;
  topk<T><<<opforge::cuda::grid_for(rows, 128), 128, 0, opforge::cuda::stream(ctx)>>>(
      args.x.ptr<T>(), args.values.ptr<T>(), args.indices.ptr<int64_t>(), rows, n, args.k);
  opforge::cuda::check(ctx, cudaGetLastError(), "TopK");
}
}  // namespace

void shapes::TopK_cuda(opforge::Context& ctx, const TopKArgs& args) {
  if (args.x.dtype == opforge::DType::Float32) launch<float>(ctx, args);
  else launch<double>(ctx, args);
}
