"""What CMake really built, and with which flags: the CMake File API (codemodel v2).

Before configuring, opforge drops a query into the binary folder
(`.cmake/api/v1/query/client-opforge/codemodel-v2`); CMake answers under `.cmake/api/v1/reply/`
on every configure, its own re-configures under ninja included. The manifest's compiler flags,
definitions, include folders and linked libraries are read from that reply, never from the
strings opforge handed CMake (scikit-build-core's file_api/ is the model: a stateless query,
then typed objects read from the newest index).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from opforge.core.errors import BuildError

CLIENT = "client-opforge"
CODEMODEL = "codemodel-v2"
_SHARED_LIBRARY = re.compile(r"\.so(\.\d+)*$")


@dataclass(frozen=True)
class CompileGroup:
    """Sources of one language compiled with the same command line."""

    language: str
    fragments: list[str]  # compileCommandFragments, in CMake's order
    defines: list[str]  # NAME or NAME=VALUE
    includes: list[str]  # include folders, absolute and normalised (no gen/pytorch/..)
    standard: str  # the language standard, "17"; "" when CMake names none


@dataclass(frozen=True)
class Target:
    """One target of the configured project, as its File API reply describes it."""

    name: str
    artifacts: list[Path]  # absolute
    compile_groups: list[CompileGroup]
    link_fragments: list[tuple[str, str]]  # (role, fragment): flags, libraries, libraryPath
    dependency_artifacts: list[Path]  # what the project's own targets it depends on build

    def compile_group(self, language: str = "CXX") -> CompileGroup:
        group = next((g for g in self.compile_groups if g.language == language), None)
        if group is None:
            raise BuildError(f"CMake's File API reply has no {language} sources for target "
                             f"{self.name}")
        return group

    def cxx_flags(self) -> str:
        """The C++ compile flags: the language standard first (what a reader looks for),
        then the others in CMake's order. Definitions are in defines, not here."""
        words = " ".join(self.compile_group().fragments).split()
        return " ".join(sorted(words, key=lambda w: not w.startswith("-std=")))

    def linked_shared_libraries(self) -> list[str]:
        """The shared libraries from outside the project the target links, absolute paths
        (what the audit resolves undefined symbols against); the project's own (a link stub)
        and static libraries are left out."""
        own = set(self.dependency_artifacts)
        return [fragment for role, fragment in self.link_fragments
                if role == "libraries" and fragment.startswith("/")
                and _SHARED_LIBRARY.search(fragment) and Path(fragment) not in own]


def request(binary: Path) -> None:
    """Ask CMake (at its next configure of `binary`) for the codemodel."""
    query = binary / ".cmake" / "api" / "v1" / "query" / CLIENT
    query.mkdir(parents=True, exist_ok=True)
    (query / CODEMODEL).touch()


def has_reply(binary: Path) -> bool:
    return any((binary / ".cmake" / "api" / "v1" / "reply").glob("index-*.json"))


def read_target(binary: Path, name: str) -> Target:
    """The target `name` of the project configured in `binary`; a missing or malformed
    reply is a BuildError naming the folder."""
    reply = binary / ".cmake" / "api" / "v1" / "reply"
    try:
        index = _load(max(reply.glob("index-*.json")))  # names sort by time of writing
        codemodel = _load(reply / index["reply"][CLIENT][CODEMODEL]["jsonFile"])
        targets = codemodel["configurations"][0]["targets"]
        ids = {t["id"]: t for t in targets}
        entry = next((t for t in targets if t["name"] == name), None)
        if entry is None:
            raise BuildError(f"CMake's File API reply in {binary} has no target {name!r} "
                             f"(targets: {', '.join(t['name'] for t in targets)})")
        target = _load(reply / entry["jsonFile"])
        build_dir = Path(codemodel["paths"]["build"])
        dependencies = [_load(reply / ids[d["id"]]["jsonFile"])
                        for d in target.get("dependencies", []) if d["id"] in ids]
        return Target(
            name=name,
            artifacts=[build_dir / a["path"] for a in target.get("artifacts", [])],
            compile_groups=[_compile_group(g) for g in target.get("compileGroups", [])],
            link_fragments=[_link_fragment(f, build_dir)
                            for f in target.get("link", {}).get("commandFragments", [])],
            dependency_artifacts=[build_dir / a["path"] for d in dependencies
                                  for a in d.get("artifacts", [])])
    except BuildError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise BuildError(f"CMake's File API reply in {binary} is missing or malformed "
                         f"({type(exc).__name__}: {exc}); delete the folder {binary} and "
                         f"build again") from None


def _load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def _link_fragment(fragment: dict, build_dir: Path) -> tuple[str, str]:
    """(role, fragment), a library given relative to the build folder made absolute (CMake
    writes the project's own libraries that way)."""
    role, text = fragment.get("role", ""), fragment["fragment"]
    if role == "libraries" and not text.startswith(("-", "/")):
        text = str(build_dir / text)
    return role, text


def _compile_group(group: dict) -> CompileGroup:
    return CompileGroup(
        language=group["language"],
        fragments=[f["fragment"] for f in group.get("compileCommandFragments", [])],
        defines=[d["define"] for d in group.get("defines", [])],
        includes=[os.path.normpath(i["path"]) for i in group.get("includes", [])],
        standard=group.get("languageStandard", {}).get("standard", ""))
