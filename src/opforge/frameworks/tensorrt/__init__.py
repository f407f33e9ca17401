"""TensorRT: one IPluginV3 plugin per op (IPluginV3OneCore/OneBuild/OneRuntime with an
IPluginCreatorV3One), registered when the library is loaded, which is how Triton's TensorRT
backend uses plugin libraries (--backend-config=tensorrt,plugins=...); getCreators and
setLoggerFinder are exported too, for IPluginRegistry::loadLibrary and trtexec
--dynamicPlugins.

TensorRT is GPU-only: every op needs a CUDA kernel. IPluginV3 exists from TensorRT 10.0;
an older TensorRT (a release before 24.05) is refused. The headers come from TENSORRT_ROOT
or the NGC container layout (sdk.find). The library needs libnvinfer (for
getPluginRegistry): where only headers are present, it links against a stub with
libnvinfer's soname, as the CUDA toolkit does for libcuda, and the real library is found
at load time inside Triton.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from opforge.toolchain.sdk import SdkLocation, SdkMissing, missing_message
from opforge.core.errors import ReleaseError, ToolchainError
from opforge.frameworks.base import (CudaSupport, Toolchain, TritonserverImage)
from opforge.frameworks.tensorrt import ci, codegen, loader, repository, types, sdk

MIN_VERSION = Version("10.0")  # IPluginV3 and IPluginCreatorV3One appeared in TensorRT 10.0


def too_old(version: str) -> bool:
    try:
        return Version(version) < MIN_VERSION
    except InvalidVersion:
        return False


class TensorRT(TritonserverImage):
    name = "tensorrt"
    title = "TensorRT"
    pin_key = "tensorrt"
    distributions = ("tensorrt", "tensorrt-cu12", "tensorrt-cu13")
    install_hint = "the TensorRT SDK (TENSORRT_ROOT) or the release's NGC container"
    backend_libraries = None  # libnvinfer lives in the system library folder
    triton_loading = ("--backend-config=tensorrt,plugins=<library> (TensorRT backend; plugins "
                      "register on load), or LD_PRELOAD")
    abi_sensitive = False  # TensorRT's interfaces are abstract classes; no std:: types cross
    exported_symbols = ("getCreators", "setLoggerFinder")
    # IPluginV3's capability interfaces are versioned: a plugin built against TensorRT 10.x
    # headers loads into a later 10.y (libnvinfer.so.10); another major has another soname.
    compatibility = "at-least"
    requires_cuda = True
    untestable = ("TensorRT plugins run inside a TensorRT engine on a GPU; opforge test does "
                  "not build engines yet (use trtexec --dynamicPlugins with the library)")

    def detect(self, release=None) -> Toolchain:
        found = sdk.find()
        if isinstance(found, SdkMissing):
            raise ToolchainError(missing_message(found, None))
        if not found.version:
            raise ToolchainError(f"{found.include_dir}/NvInferVersion.h gives no TensorRT "
                                 f"version; point TENSORRT_ROOT at a complete TensorRT release")
        if too_old(found.version):
            raise ToolchainError(
                f"TensorRT {found.version} ({found.include_dir}) has no IPluginV3, which "
                f"opforge's plugins implement (it appeared in TensorRT 10.0); use TensorRT "
                f">= 10.0 (Triton releases from 24.05 ship it)")
        return Toolchain("tensorrt", found.version, str(found.root), [str(found.include_dir)],
                         [str(found.library)] if found.library else [], [], 17, 1,
                         {"found_by": found.how, "library": str(found.library or ""),
                          "major": found.version.split(".")[0]})

    def check_release(self, release) -> None:
        if release.is_local:
            return None
        pin = release.pin(self.pin_key)
        if pin.known and too_old(pin.value):
            raise ReleaseError(
                f"Triton release {release.id} ships TensorRT {pin.value}, which has no "
                f"IPluginV3 (added in TensorRT 10.0); opforge builds TensorRT plugins for "
                f"releases with TensorRT >= 10 (24.05 and later)")
        return None

    def cuda_support(self, toolchain: Toolchain) -> CudaSupport:
        return CudaSupport()

    def link_stub(self, toolchain: Toolchain) -> dict | None:
        """With headers only, link against a stub with libnvinfer's soname (getPluginRegistry
        only): the plugin library then names libnvinfer.so.<major> as needed, and the real
        one, already loaded by TensorRT, is what it binds to at run time."""
        if toolchain.link_libraries:
            return None
        major = toolchain.extra["major"]
        return {"name": "nvinfer", "soversion": major, "soname": f"libnvinfer.so.{major}",
                "source": "extern \"C\" __attribute__((visibility(\"default\"))) void* "
                          "getPluginRegistry() noexcept { return nullptr; }\n"}

    def op_identity(self, recipe, op, native: bool = False) -> str:
        ns = recipe.package.namespace
        version = "" if native else ", version 1"
        return f"{ns}::{op.name} (TensorRT plugin {op.name}{version}, namespace {ns})"

    def call_op(self, handle: Any, recipe: dict, op: dict, inputs: dict, attrs: dict,
                device: str = "cpu") -> dict:
        raise ToolchainError(self.untestable)

    # --- artifacts (runtime loader, inventory, audit) ---
    framework_libraries = (r"libnvinfer\.so\.\d+", r"libnvinfer_plugin\.so\.\d+")
    required_entry_points = ()
    optional_entry_point_advice = (
        "loading through IPluginRegistry::loadLibrary or trtexec --dynamicPlugins needs it "
        "(Triton's --backend-config=tensorrt,plugins= does not)",
        'define extern "C" {name} (see TensorRT\'s plugin library docs)')

    # --- SDKs (toolchain/sdk) ---
    def find_sdk(self, release=None) -> SdkLocation | SdkMissing:
        return sdk.find()

    def sdk_at(self, root: Path, how: str) -> SdkLocation | None:
        return sdk.root_location(root, how)

    # --- code generation and the recipe (codegen, recipe) ---
    def op_problems(self, op, devices: list[str]) -> list[tuple[tuple, str]]:
        """Plugins run CUDA kernels (TensorRT's tensor types: the recipe's dtype check) and
        take every input."""
        problems = [(("inputs", i, "optional"),
                      f"TensorRT cannot run op {op.name} with its input {t.name!r} absent: a "
                      f"plugin (IPluginV3) has a fixed number of inputs, and TensorRT has no "
                      f"absent tensor to give it; build this op in a recipe without tensorrt, "
                      f"or declare a second op without the input for TensorRT")
                     for i, t in enumerate(op.inputs) if t.optional]
        for i, (name, part) in op.shrinking_scratch().items():
            problems.append((("scratch", i, "shape"),
                             f"TensorRT sizes op {op.name}'s scratch once, at the largest input "
                             f"shapes of the optimisation profile, so a scratch shape must not "
                             f"shrink as inputs grow, and {part} does (an input dim after '-' or "
                             f"in a divisor); size {name!r} by an expression that only grows (an "
                             f"upper bound is fine)"))
        if op.cuda is None:
            problems.append((("name",), f"op {op.name} has no cuda kernel, but TensorRT "
                                        f"(in target.frameworks) runs plugins on GPUs only; "
                                        f"add cuda = \"kernels/....cu\""))
        return problems


ADAPTER = TensorRT(ci=ci, codegen=codegen, loader=loader, repository=repository,
                   types=types)
