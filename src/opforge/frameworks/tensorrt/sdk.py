"""Where TensorRT's headers (and libnvinfer, when present) are: $TENSORRT_ROOT, then the NGC
containers' Debian layout and tarball installs. TensorRT is found, never fetched."""

from __future__ import annotations

import os
import re
from pathlib import Path

from opforge.toolchain.sdk import SdkLocation, SdkMissing, catalogue

NAME = "tensorrt"
# (include dir, library dir): the NGC containers' Debian layout, then tarball installs
WELL_KNOWN = [("/usr/include/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"),
              ("/usr/local/tensorrt/include", "/usr/local/tensorrt/lib"),
              ("/opt/tensorrt/include", "/opt/tensorrt/lib")]


def version_of(include_dir: Path) -> str | None:
    """MAJOR.MINOR.PATCH.BUILD from NvInferVersion.h (TensorRT 11 defines the numbers through
    TRT_*_ENTERPRISE macros; 10 and older directly)."""
    try:
        text = (include_dir / "NvInferVersion.h").read_text("utf-8", errors="replace")
    except OSError:
        return None
    defines = dict(re.findall(r"^#define\s+(\w+)\s+(\w+)", text, re.M))

    def number(part: str) -> str | None:
        value = defines.get(f"NV_TENSORRT_{part}")
        for _ in range(3):  # follow NV_TENSORRT_MAJOR -> TRT_MAJOR_ENTERPRISE -> 11
            if value is None or value.isdigit():
                break
            value = defines.get(value)
        return value if value and value.isdigit() else None

    parts = [number(p) for p in ("MAJOR", "MINOR", "PATCH", "BUILD")]
    if None in parts[:2]:
        return None
    return ".".join(p for p in parts if p is not None)


def location(include: Path, lib_dir: Path | None, root: Path, how: str) -> SdkLocation | None:
    """The headers in include (and libnvinfer in lib_dir, when there), or None."""
    if not (include / "NvInfer.h").is_file():
        return None
    version = version_of(include) or ""
    major = version.split(".")[0]
    library = None
    if lib_dir is not None:
        for name in (f"libnvinfer.so.{major}", "libnvinfer.so"):
            if (lib_dir / name).exists():
                library = lib_dir / name
                break
    return SdkLocation(NAME, root, include, version, None, how, library)


def root_location(root: Path, how: str) -> SdkLocation | None:
    """An unpacked TensorRT release at root (include/, lib/)."""
    return location(root / "include", root / "lib", root, how)


def find() -> SdkLocation | SdkMissing:
    missing = SdkMissing(NAME)
    env = catalogue()[NAME]["env"]
    if os.environ.get(env):
        root = Path(os.environ[env])
        found = root_location(root, f"${env}")
        if found:
            return found
        missing.tried.append(f"${env}={root} (no include/NvInfer.h)")
    for include, lib in WELL_KNOWN:
        found = location(Path(include), Path(lib), Path(include).parent, "well-known path")
        if found:
            return found
    missing.tried.append(", ".join(i for i, _ in WELL_KNOWN))
    return missing
