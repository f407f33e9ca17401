"""Runs a TorchScript model for `opforge serve`'s Python-backend wrapper (deploy/serve_model.py).

Copied beside the wrapper into the generated model repository and loaded by path inside
Triton's stub, where opforge is not importable: standard library and PyTorch only. The op
libraries are loaded first, so the module's torch.ops calls resolve."""

from __future__ import annotations

import re

_INDEXED = re.compile(r"__(\d+)$")  # Triton's INPUT__0 / OUTPUT__1 naming


def _ordered(names: list[str]) -> list[str]:
    """Names in positional order: by their __N suffix when all have one, else as given."""
    if names and all(_INDEXED.search(n) for n in names):
        return sorted(names, key=lambda n: int(_INDEXED.search(n).group(1)))
    return list(names)


class Runner:
    def __init__(self, spec: dict, config: dict) -> None:
        import torch

        self.torch = torch
        for library in spec["libraries"]:
            torch.ops.load_library(library)
        self.module = torch.jit.load(spec["model_file"], map_location="cpu")
        self.module.eval()
        names = [i["name"] for i in config["input"]]
        if names and all(_INDEXED.search(n) for n in names):
            self.order = _ordered(names)
        else:  # by the forward method's argument names
            args = [a.name for a in self.module.forward.schema.arguments][1:]
            unknown = [n for n in names if n not in args]
            if unknown:
                raise ValueError(f"config inputs {unknown} are not arguments of the "
                                 f"TorchScript forward({', '.join(args)}); name them after "
                                 f"the arguments or INPUT__0, INPUT__1, ...")
            self.order = [a for a in args if a in names]
        self.outputs = _ordered([o["name"] for o in config["output"]])

    def run(self, inputs: dict) -> dict:
        """Triton tensors by input name -> tensors by output name (DLPack-capable)."""
        torch = self.torch
        args = [None if inputs[n] is None else torch.from_dlpack(inputs[n]) for n in self.order]
        with torch.inference_mode():
            result = self.module(*args)
        if isinstance(result, dict):
            return {k: v.contiguous() for k, v in result.items()}
        if isinstance(result, torch.Tensor):
            result = (result,)
        return {name: t.contiguous() for name, t in zip(self.outputs, result)}
