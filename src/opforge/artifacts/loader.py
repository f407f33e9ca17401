"""The runtime loader whole: the framework-neutral core (opforge.artifacts.runtime) with each
framework's loader functions (src/opforge/frameworks/<name>/loader.py).

Where it ships (opforge_runtime.py in every artifact folder, _opforge_runtime.py in a wheel)
it is one file: the core followed verbatim by each framework's loader.py, which registers
itself with the core's register(); no text of it is generated. Inside opforge, the core is
imported as it is and the adapters register the same functions into it.
"""

from __future__ import annotations

from pathlib import Path

from opforge import frameworks
from opforge.artifacts import runtime


def shipped_source() -> str:
    """The text of the shipped loader: the core, then each framework's loader.py."""
    parts = [runtime.__file__] + [fw.loader_source for fw in frameworks.registry().values()]
    return "\n\n\n".join(Path(part).read_text("utf-8").rstrip("\n") for part in parts) + "\n"


def load(path: Path | str, **options):
    """opforge's own in-process load of an artifact: the core's load, with every
    framework's loader functions registered first (as the shipped file has them)."""
    register_frameworks()
    return runtime.load(path, **options)


def register_frameworks() -> None:
    """Register every framework's loader functions into the core, as the shipped file does
    (idempotent): before opforge itself checks or loads an artifact."""
    for fw in frameworks.registry().values():
        fw.register_loader(runtime.register)
