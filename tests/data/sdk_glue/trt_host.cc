// The TensorRT glue of tests/data/rich run on the host, without TensorRT's libraries or a
// GPU; for tests/test_sdk_glue.py. Compiled as one program with the generated glue
// (`-include gen/tensorrt/glue.cc`) against one TensorRT header set, under ThreadSanitizer.
// Mix's CUDA kernel is replaced by one that records the attributes the glue handed it.
//
// Prints, for plugin fields given as FLOAT64 (a serialized engine, an API user) and as FLOAT32
// (TensorRT's ONNX parser), the scale and weights[0] the kernel saw: both must be the float32
// values, as in every other framework. Then setLoggerFinder races with plugins that report
// errors through the logger it sets: ThreadSanitizer reports a data race unless the finder is
// shared safely.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>

extern "C" nvinfer1::IPluginRegistry* getPluginRegistry() noexcept {
  return nullptr;  // no TensorRT: nothing registers when the glue is loaded
}

namespace opforge {
namespace cuda_glue {
bool check_launch(Context& ctx, const char*) { return !ctx.failed(); }
int pointer_device(const void*) { return -1; }
int current_device() { return 0; }
}  // namespace cuda_glue
}  // namespace opforge

namespace {
double g_scale = -1, g_weight = -1;

struct CountingLogger : nvinfer1::ILogger {
  std::atomic<int> messages{0};
  void log(Severity, const char*) noexcept override { ++messages; }
} g_logger;

struct Finder : nvinfer1::ILoggerFinder {
  nvinfer1::ILogger* findLogger() noexcept override { return &g_logger; }
} g_finder;

nvinfer1::PluginTensorDesc desc(nvinfer1::DataType type, std::initializer_list<int64_t> dims) {
  nvinfer1::PluginTensorDesc d{};
  d.type = type;
  d.format = nvinfer1::TensorFormat::kLINEAR;
  d.dims.nbDims = static_cast<int32_t>(dims.size());
  int32_t i = 0;
  for (int64_t n : dims) d.dims.d[i++] = n;
  return d;
}

// Creates a Mix plugin from `fields` and runs it once; prints what its kernel was given.
void run(nvinfer1::IPluginCreatorV3One& creator, const char* label,
         const nvinfer1::PluginFieldCollection& fields) {
  g_scale = g_weight = -1;
  nvinfer1::IPluginV3* plugin = creator.createPlugin("Mix", &fields, nvinfer1::TensorRTPhase::kRUNTIME);
  if (plugin == nullptr) {
    std::printf("%s: createPlugin failed\n", label);
    return;
  }
  auto* runtime = static_cast<nvinfer1::IPluginV3OneRuntime*>(
      plugin->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME));
  const nvinfer1::PluginTensorDesc in[] = {desc(nvinfer1::DataType::kFLOAT, {1}),
                                           desc(nvinfer1::DataType::kFLOAT, {1}),
                                           desc(nvinfer1::DataType::kINT64, {1})};
  const nvinfer1::PluginTensorDesc out[] = {desc(nvinfer1::DataType::kFLOAT, {1}),
                                            desc(nvinfer1::DataType::kINT32, {1, 1, 2})};
  float x = 1, y = 1, b = 0;
  int64_t idx = 5;
  int32_t d[2] = {};
  const void* inputs[] = {&x, &y, &idx};
  void* outputs[] = {&b, d};
  const int32_t rc = runtime->enqueue(in, out, inputs, outputs, nullptr, nullptr);
  std::printf("%s: enqueue %d scale %.17g weight %.17g\n", label, rc, g_scale, g_weight);
}
}  // namespace

void my_lab::Mix_cuda(opforge::Context&, const MixArgs& args) {
  g_scale = args.scale;
  g_weight = args.weights.size > 0 ? args.weights[0] : -1;
}

int main() {
  int32_t count = 0;
  nvinfer1::IPluginCreatorInterface* const* creators = getCreators(count);
  auto& creator = *static_cast<nvinfer1::IPluginCreatorV3One*>(creators[0]);
  using nvinfer1::PluginField;
  using nvinfer1::PluginFieldType;

  double scale64 = 0.1, weights64[] = {0.2};
  PluginField wide[] = {{"scale", &scale64, PluginFieldType::kFLOAT64, 1},
                        {"weights", weights64, PluginFieldType::kFLOAT64, 1}};
  run(creator, "float64 fields", {2, wide});
  float scale32 = 0.1f, weights32[] = {0.2f};
  PluginField narrow[] = {{"scale", &scale32, PluginFieldType::kFLOAT32, 1},
                          {"weights", weights32, PluginFieldType::kFLOAT32, 1}};
  run(creator, "float32 fields", {2, narrow});

  // A field of the wrong type: createPlugin reports it through the logger and returns null.
  PluginField bad[] = {{"scale", "x", PluginFieldType::kCHAR, 1}};
  const nvinfer1::PluginFieldCollection bad_fields{1, bad};
  setLoggerFinder(&g_finder);
  std::thread writer([] {
    for (int i = 0; i < 2000; ++i) setLoggerFinder(&g_finder);
  });
  std::thread reader([&] {
    for (int i = 0; i < 2000; ++i) {
      creator.createPlugin("Mix", &bad_fields, nvinfer1::TensorRTPhase::kBUILD);
    }
  });
  writer.join();
  reader.join();
  std::printf("logged %d\n", g_logger.messages.load());
  return 0;
}
