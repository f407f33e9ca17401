"""The release matrix: Triton release -> pinned framework versions, each with its sources.

The matrix is data (`opforge/data/releases.toml`, generated from the team's facts table by
tools/import_releases.py). A value that no source gave is the empty string and stays
unknown: it is reported, never guessed. A user file (`--releases-file` or
$OPFORGE_RELEASES_FILE), in the same flat format as the facts table, adds releases or
overrides single fields of existing ones.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from opforge.core import settings, toml
from opforge.core.errors import ReleaseError, UserError

LOCAL = "local"

_META = {"release", "sources", "uncertain", "notes"}

# The C/C++ runtime and glibc of each Ubuntu that Triton releases are built on: the newest
# symbol versions its libstdc++ (GCC 9 / 11 / 13+) and glibc provide (`opforge check`
# holds a library to them; `opforge releases diff` shows how they move).
UBUNTU_CEILINGS = {
    "20.04": {"GLIBC": "2.31", "GLIBCXX": "3.4.28", "CXXABI": "1.3.12"},
    "22.04": {"GLIBC": "2.35", "GLIBCXX": "3.4.30", "CXXABI": "1.3.13"},
    "24.04": {"GLIBC": "2.39", "GLIBCXX": "3.4.33", "CXXABI": "1.3.15"},
}


@cache
def _fields() -> dict:
    """The fields of the release matrix as data (data/pins.toml): `main`, the pins in the
    order `opforge releases show` prints them, and `source_hints`, which words in a source's
    text show that it supports a field."""
    return toml.loads(resources.files("opforge").joinpath("data/pins.toml").read_text("utf-8"))


def main_pins() -> tuple[str, ...]:
    """The pins `opforge releases show` prints first, with their sources; other fields
    follow, sorted."""
    return tuple(_fields()["main"])


@dataclass(frozen=True)
class Pin:
    """One fact about a release: its value ('' when unknown) and where it comes from."""

    key: str
    value: str
    sources: tuple[str, ...]
    uncertain: bool = False
    attribution: str = "field"  # "field": sources that mention it; "release": all sources
    origin: str = "opforge"  # "opforge": the packaged table; else the releases file's path

    @property
    def known(self) -> bool:
        return self.value != ""

    @property
    def provenance(self) -> str:
        """How the pin was established, as manifests record it: "table" (opforge's facts
        table) or "releases file" (a user's, which may have learned it from containers)."""
        return "table" if self.origin == "opforge" else "releases file"

    def to_json(self) -> dict:
        return {"value": self.value or None, "known": self.known, "uncertain": self.uncertain,
                "sources": list(self.sources), "attribution": self.attribution,
                "provenance": self.provenance}


@dataclass(frozen=True)
class Release:
    id: str
    pins: dict[str, Pin]
    notes: tuple[str, ...] = ()
    origin: str = "opforge"

    def pin(self, key: str) -> Pin:
        return self.pins.get(key) or Pin(key, "", ())

    @property
    def is_local(self) -> bool:
        return self.id == LOCAL

    @property
    def ordinal(self) -> tuple[int, int]:
        """(year, month) of a YY.MM release; local sorts after every release."""
        match = re.fullmatch(r"(\d+)\.(\d+)", self.id)
        return (int(match[1]), int(match[2])) if match else (10**6, 0)

    def ordered_pins(self) -> list[Pin]:
        main = [self.pins[k] for k in main_pins() if k in self.pins]
        rest = [self.pins[k] for k in sorted(self.pins) if k not in main_pins()]
        return main + rest

    def to_json(self) -> dict:
        return {"release": self.id, "origin": self.origin,
                "pins": {p.key: p.to_json() for p in self.ordered_pins()},
                "notes": list(self.notes)}


def fields(matrix: dict[str, Release]) -> list[str]:
    """Every field some release of `matrix` has: the main pins first, then the rest sorted."""
    present = {key for release in matrix.values() for key in release.pins}
    return [k for k in main_pins() if k in present] + sorted(present - set(main_pins()))


def coverage(matrix: dict[str, Release]) -> dict[str, dict[str, str]]:
    """Which fields are known for which releases: release -> field -> "known", "uncertain"
    (a value from a secondary source) or "unknown"."""
    return {rid: {key: ("unknown" if not release.pin(key).known else
                        "uncertain" if release.pin(key).uncertain else "known")
                  for key in fields(matrix)}
            for rid, release in matrix.items()}


def attribute_sources(key: str, sources: list[str]) -> tuple[tuple[str, ...], str]:
    hints = _fields()["source_hints"].get(key, (key,))
    matched = tuple(s for s in sources if any(h in s for h in hints))
    if matched:
        return matched, "field"
    return tuple(sources), "release"


def release_from_flat(entry: dict, *, origin: str) -> Release:
    """Turn one `[[release]]` of the flat facts format into a Release with per-pin sources."""
    rid = str(entry["release"])
    sources = [str(s) for s in entry.get("sources", [])]
    uncertain = set(entry.get("uncertain", []))
    pins = {}
    for key, value in entry.items():
        if key in _META:
            continue
        found, how = attribute_sources(key, sources)
        pins[key] = Pin(key, str(value), found, key in uncertain, how, origin)
    return Release(rid, pins, tuple(entry.get("notes", [])), origin)


def _release_from_packaged(entry: dict) -> Release:
    pins = {key: Pin(key, p["value"], tuple(p["sources"]), p.get("uncertain", False),
                     p.get("attribution", "field"))
            for key, p in entry["pins"].items()}
    return Release(entry["id"], pins, tuple(entry.get("notes", [])), "opforge")


@cache
def _packaged() -> dict[str, Release]:
    text = resources.files("opforge").joinpath("data/releases.toml").read_text("utf-8")
    data = toml.loads(text)
    return {e["id"]: _release_from_packaged(e) for e in data["release"]}


def _read_user_file(path: Path) -> list[dict]:
    try:
        data = toml.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UserError(f"releases file {path} does not exist (from --releases-file or "
                        f"${settings.env_var('releases_file')})") from None
    except toml.TOMLDecodeError as exc:
        raise UserError(f"releases file {path}: invalid TOML: {exc}") from None
    entries = data.get("release")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserError(f"releases file {path}: expected one or more [[release]] tables")
    for i, entry in enumerate(entries):
        if not isinstance(entry.get("release"), str):
            raise UserError(f"releases file {path}: release[{i}].release must be a string such "
                            f'as "24.09"')
        if entry["release"] == LOCAL:
            raise UserError(f"releases file {path}: 'local' is reserved for the installed "
                            f"frameworks; name the release otherwise")
    return entries


def load_matrix(user_file: Path | None = None) -> dict[str, Release]:
    """Every known release, the user's file merged over the packaged data, field by field;
    `user_file` is the --releases-file flag, and without it the releases_file setting
    decides ($OPFORGE_RELEASES_FILE)."""
    matrix = dict(_packaged())
    user_file = settings.read(flags={"releases_file": user_file}).releases_file
    if user_file is not None:
        for entry in _read_user_file(user_file):
            added = release_from_flat(entry, origin=str(user_file))
            if not added.pins and not entry.get("sources"):
                continue
            base = matrix.get(added.id)
            if base is None:
                matrix[added.id] = added
            else:
                matrix[added.id] = Release(added.id, {**base.pins, **added.pins},
                                           base.notes + added.notes,
                                           f"opforge + {user_file}")
    return dict(sorted(matrix.items(), key=lambda kv: kv[1].ordinal))


def select(matrix: dict[str, Release], pattern: str) -> list[Release]:
    """Releases whose id matches a glob such as '24.*'."""
    return [r for rid, r in matrix.items() if fnmatch.fnmatchcase(rid, pattern)]


def resolve(release_id: str, matrix: dict[str, Release]) -> Release:
    if release_id == LOCAL:
        return Release(LOCAL, {}, ("pins are the frameworks installed here",), "local")
    if release_id in matrix:
        return matrix[release_id]
    import difflib

    near = difflib.get_close_matches(release_id, list(matrix), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    raise ReleaseError(
        f"unknown Triton release {release_id!r}.{hint} `opforge releases` lists the known "
        f"ones; add it with --releases-file or ${settings.env_var('releases_file')}, or "
        f"build for what is "
        f"installed with --release local.")


def tritonserver_image(release: Release) -> str:
    """The release's NGC tritonserver image (every backend, no compiler)."""
    return f"nvcr.io/nvidia/tritonserver:{release.id}-py3"
