// TopK over the last axis: the glue has checked 0 <= k <= x[-1] and shaped the outputs
// x[:-1] + [k], so the kernel only sorts.
#include <opforge/ops.h>

#include <algorithm>
#include <vector>

namespace {
template <class T>
void topk(const shapes::TopKArgs& args) {
  const int64_t n = args.x.ndim ? args.x.shape[args.x.ndim - 1] : 1, k = args.k;
  const int64_t rows = n ? args.x.numel() / n : 0;
  const T* x = args.x.ptr<T>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(),
                     [row](int64_t a, int64_t b) { return row[a] > row[b]; });
    for (int64_t j = 0; j < k; ++j) {
      args.values.ptr<T>()[r * k + j] = row[order[static_cast<size_t>(j)]];
      args.indices.ptr<int64_t>()[r * k + j] = order[static_cast<size_t>(j)];
    }
  }
}
}  // namespace

void shapes::TopK_cpu(opforge::Context& ctx, const TopKArgs& args) {
  (void)ctx;
  if (args.x.dtype == opforge::DType::Float32) topk<float>(args);
  else topk<double>(args);
}
