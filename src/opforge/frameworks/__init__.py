"""Framework adapters: one small Protocol (base.py), one folder per framework, one registry
dict. Each folder holds all that is specific to its framework; the rest of opforge asks the
adapter (cibuildwheel's platforms/ is the model).
"""

from __future__ import annotations

from opforge.core.errors import ToolchainError
from opforge.frameworks.base import (  # the package's interface
    CudaSupport, Framework, Toolchain, VersionVerdict, WheelFramework, check_version,
    installed_distribution, pin_problem, probe_installed, release_pin, release_refusal,
    with_libraries)

__all__ = ["CudaSupport", "Framework", "Toolchain", "VersionVerdict", "WheelFramework",
           "check_version", "get", "installed_distribution", "pin_problem", "probe_installed",
           "registry", "release_pin", "release_refusal", "with_libraries"]


def registry() -> dict[str, Framework]:
    from opforge.frameworks import onnxruntime, pytorch, tensorflow, tensorrt

    return {fw.name: fw for fw in (pytorch.ADAPTER, tensorflow.ADAPTER, onnxruntime.ADAPTER,
                                   tensorrt.ADAPTER)}


def get(name: str) -> Framework:
    frameworks = registry()
    if name not in frameworks:
        raise ToolchainError(f"no adapter for framework {name!r}; known: "
                             f"{', '.join(frameworks)}")
    return frameworks[name]
