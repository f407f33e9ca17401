"""PyTorch: TorchScript ops registered with TORCH_LIBRARY, loaded by Triton's PyTorch
backend through LD_PRELOAD (or torch.ops.load_library in a Python model)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opforge.core.errors import RecipeError
from opforge.frameworks.base import CudaSupport, Toolchain, WheelFramework
from opforge.frameworks.pytorch import ci, codegen, loader, repository, types

if TYPE_CHECKING:
    from opforge.recipe import LoadedRecipe


_PROBE = r"""
import json, os, re, inspect
import torch
from torch.utils import cpp_extension
root = os.path.dirname(torch.__file__)
lib = os.path.join(root, "lib")
stds = [int(s) for s in re.findall(r"-std=c\+\+(\d+)", inspect.getsource(cpp_extension))]
print(json.dumps({
    "framework": "pytorch",
    "version": torch.__version__,
    "location": root,
    "include_dirs": [os.path.join(root, "include")],
    "link_libraries": [os.path.join(lib, n) for n in ("libc10.so", "libtorch_cpu.so")
                       if os.path.exists(os.path.join(lib, n))],
    "definitions": [],
    "cxx_standard": max(stds) if stds else 17,
    "cxx11_abi": int(torch._C._GLIBCXX_USE_CXX11_ABI),
    "extra": {"cuda": torch.version.cuda, "library_dir": lib,
              "cuda_libraries": [os.path.join(lib, n) for n in ("libc10_cuda.so",)
                                 if os.path.exists(os.path.join(lib, n))],
              "cuda_headers_missing": [h for h in ("c10/cuda/impl/cuda_cmake_macros.h",)
                                       if not os.path.exists(os.path.join(root, "include", h))]},
}))
"""

# The first PyTorch whose stable API has all the glue needs (torch/csrc/stable/ops.h: empty,
# new_empty and contiguous are "Minimum compatible version: PyTorch 2.10";
# stableivalue_conversions.h unboxes std::vector and std::string only under
# TORCH_FEATURE_VERSION >= TORCH_VERSION_2_10_0; library.h's impl() goes through
# torch_library_impl from 2.10)
STABLE_ABI_OLDEST = (2, 10)


class PyTorch(WheelFramework):
    name = "pytorch"
    title = "PyTorch"
    pin_key = "pytorch"
    distributions = ("torch",)
    install_hint = "pip install 'opforge[pytorch]'"
    backend_libraries = "pytorch"
    triton_loading = "LD_PRELOAD the library into tritonserver (PyTorch backend)"
    probe = _PROBE
    container_variable = "NVIDIA_PYTORCH_VERSION"  # its NGC containers set it
    stable_abi_oldest = STABLE_ABI_OLDEST

    def op_identity(self, recipe, op, native: bool = False) -> str:
        return f"{recipe.package.namespace}::{op.name}"

    def recipe_toolchain(self, toolchain: Toolchain, recipe: LoadedRecipe) -> Toolchain:
        """With build.stable_abi's pytorch: the stable-ABI glue (glue_stable.cc.j2), compiled
        for the target (TORCH_TARGET_VERSION) and linking libtorch_cpu alone, whose C shim
        is all it calls; at least the target is what it loads in."""
        target = recipe.model.build.stable_abi.get(self.name)
        if target is None:
            return toolchain
        if problem := stable_abi_problem(toolchain, target):
            raise RecipeError(f"{recipe.path}: build.stable_abi.pytorch = \"{target}\": "
                              f"{problem}")
        return replace(toolchain, definitions=[*toolchain.definitions,
                                               f"TORCH_TARGET_VERSION={target_version(target)}"],
                       link_libraries=[lib for lib in toolchain.link_libraries
                                       if os.path.basename(lib) == "libtorch_cpu.so"],
                       extra={**toolchain.extra, "stable_abi": target, "abi_target": target,
                              "compatibility": "at-least",
                              "glue_template": "pytorch/glue_stable.cc.j2"})

    def cuda_support(self, toolchain: Toolchain) -> CudaSupport:
        """The CUDA glue takes the device guard and the current stream from c10_cuda (the
        stable-ABI glue from the C shim: nothing more to link, even from a CPU-only torch)."""
        if toolchain.extra.get("stable_abi"):
            return CudaSupport([])
        found = toolchain.extra.get("cuda_libraries") or []
        if toolchain.extra.get("cuda") and found:
            return CudaSupport(list(found))
        headers = toolchain.extra.get("cuda_headers_missing") or []
        lib = toolchain.extra.get("library_dir")
        problem = (f"PyTorch {toolchain.version} is a CPU-only build (torch.version.cuda is "
                   f"None; {lib} has no libc10_cuda.so, which the CUDA glue links for the "
                   f"device guard and the current stream")
        problem += (f", and its include/ lacks {', '.join(headers)}, which c10/cuda headers "
                    f"include, so the CUDA glue cannot even compile)" if headers else ")")
        problem += (". Install a CUDA build of torch (pip install torch --index-url "
                    "https://download.pytorch.org/whl/cu126, say) or build inside the "
                    "release's NGC PyTorch container")
        return CudaSupport([], problem, compiles=not headers)

    def call_op(self, handle: Any, recipe: dict, op: dict, inputs: dict, attrs: dict,
                device: str = "cpu") -> dict:
        import torch

        fn = getattr(getattr(torch.ops, recipe["namespace"]), op["name"])
        # an absent optional input is None (the schema's `Tensor? name=None`)
        args = [to_torch(inputs[i["name"]]).to(device) if i["name"] in inputs else None
                for i in op["inputs"]]
        with torch.no_grad():
            result = fn(*args, **attrs)
        if isinstance(result, torch.Tensor):
            result = (result,)
        return {o["name"]: from_torch(r.cpu()) for o, r in zip(op["outputs"], result)}

    # --- artifacts (runtime loader, inventory, audit) ---
    framework_libraries = (r"libc10\.so", r"libtorch(_cpu|_cuda|_python)?\.so",
                           r"libc10_cuda\.so", r"libgomp.*\.so.*")
    required_entry_points = ()
    optional_entry_point_advice = ("", "")  # no entry points



def target_version(target: str) -> str:
    """TORCH_TARGET_VERSION of "2.10": major and minor in the top bytes (torch/csrc/stable/
    version.h)."""
    major, minor = (int(p) for p in target.split("."))
    return f"0x{major:02x}{minor:02x}000000000000"


def stable_abi_problem(toolchain: Toolchain, target: str) -> str:
    """Why the installed PyTorch cannot build a stable-ABI library for `target` ("" when it
    can)."""
    want = tuple(int(p) for p in target.split("."))
    have = tuple(int(p) for p in toolchain.version.split("+")[0].split(".")[:2]
                 if p.isdigit())
    headers = os.path.join(toolchain.include_dirs[0], "torch", "csrc", "stable", "library.h")
    if want[:1] != STABLE_ABI_OLDEST[:1] or want < STABLE_ABI_OLDEST:
        return (f"the stable API before PyTorch 2.10 lacks what the glue needs: "
                f"torch::stable::empty, new_empty and contiguous (torch/csrc/stable/ops.h, "
                f"'Minimum compatible version: PyTorch 2.10') and unboxing int[], float[] and "
                f"str arguments (stableivalue_conversions.h, TORCH_VERSION_2_10_0); use a 2.x "
                f"of 2.10 or newer")
    if want > have:
        return (f"the installed PyTorch {toolchain.version} is older than the target; its "
                f"headers know no stable ABI of {target}. Build with PyTorch {target} or newer "
                f"installed, or lower the target")
    if not os.path.exists(headers):
        return f"the installed PyTorch {toolchain.version} has no {headers}"
    if not any(os.path.basename(lib) == "libtorch_cpu.so" for lib in toolchain.link_libraries):
        return (f"the installed PyTorch {toolchain.version} has no libtorch_cpu.so, whose C "
                f"shim a stable-ABI library calls")
    return ""


# dtypes torch.from_numpy and Tensor.numpy do not take (ml_dtypes' bfloat16 and FP8 on the
# numpy side) -> the integer of their width, through which both sides view the same bytes
BIT_VIEWS = {"bfloat16": "int16", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8"}


def to_torch(array):
    """A numpy array as a torch tensor of its dtype, sharing its bytes."""
    import torch

    if (bits := BIT_VIEWS.get(array.dtype.name)) is None:
        return torch.from_numpy(array)
    return torch.from_numpy(array.view(bits)).view(getattr(torch, array.dtype.name))


def from_torch(tensor):
    """A CPU torch tensor as a numpy array of its dtype (ml_dtypes' where numpy has none)."""
    import torch

    name = str(tensor.dtype).removeprefix("torch.")
    if (bits := BIT_VIEWS.get(name)) is None:
        return tensor.numpy()
    from opforge.recipe.dtypes import numpy_dtype

    return tensor.view(getattr(torch, bits)).numpy().view(numpy_dtype(name))


ADAPTER = PyTorch(ci=ci, codegen=codegen, loader=loader, repository=repository,
                  types=types)
