// An existing TensorRT plugin (IPluginV3), brought to opforge as it is: Copy returns its
// input, one cudaMemcpyAsync on TensorRT's stream (so it needs no kernel of its own).
#include <NvInferRuntime.h>
#include <NvInferRuntimePlugin.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <new>

namespace {

using namespace nvinfer1;

int64_t element_size(DataType t) {
  switch (t) {
    case DataType::kFLOAT: case DataType::kINT32: return 4;
    case DataType::kHALF: return 2;
    case DataType::kINT64: return 8;
    default: return 0;
  }
}

class CopyPlugin : public IPluginV3, public IPluginV3OneCore, public IPluginV3OneBuild,
                   public IPluginV3OneRuntime {
 public:
  IPluginCapability* getCapabilityInterface(PluginCapabilityType type) noexcept override {
    switch (type) {
      case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
      case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
      case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
    }
    return nullptr;
  }
  IPluginV3* clone() noexcept override { return new (std::nothrow) CopyPlugin(); }
  const char* getPluginName() const noexcept override { return "Copy"; }
  const char* getPluginVersion() const noexcept override { return "1"; }
  const char* getPluginNamespace() const noexcept override { return "native_demo"; }
  int32_t getNbOutputs() const noexcept override { return 1; }
  int32_t configurePlugin(const DynamicPluginTensorDesc*, int32_t, const DynamicPluginTensorDesc*,
                          int32_t) noexcept override {
    return 0;
  }
  int32_t getOutputDataTypes(DataType* out, int32_t, const DataType* in,
                             int32_t) const noexcept override {
    out[0] = in[0];
    return 0;
  }
  int32_t getOutputShapes(const DimsExprs* in, int32_t, const DimsExprs*, int32_t, DimsExprs* out,
                          int32_t, IExprBuilder&) noexcept override {
    out[0] = in[0];
    return 0;
  }
  bool supportsFormatCombination(int32_t pos, const DynamicPluginTensorDesc* io, int32_t,
                                 int32_t) noexcept override {
    const PluginTensorDesc& d = io[pos].desc;
    return d.format == TensorFormat::kLINEAR && element_size(d.type) > 0 &&
           (pos == 0 || d.type == io[0].desc.type);
  }
  int32_t onShapeChange(const PluginTensorDesc*, int32_t, const PluginTensorDesc*,
                        int32_t) noexcept override {
    return 0;
  }
  int32_t enqueue(const PluginTensorDesc* inDesc, const PluginTensorDesc*, const void* const* inputs,
                  void* const* outputs, void*, cudaStream_t stream) noexcept override {
    int64_t bytes = element_size(inDesc[0].type);
    for (int32_t i = 0; i < inDesc[0].dims.nbDims; ++i) bytes *= inDesc[0].dims.d[i];
    return cudaMemcpyAsync(outputs[0], inputs[0], static_cast<size_t>(bytes),
                           cudaMemcpyDeviceToDevice, stream) == cudaSuccess ? 0 : 1;
  }
  IPluginV3* attachToContext(IPluginResourceContext*) noexcept override { return clone(); }
  const PluginFieldCollection* getFieldsToSerialize() noexcept override { return &fields_; }

 private:
  PluginFieldCollection fields_{0, nullptr};
};

class CopyCreator : public IPluginCreatorV3One {
 public:
  const char* getPluginName() const noexcept override { return "Copy"; }
  const char* getPluginVersion() const noexcept override { return "1"; }
  const char* getPluginNamespace() const noexcept override { return "native_demo"; }
  const PluginFieldCollection* getFieldNames() noexcept override { return &fields_; }
  IPluginV3* createPlugin(const char*, const PluginFieldCollection*, TensorRTPhase) noexcept override {
    return new (std::nothrow) CopyPlugin();
  }

 private:
  PluginFieldCollection fields_{0, nullptr};
};

// Registered when the library is loaded, in the plugin namespace "native_demo".
struct Registrar {
  Registrar() {
    static CopyCreator creator;
    if (IPluginRegistry* registry = getPluginRegistry()) registry->registerCreator(creator, "native_demo");
  }
} const registrar;

}  // namespace
