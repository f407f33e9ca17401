"""`opforge new`: a recipe with a kernel and test vectors that builds and passes as is."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from .codegen import environment
from .errors import UserError
from .frameworks import registry


def new(folder: Path, namespace: str | None, frameworks: list[str] | None) -> list[Path]:
    package = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", package or "-"):
        raise UserError(f"cannot derive a package name from {folder.name!r}; use a folder name "
                        f"of letters, digits and '-'")
    namespace = namespace or package.replace("-", "_")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", namespace):
        raise UserError(f"namespace {namespace!r} (from --namespace or the folder name) must "
                        f"be a lower-case identifier starting with a letter; pass "
                        f"--namespace")
    known = list(registry())
    frameworks = frameworks or known
    unknown = [f for f in frameworks if f not in known]
    if unknown:
        raise UserError(f"--framework {', '.join(unknown)}: not a framework opforge builds "
                        f"({', '.join(known)})")
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} exists and is not empty; choose a new folder")
    env = environment()
    ctx = {"package": package, "namespace": namespace, "frameworks": frameworks}
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        (staging / "kernels").mkdir()
        (staging / "recipe.toml").write_text(env.get_template("new/recipe.toml.j2").render(ctx))
        (staging / "kernels" / "scale.cc").write_text(
            env.get_template("new/scale.cc.j2").render(ctx))
        (staging / ".gitignore").write_text("build/\ndist/\n")
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / "recipe.toml", folder / "kernels" / "scale.cc"]
