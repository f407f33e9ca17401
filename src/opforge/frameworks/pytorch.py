"""PyTorch: TorchScript ops registered with TORCH_LIBRARY, loaded by Triton's PyTorch
backend through LD_PRELOAD (or torch.ops.load_library in a Python model)."""

from __future__ import annotations

from typing import Any

from . import WheelFramework


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
    "extra": {"cuda": torch.version.cuda, "library_dir": lib},
}))
"""

class PyTorch(WheelFramework):
    name = "pytorch"
    title = "PyTorch"
    pin_key = "pytorch"
    distributions = ("torch",)
    install_hint = "pip install 'opforge[pytorch]'"
    triton_loading = "LD_PRELOAD the library into tritonserver (PyTorch backend)"
    glue_template = "pytorch/glue.cc.j2"
    probe = _PROBE

    def op_identity(self, recipe, op) -> str:
        return f"{recipe.package.namespace}::{op.name}"

    def call_op(self, handle: Any, recipe: dict, op: dict, inputs: dict, attrs: dict) -> dict:
        import torch

        fn = getattr(getattr(torch.ops, recipe["namespace"]), op["name"])
        args = [torch.from_numpy(inputs[i["name"]]) for i in op["inputs"]]
        with torch.no_grad():
            result = fn(*args, **attrs)
        if isinstance(result, torch.Tensor):
            result = (result,)
        return {o["name"]: r.numpy() for o, r in zip(op["outputs"], result)}


ADAPTER = PyTorch()
