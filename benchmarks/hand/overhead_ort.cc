// A hand-written ONNX Runtime custom op over the C API doing what the generated acme.AddSub
// does (domain "hand", op AddSub, attribute alpha with default 1.0, float32 and float16 on
// the CPU, a and b of the same shape): the glue-overhead benchmark (benchmarks/overhead.py)
// times it against the generated op. Built against ONNXRUNTIME_ROOT's headers; it asks the
// running ONNX Runtime for the API version it was compiled with.
#include <onnxruntime_c_api.h>

#include <cstring>
#include <vector>

namespace {

const OrtApi* g_api = nullptr;

struct Kernel {
  float alpha;
};

// A shape of a value of the context (its type and shape info released again).
OrtStatus* shape_of(const OrtValue* value, std::vector<int64_t>* shape) {
  OrtTensorTypeAndShapeInfo* info = nullptr;
  if (OrtStatus* s = g_api->GetTensorTypeAndShape(value, &info)) return s;
  size_t ndim = 0;
  OrtStatus* s = g_api->GetDimensionsCount(info, &ndim);
  if (s == nullptr) {
    shape->resize(ndim);
    s = g_api->GetDimensions(info, shape->data(), ndim);
  }
  g_api->ReleaseTensorTypeAndShapeInfo(info);
  return s;
}

template <class T>
OrtStatus* ORT_API_CALL compute(void* raw, OrtKernelContext* context) noexcept {
  const float alpha = static_cast<Kernel*>(raw)->alpha;
  const OrtValue *a = nullptr, *b = nullptr;
  if (OrtStatus* s = g_api->KernelContext_GetInput(context, 0, &a)) return s;
  if (OrtStatus* s = g_api->KernelContext_GetInput(context, 1, &b)) return s;
  std::vector<int64_t> shape, b_shape;
  if (OrtStatus* s = shape_of(a, &shape)) return s;
  if (OrtStatus* s = shape_of(b, &b_shape)) return s;
  if (shape != b_shape) {
    return g_api->CreateStatus(ORT_INVALID_ARGUMENT, "hand.AddSub: a and b must have the same shape");
  }
  OrtValue *sum = nullptr, *diff = nullptr;
  if (OrtStatus* s = g_api->KernelContext_GetOutput(context, 0, shape.data(), shape.size(), &sum)) return s;
  if (OrtStatus* s = g_api->KernelContext_GetOutput(context, 1, shape.data(), shape.size(), &diff)) return s;
  void *pa = nullptr, *pb = nullptr, *ps = nullptr, *pd = nullptr;
  if (OrtStatus* s = g_api->GetTensorMutableData(const_cast<OrtValue*>(a), &pa)) return s;
  if (OrtStatus* s = g_api->GetTensorMutableData(const_cast<OrtValue*>(b), &pb)) return s;
  if (OrtStatus* s = g_api->GetTensorMutableData(sum, &ps)) return s;
  if (OrtStatus* s = g_api->GetTensorMutableData(diff, &pd)) return s;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  for (int64_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(static_cast<const T*>(pa)[i]);
    const float y = alpha * static_cast<float>(static_cast<const T*>(pb)[i]);
    static_cast<T*>(ps)[i] = static_cast<T>(x + y);
    static_cast<T*>(pd)[i] = static_cast<T>(x - y);
  }
  return nullptr;
}

OrtStatus* ORT_API_CALL create(const OrtCustomOp*, const OrtApi*, const OrtKernelInfo* info,
                               void** kernel) noexcept {
  float alpha = 1.0f;
  if (OrtStatus* s = g_api->KernelInfoGetAttribute_float(info, "alpha", &alpha)) {
    g_api->ReleaseStatus(s);  // absent: the default
  }
  *kernel = new Kernel{alpha};
  return nullptr;
}

// One OrtCustomOp per element type; T is float or _Float16 (GCC's IEEE half on x86-64).
template <class T, ONNXTensorElementDataType kType>
OrtCustomOp make_op() {
  OrtCustomOp op;
  std::memset(&op, 0, sizeof op);
  op.version = ORT_API_VERSION;
  op.GetName = [](const OrtCustomOp*) noexcept { return "AddSub"; };
  op.GetExecutionProviderType = [](const OrtCustomOp*) noexcept { return "CPUExecutionProvider"; };
  op.GetInputType = [](const OrtCustomOp*, size_t) noexcept { return kType; };
  op.GetInputTypeCount = [](const OrtCustomOp*) noexcept -> size_t { return 2; };
  op.GetOutputType = [](const OrtCustomOp*, size_t) noexcept { return kType; };
  op.GetOutputTypeCount = [](const OrtCustomOp*) noexcept -> size_t { return 2; };
  op.KernelDestroy = [](void* kernel) noexcept { delete static_cast<Kernel*>(kernel); };
  op.GetInputCharacteristic = [](const OrtCustomOp*, size_t) noexcept { return INPUT_OUTPUT_REQUIRED; };
  op.GetOutputCharacteristic = [](const OrtCustomOp*, size_t) noexcept { return INPUT_OUTPUT_REQUIRED; };
  op.GetInputMemoryType = [](const OrtCustomOp*, size_t) noexcept { return OrtMemTypeDefault; };
  op.GetVariadicInputMinArity = [](const OrtCustomOp*) noexcept { return 1; };
  op.GetVariadicInputHomogeneity = [](const OrtCustomOp*) noexcept { return 1; };
  op.GetVariadicOutputMinArity = [](const OrtCustomOp*) noexcept { return 1; };
  op.GetVariadicOutputHomogeneity = [](const OrtCustomOp*) noexcept { return 1; };
  op.CreateKernelV2 = create;
  op.KernelComputeV2 = compute<T>;
  op.GetStartVersion = [](const OrtCustomOp*) noexcept { return 1; };
  op.GetEndVersion = [](const OrtCustomOp*) noexcept { return 2147483647; };
  return op;
}

OrtCustomOp g_float = make_op<float, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT>();
OrtCustomOp g_half = make_op<_Float16, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16>();

}  // namespace

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) noexcept {
  g_api = api_base->GetApi(ORT_API_VERSION);
  if (g_api == nullptr) {
    return api_base->GetApi(1)->CreateStatus(ORT_FAIL, "hand: needs a newer ONNX Runtime");
  }
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* s = g_api->CreateCustomOpDomain("hand", &domain)) return s;
  if (OrtStatus* s = g_api->CustomOpDomain_Add(domain, &g_float)) return s;
  if (OrtStatus* s = g_api->CustomOpDomain_Add(domain, &g_half)) return s;
  return g_api->AddCustomOpDomain(options, domain);  // kept for the process
}
