"""PyTorch models in a Triton model repository, served by Triton's PyTorch backend:
TorchScript archives (`model.pt`, platform pytorch_libtorch), whose code names every
torch.ops call, and AOTInductor packages (`model.pt2`, platform torch_aoti, from Triton
26.03), whose extern-kernel JSON names every op the compiled wrapper hands back to PyTorch's
dispatcher (custom ops always are: only ATen ops have C shims). Op libraries register their
ops when loaded, so the launch script LD_PRELOADs them into tritonserver before any model
loads; both formats find them that way."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from opforge.core.errors import UserError

BACKEND = "pytorch"
# what configs name as platform: TorchScript (older configs name it instead of the backend)
# and AOTInductor packages (Triton 26.03 on; the backend tells the two apart by platform)
PLATFORMS = ("pytorch_libtorch", "torch_aoti")
MODEL_FILES = ("model.pt", "model.pt2")  # what Triton looks for in a version folder
# Triton's defaults per platform (core's constants.h: kPyTorchLibTorchFilename "model.pt",
# kPyTorchAotiFilename "model.pt2"); without a platform the backend runs TorchScript
PLATFORM_FILES = {"": ("model.pt",), "pytorch_libtorch": ("model.pt",),
                  "torch_aoti": ("model.pt2",)}
PLATFORM_SINCE = {"torch_aoti": "26.03"}  # the PyTorch backend's AOTInductor models
AOTI_DIR = "data/aotinductor/"  # where a PT2 archive keeps AOTInductor's compiled models
OP_LOADING = "preload"
OP_KIND = "TorchScript ops"  # what the launch script's comment calls these libraries' ops

# op namespaces that PyTorch itself (or the libraries in Triton's PyTorch backend) provide
BUILTIN_NAMESPACES = {"aten", "prim", "prims", "quantized", "_quantized", "_caffe2",
                      "profiler", "cuda", "c10d", "_c10d_functional", "mkldnn", "mkl",
                      "xnnpack", "fbgemm", "sparse", "inductor", "higher_order",
                      "rngprims", "quantized_decomposed", "torchvision", "image",
                      "_nested_tensor", "debugprims", "_test", "onednn"}
_OP_CALL = re.compile(r"\bops\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)")


def model_ops(path: Path) -> dict[str, str]:
    """Op identity -> where it is called, for every op outside PyTorch's own namespaces that a
    TorchScript archive's code or an AOTInductor package's compiled models call."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UserError(f"{path}: not a TorchScript archive or AOTInductor package (both "
                        f"are zip files: from torch.jit.save, or "
                        f"torch._inductor.aoti_compile_and_package)") from None
    with archive:
        names = archive.namelist()
        if any(AOTI_DIR in name for name in names):
            return _aoti_ops(path, archive, names)
        if path.suffix == ".pt2":
            raise UserError(f"{path}: a PT2 archive without AOTInductor models ({AOTI_DIR}); "
                            f"Triton's torch_aoti platform serves packages made by "
                            f"torch._inductor.aoti_compile_and_package, not torch.export.save "
                            f"archives")
        return _torchscript_ops(path, archive, names)


def _torchscript_ops(path: Path, archive: zipfile.ZipFile, names: list[str]) -> dict[str, str]:
    found = set()
    for name in names:
        if "/code/" in name and name.endswith(".py"):
            text = archive.read(name).decode("utf-8", "replace")
            found |= {m for m in _OP_CALL.findall(text) if m[0] not in BUILTIN_NAMESPACES}
    return {f"{ns}::{op}": f"{path.name}: torch.ops.{ns}.{op}" for ns, op in sorted(found)}


def _aoti_ops(path: Path, archive: zipfile.ZipFile, names: list[str]) -> dict[str, str]:
    """The targets of each compiled model's extern kernel nodes: `<model>/data/aotinductor/
    <name>/<hash>.json` (beside its `.wrapper.cpp` and `.so`), the list AOTInductor's proxy
    executor reads at run time to call ops through the dispatcher; a node's target is the
    op's qualified name, with `.overload` unless it is the default one."""
    found = {}
    for name in names:
        if AOTI_DIR not in name or not name.endswith(".json") or name.endswith(
                "_metadata.json"):
            continue
        try:
            nodes = json.loads(archive.read(name)).get("nodes", [])
            targets = [node["node"]["target"] for node in nodes]
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: {name} is not AOTInductor's list of extern kernel calls "
                            f"({type(exc).__name__}: {exc}); make the package again with "
                            f"torch._inductor.aoti_compile_and_package") from None
        for target in targets:
            identity = str(target).split(".")[0]
            if "::" in identity and identity.split("::")[0] not in BUILTIN_NAMESPACES:
                found.setdefault(identity, f"{path.name}: extern kernel {target}")
    return dict(sorted(found.items()))
