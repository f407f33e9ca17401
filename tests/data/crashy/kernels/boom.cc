// crashy::Boom: a copy that aborts on the value 13, to show a crashed op process in Triton.
#include <cstdlib>

#include <opforge/ops.h>

void crashy::Boom_cpu(opforge::Context&, const BoomArgs& args) {
  const float* x = args.x.ptr<float>();
  float* y = args.y.ptr<float>();
  for (int64_t i = 0; i < args.x.numel(); ++i) {
    if (x[i] == 13.0f) std::abort();
    y[i] = x[i];
  }
}
