"""Modules that only some commands need, each from an extra of opforge (pyproject.toml), so
that installing opforge into an NGC framework container leaves the container's packages as
they are: tritonclient with its grpcio and protobuf (package, verify), scikit-build-core
(wheel), PyYAML (matrix --format gitlab)."""

from __future__ import annotations

import importlib
from types import ModuleType

from opforge.core.errors import ToolchainError


def need(module: str, command: str, extra: str) -> ModuleType:
    """Import `module` for `command`; missing, it is an error that names the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ToolchainError(f"{command} needs {module.partition('.')[0]} ({exc}): "
                             f"pip install 'opforge[{extra}]'") from None
