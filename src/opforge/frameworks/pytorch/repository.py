"""PyTorch models in a Triton model repository: TorchScript archives served by Triton's
PyTorch backend, whose code names every torch.ops call, and op libraries that register
their ops when loaded, so the launch script LD_PRELOADs them into tritonserver before any
model loads."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from opforge.core.errors import UserError

BACKEND = "pytorch"
PLATFORMS = ("pytorch_libtorch",)  # what older configs name instead of the backend
MODEL_FILES = ("model.pt",)  # what Triton looks for in a version folder
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
    """Op identity -> where it is called, for every torch.ops call in a TorchScript
    archive's code outside PyTorch's own namespaces."""
    found = set()
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UserError(f"{path}: not a TorchScript archive (a zip file, from "
                        f"torch.jit.save)") from None
    with archive:
        for name in archive.namelist():
            if "/code/" in name and name.endswith(".py"):
                text = archive.read(name).decode("utf-8", "replace")
                found |= {m for m in _OP_CALL.findall(text) if m[0] not in BUILTIN_NAMESPACES}
    return {f"{ns}::{op}": f"{path.name}: torch.ops.{ns}.{op}" for ns, op in sorted(found)}
