"""PyTorch's part of the runtime loader (opforge.artifacts.runtime is the core).

Appended verbatim to the core in the opforge_runtime.py that ships with every artifact, so:
stdlib only at module level (torch is imported inside the functions), no `from __future__`,
no opforge imports, names unique across the frameworks' loader files. Inside opforge the
adapter hands register_pytorch to the core instead (opforge.artifacts.loader).
"""


def running_pytorch() -> dict:
    import torch

    return {"version": torch.__version__, "cxx11_abi": int(torch._C._GLIBCXX_USE_CXX11_ABI)}


def load_pytorch(library: str):
    import torch

    torch.ops.load_library(library)
    return torch.ops


def register_pytorch(register) -> None:
    register("pytorch", running_pytorch, load_pytorch)


if "register" in globals():  # appended to the core: the shipped opforge_runtime.py
    register_pytorch(register)  # noqa: F821 (the core's)
