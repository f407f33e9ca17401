"""Runs a PyTorch model for `opforge serve`'s Python-backend wrapper (deploy/serve_model.py):
a TorchScript archive (platform pytorch_libtorch), or an AOTInductor package (platform
torch_aoti), loaded with torch._inductor.aoti_load_package as Triton's PyTorch backend loads
it with AOTIModelPackageLoader.

Copied beside the wrapper into the generated model repository and loaded by path inside
Triton's stub, where opforge is not importable: standard library and PyTorch only. The op
libraries are loaded first, so the module's torch.ops calls (and the package's extern kernel
calls) resolve."""

from __future__ import annotations

import json
import re
import zipfile

_INDEXED = re.compile(r"__(\d+)$")  # Triton's INPUT__0 / OUTPUT__1 naming
AOTI_PLATFORM = "torch_aoti"
AOTI_TORCH = (2, 6)  # torch._inductor.aoti_load_package and the .pt2 package format


def _ordered(names: list[str]) -> list[str]:
    """Names in positional order: by their __N suffix when all have one, else as given."""
    if names and all(_INDEXED.search(n) for n in names):
        return sorted(names, key=lambda n: int(_INDEXED.search(n).group(1)))
    return list(names)


def aoti_problem(version: str, has_loader: bool) -> str | None:
    """Why this torch cannot load AOTInductor packages, or None when it can."""
    numbers = re.match(r"(\d+)\.(\d+)", version)
    if has_loader and numbers and tuple(map(int, numbers.groups())) >= AOTI_TORCH:
        return None
    return (f"PyTorch {version} cannot load AOTInductor packages (platform {AOTI_PLATFORM}): "
            f"torch._inductor.aoti_load_package needs PyTorch "
            f"{'.'.join(map(str, AOTI_TORCH))} or newer; install a newer torch in the "
            f"environment opforge serve runs in, or serve the TorchScript model")


def _package_device(path: str) -> str:
    """The device an AOTInductor package was compiled for (its metadata's AOTI_DEVICE_KEY)."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if "data/aotinductor/" in name and name.endswith("_metadata.json"):
                return json.loads(archive.read(name)).get("AOTI_DEVICE_KEY") or "cpu"
    raise ValueError(f"{path}: no AOTInductor model in it (data/aotinductor/); a torch_aoti "
                     f"model file is a package from torch._inductor.aoti_compile_and_package")


def _kwarg_names(call_spec: list[str]) -> tuple[int, list[str]] | None:
    """(positional count, keyword names) of an AOTInductor model's input spec (a serialized
    pytree: a tuple of (args tuple, kwargs dict)); None when its form is not that."""
    try:
        spec = json.loads(call_spec[0])[1]
        args, kwargs = spec["children_spec"]
        return len(args["children_spec"]), json.loads(kwargs["context"]) or []
    except (ValueError, KeyError, TypeError, IndexError):
        return None


class Runner:
    def __init__(self, spec: dict, config: dict) -> None:
        import torch

        self.torch = torch
        self.device = "cpu"
        for library in spec["libraries"]:
            torch.ops.load_library(library)
        names = [i["name"] for i in config["input"]]
        self.kwargs: list[str] = []
        if spec.get("platform") == AOTI_PLATFORM:
            self.order = self._load_aoti(spec["model_file"], names)
        else:
            self.order = self._load_torchscript(spec["model_file"], names)
        self.outputs = _ordered([o["name"] for o in config["output"]])

    def _load_torchscript(self, path: str, names: list[str]) -> list[str]:
        self.module = self.torch.jit.load(path, map_location="cpu")
        self.module.eval()
        if names and all(_INDEXED.search(n) for n in names):
            return _ordered(names)
        args = [a.name for a in self.module.forward.schema.arguments][1:]  # by argument name
        unknown = [n for n in names if n not in args]
        if unknown:
            raise ValueError(f"config inputs {unknown} are not arguments of the "
                             f"TorchScript forward({', '.join(args)}); name them after "
                             f"the arguments or INPUT__0, INPUT__1, ...")
        return [a for a in args if a in names]

    def _load_aoti(self, path: str, names: list[str]) -> list[str]:
        """Positional inputs in config order (by __N when every name has one), the keyword
        inputs of the exported forward by name: what Triton's backend does for ARGS and
        KWARGS (the package records no positional names)."""
        torch = self.torch
        import torch._inductor

        problem = aoti_problem(torch.__version__, hasattr(torch._inductor, "aoti_load_package"))
        if problem:
            raise RuntimeError(problem)
        self.device = _package_device(path)
        self.module = torch._inductor.aoti_load_package(path)
        shape = _kwarg_names(self.module.loader.get_call_spec())
        self.kwargs = [n for n in names if shape and n in shape[1]]
        order = _ordered([n for n in names if n not in self.kwargs])
        if shape and (len(order), sorted(self.kwargs)) != (shape[0], sorted(shape[1])):
            raise ValueError(f"the AOTInductor package takes {shape[0]} positional inputs and "
                             f"keyword inputs {shape[1]}; the config gives {len(order)} "
                             f"positional ({', '.join(order)}) and keyword {self.kwargs}")
        return order

    def run(self, inputs: dict) -> dict:
        """Triton tensors by input name -> tensors by output name (DLPack-capable)."""
        torch = self.torch

        def tensor(name):
            value = inputs[name]
            return None if value is None else torch.from_dlpack(value).to(self.device)
        args = [tensor(n) for n in self.order]
        kwargs = {n: tensor(n) for n in self.kwargs}
        with torch.inference_mode():
            result = self.module(*args, **kwargs)
        if isinstance(result, dict):
            return {k: v.contiguous().cpu() for k, v in result.items()}
        if isinstance(result, torch.Tensor):
            result = (result,)
        return {name: t.contiguous().cpu() for name, t in zip(self.outputs, result)}
