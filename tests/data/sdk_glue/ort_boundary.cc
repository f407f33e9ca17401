// What crosses the C boundary when the ONNX Runtime glue of tests/data/rich fails inside a
// callback ONNX Runtime calls; for tests/test_sdk_glue.py. Compiled as one program with the
// generated glue (`-include gen/onnxruntime/glue.cc`) and the rich kernels library, against
// one ONNX Runtime header set; no ONNX Runtime runs: the glue gets a fake OrtApi table.
//
//   ort_boundary RUNNING_VERSION     e.g. 1.32.0: the version the fake ONNX Runtime reports
//
// It registers the ops as that ONNX Runtime would have them, then creates a Mix kernel whose
// string attribute "mode" claims a size no buffer can hold, so the glue's allocation throws
// inside the create callback (as an allocation failure would). It prints what came back to
// the caller: "status <code> <message>" (an OrtStatus, what every ONNX Runtime from 1.16 on
// takes), "runtime_error <message>" (a std::runtime_error: the one way an ONNX Runtime before
// 1.16 takes an error from CreateKernel), or "ESCAPED <what>" (anything else leaving the glue).
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

struct OrtStatus {
  OrtErrorCode code;
  std::string message;
};

namespace {

#if ORT_API_VERSION >= 16
using OpTable = OrtCustomOp;
#else
using OpTable = CustomOpFields;  // the glue's OrtCustomOp with the fields API 16 appended
#endif

OrtApi g_fake{};
std::string g_running_version;
std::vector<const OrtCustomOp*> g_registered;

void install_fake_api() {
  g_fake.CreateStatus = [](OrtErrorCode code, const char* msg) noexcept -> OrtStatus* {
    return new OrtStatus{code, msg};
  };
  g_fake.GetErrorCode = [](const OrtStatus* s) noexcept { return s->code; };
  g_fake.GetErrorMessage = [](const OrtStatus* s) noexcept { return s->message.c_str(); };
  g_fake.ReleaseStatus = [](OrtStatus* s) noexcept { delete s; };
  g_fake.CreateCustomOpDomain = [](const char*, OrtCustomOpDomain** out) noexcept -> OrtStatus* {
    *out = reinterpret_cast<OrtCustomOpDomain*>(&g_registered);
    return nullptr;
  };
  g_fake.CustomOpDomain_Add = [](OrtCustomOpDomain*, const OrtCustomOp* op) noexcept -> OrtStatus* {
    g_registered.push_back(op);
    return nullptr;
  };
  g_fake.AddCustomOpDomain = [](OrtSessionOptions*, OrtCustomOpDomain*) noexcept -> OrtStatus* {
    return nullptr;
  };
  g_fake.KernelInfoGetAttribute_int64 = [](const OrtKernelInfo*, const char*,
                                           int64_t* out) noexcept -> OrtStatus* {
    *out = 1;
    return nullptr;
  };
  g_fake.KernelInfoGetAttribute_float = [](const OrtKernelInfo*, const char*,
                                           float* out) noexcept -> OrtStatus* {
    *out = 0.5f;
    return nullptr;
  };
  g_fake.KernelInfoGetAttribute_string = [](const OrtKernelInfo*, const char*, char*,
                                            size_t* size) noexcept -> OrtStatus* {
    *size = std::numeric_limits<size_t>::max() / 2;  // more than any buffer can hold
    return nullptr;
  };
  g_fake.KernelInfoGetAttributeArray_int64 = [](const OrtKernelInfo*, const char*, int64_t*,
                                                size_t* size) noexcept -> OrtStatus* {
    *size = 0;
    return nullptr;
  };
  g_fake.KernelInfoGetAttributeArray_float = [](const OrtKernelInfo*, const char*, float*,
                                                size_t* size) noexcept -> OrtStatus* {
    *size = 0;
    return nullptr;
  };
}

// Calls the create callback ONNX Runtime would call for `op`, as ONNX Runtime decides it:
// CreateKernelV2 from OrtCustomOp version 16 on, else CreateKernel.
void create(const OpTable* op) {
  int info_storage = 0;
  const auto* info = reinterpret_cast<const OrtKernelInfo*>(&info_storage);
  void* kernel = nullptr;
  try {
#if ORT_API_VERSION >= 14
    if (op->version >= 16) {
      OrtStatus* status = op->CreateKernelV2(op, &g_fake, info, &kernel);
      if (status == nullptr) {
        std::printf("created\n");
      } else {
        std::printf("status %d %s\n", static_cast<int>(status->code), status->message.c_str());
      }
      return;
    }
#endif
    kernel = op->CreateKernel(op, &g_fake, info);
    std::printf("created\n");
  } catch (const std::runtime_error& e) {
    std::printf("runtime_error %s\n", e.what());
  } catch (const std::exception& e) {
    std::printf("ESCAPED std::exception %s\n", e.what());
  } catch (...) {
    std::printf("ESCAPED a non-standard exception\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ort_boundary RUNNING_VERSION\n");
    return 2;
  }
  g_running_version = argv[1];
  install_fake_api();
  const OrtApiBase base{[](uint32_t) noexcept -> const OrtApi* { return &g_fake; },
                        []() noexcept { return g_running_version.c_str(); }};
  if (OrtStatus* status = RegisterCustomOps(nullptr, &base)) {
    std::printf("RegisterCustomOps failed: %s\n", status->message.c_str());
    return 1;
  }
  const auto* op = static_cast<const OpTable*>(g_registered.at(0));
  std::printf("version %u\n", op->version);
  create(op);
  return 0;
}
