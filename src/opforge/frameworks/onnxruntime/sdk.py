"""Where ONNX Runtime's C API headers are: $ONNXRUNTIME_ROOT, well-known install paths, then
opforge's cache (several versions: the newest the release's runtime accepts). The search
order, the cache and fetching are generic (opforge.toolchain.sdk); what a root holds is here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from opforge.toolchain.sdk import SdkLocation, SdkMissing, cache_root, catalogue, choose, cached

NAME = "onnxruntime"
WELL_KNOWN = ["/opt/onnxruntime", "/usr/local/onnxruntime", "/usr/local", "/usr"]


def _include(root: Path) -> Path | None:
    for candidate in (root / "include", root / "include/onnxruntime/core/session",
                      root / "include/onnxruntime", root):
        if (candidate / "onnxruntime_c_api.h").is_file():
            return candidate
    return None


def api_version(include_dir: Path) -> int | None:
    """ORT_API_VERSION of the headers in include_dir."""
    text = (include_dir / "onnxruntime_c_api.h").read_text("utf-8", errors="replace")
    match = re.search(r"^#define ORT_API_VERSION (\d+)", text, re.M)
    return int(match[1]) if match else None


def location(root: Path, how: str) -> SdkLocation | None:
    """The headers under root (VERSION_NUMBER, else 1.<API>), or None."""
    include = _include(root)
    if include is None:
        return None
    api = api_version(include)
    version_file = root / "VERSION_NUMBER"
    version = version_file.read_text().strip() if version_file.is_file() else (
        f"1.{api}" if api else "")
    return SdkLocation(NAME, root, include, version, api, how)


def find(runtime: str | None = None, whose: str = "") -> SdkLocation | SdkMissing:
    """The ONNX Runtime headers to build with. `runtime` is the ONNX Runtime the library will
    run in (`whose`: e.g. "release 24.09"): of several cached versions, the newest no newer
    than it (the at-least rule: the loader accepts any runtime at least as new as the
    headers); without it, the newest."""
    missing = SdkMissing(NAME)
    env = catalogue()[NAME]["env"]
    if os.environ.get(env):
        root = Path(os.environ[env])
        found = location(root, f"${env}")
        if found:
            return found
        missing.tried.append(f"${env}={root} (no onnxruntime_c_api.h under include/)")
    for path in WELL_KNOWN:
        found = location(Path(path), "well-known path")
        if found:
            return found
    missing.tried.append(", ".join(WELL_KNOWN))
    in_cache = cached(NAME, location)
    if in_cache:
        return choose(NAME, in_cache, runtime, whose)
    missing.tried.append(f"the opforge cache {cache_root()}")
    return missing
