// An existing ONNX Runtime custom-op library (C++ API, its own RegisterCustomOps), brought
// to opforge as it is. Header-only: it reaches ONNX Runtime through the API table.
#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include <algorithm>
#include <cstdint>

namespace {

struct ClampKernel {
  ClampKernel(const OrtApi&, const OrtKernelInfo* info) {
    Ort::ConstKernelInfo kernel_info(info);
    lo_ = kernel_info.GetAttribute<float>("lo");
    hi_ = kernel_info.GetAttribute<float>("hi");
  }

  void Compute(OrtKernelContext* context) {
    Ort::KernelContext ctx(context);
    Ort::ConstValue x = ctx.GetInput(0);
    const auto info = x.GetTensorTypeAndShapeInfo();
    Ort::UnownedValue y = ctx.GetOutput(0, info.GetShape());
    const float* in = x.GetTensorData<float>();
    float* out = y.GetTensorMutableData<float>();
    const size_t n = info.GetElementCount();
    for (size_t i = 0; i < n; ++i) out[i] = std::min(std::max(in[i], lo_), hi_);
  }

  float lo_ = 0, hi_ = 0;
};

struct ClampOp : Ort::CustomOpBase<ClampOp, ClampKernel> {
  void* CreateKernel(const OrtApi& api, const OrtKernelInfo* info) const {
    return new ClampKernel(api, info);
  }
  const char* GetName() const { return "Clamp"; }
  size_t GetInputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetInputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
};

}  // namespace

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  const OrtApi* api = api_base->GetApi(ORT_API_VERSION);
  if (api == nullptr) return nullptr;
  Ort::InitApi(api);
  static ClampOp op;
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* status = api->CreateCustomOpDomain("native_demo", &domain)) return status;
  if (OrtStatus* status = api->CustomOpDomain_Add(domain, &op)) return status;
  return api->AddCustomOpDomain(options, domain);
}
