"""`opforge new`: a recipe with a kernel and test vectors that builds and passes as is."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from opforge.build.codegen import environment
from opforge.core.errors import UserError
from opforge.frameworks import registry
from opforge.recipe import namespace_problem


def new(folder: Path, namespace: str | None, frameworks: list[str] | None,
        cuda: bool = False) -> list[Path]:
    """Create `folder` with a recipe, its kernel(s) and test vectors. Without --framework it
    targets every framework that runs on the CPU (a framework missing here is skipped by the
    build with how to get it); with `cuda` also a CUDA kernel and TensorRT (GPU only)."""
    package = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", package or "-"):
        raise UserError(f"cannot derive a package name from {folder.name!r}; use a folder name "
                        f"of letters, digits and '-'")
    namespace = namespace or package.replace("-", "_")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", namespace):
        raise UserError(f"namespace {namespace!r} (from --namespace or the folder name) must "
                        f"be a lower-case identifier starting with a letter; pass "
                        f"--namespace")
    if why := namespace_problem(namespace):
        raise UserError(f"namespace {namespace!r} (from --namespace or the folder name): "
                        f"{why}; pass --namespace")
    adapters = registry()
    frameworks = frameworks or [name for name, fw in adapters.items()
                                if cuda or not fw.requires_cuda]
    unknown = [f for f in frameworks if f not in adapters]
    if unknown:
        raise UserError(f"--framework {', '.join(unknown)}: not a framework opforge builds "
                        f"({', '.join(adapters)})")
    gpu_only = [f for f in frameworks if adapters[f].requires_cuda]
    if gpu_only and not cuda:
        raise UserError(f"--framework {', '.join(gpu_only)}: its ops run on the GPU only, so "
                        f"the scaffold needs a CUDA kernel too; add --cuda")
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} exists and is not empty; choose a new folder")
    env = environment()
    ctx = {"package": package, "namespace": namespace, "frameworks": frameworks, "cuda": cuda}
    kernels = ["scale.cc", *(["scale.cu"] if cuda else [])]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        (staging / "kernels").mkdir()
        (staging / "recipe.toml").write_text(env.get_template("new/recipe.toml.j2").render(ctx))
        for kernel in kernels:
            (staging / "kernels" / kernel).write_text(
                env.get_template(f"new/{kernel}.j2").render(ctx))
        (staging / ".gitignore").write_text("build/\ndist/\n")
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / "recipe.toml", *(folder / "kernels" / k for k in kernels)]
