"""`opforge releases diff FROM TO`: what changes for op libraries between two Triton releases.

Release-wide: Ubuntu and the glibc/libstdc++ ceiling that comes with it, CUDA and the
minimum compute capability, Python. Per framework: its version, whether C++ types cross the
library boundary, whether the release still ships its backend, and whether a library built
for FROM loads in TO by the framework's own rule (frameworks.release_refusal: the runtime
loader's, one piece of code with `opforge check --release`).

A PyTorch stable-ABI library (valid for a span of releases: its manifest's abi_target on)
is the runtime rule's at-least case; release_refusal follows the manifest's compatibility.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opforge import frameworks
from opforge.core.errors import OpforgeError
from opforge.releases import UBUNTU_CEILINGS, Release

# the release-wide facts a library depends on, in the order the report shows them
RELEASE_FIELDS = ("triton_version", "upstream_container_version", "ubuntu", "cuda",
                  "min_compute_capability", "python")


@dataclass(frozen=True)
class Change:
    """One fact in both releases ('' when unknown there)."""

    key: str
    old: str
    new: str
    uncertain: bool = False  # either value comes from a secondary source

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def to_json(self) -> dict:
        return {"key": self.key, "from": self.old or None, "to": self.new or None,
                "changed": self.changed, "uncertain": self.uncertain}


@dataclass
class FrameworkChange:
    framework: str
    title: str
    version: Change
    compatibility: str  # "exact" | "at-least"
    cxx_abi: str  # whether C++ types cross the library's boundary, in words
    backend: str  # "kept" | "added" | "removed" | "absent"
    rebuild: bool | None  # None: cannot be told (a pin is unknown)
    why: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"framework": self.framework, "title": self.title,
                "version": self.version.to_json(), "compatibility": self.compatibility,
                "cxx_abi": self.cxx_abi, "backend": self.backend, "rebuild": self.rebuild,
                "why": self.why}


@dataclass
class Diff:
    old: Release
    new: Release
    release: list[Change]
    frameworks: list[FrameworkChange]

    def to_json(self) -> dict:
        return {"from": self.old.id, "to": self.new.id,
                "release": [c.to_json() for c in self.release],
                "ceilings": {k: {"from": a or None, "to": b or None}
                             for k, a, b in ceilings(self.old, self.new)},
                "frameworks": [f.to_json() for f in self.frameworks]}


def change(key: str, old: Release, new: Release) -> Change:
    a, b = old.pin(key), new.pin(key)
    return Change(key, a.value, b.value, a.uncertain or b.uncertain)


def ceilings(old: Release, new: Release) -> list[tuple[str, str, str]]:
    """(GLIBC / GLIBCXX / CXXABI, FROM's ceiling, TO's) from each release's Ubuntu; '' where
    the Ubuntu is unknown or opforge knows no ceilings for it."""
    a = UBUNTU_CEILINGS.get(old.pin("ubuntu").value, {})
    b = UBUNTU_CEILINGS.get(new.pin("ubuntu").value, {})
    return [(k, a.get(k, ""), b.get(k, "")) for k in ("GLIBC", "GLIBCXX", "CXXABI")]


def _lower(a: str, b: str) -> bool:
    """Whether version b is older than a (both dotted numbers)."""
    try:
        return tuple(int(p) for p in b.split(".")) < tuple(int(p) for p in a.split("."))
    except ValueError:
        return False


def release_reasons(old: Release, new: Release) -> list[str]:
    """What in TO, beyond the framework, can make any library built for FROM fail there."""
    reasons = [f"{key} {a} -> {b}: a library built against FROM's C/C++ runtime may need "
               f"symbol versions TO lacks" for key, a, b in ceilings(old, new)
               if a and b and _lower(a, b)]
    cc = change("min_compute_capability", old, new)
    if cc.old and cc.new and _lower(cc.old, cc.new):
        reasons.append(f"minimum compute capability {cc.old} -> {cc.new}: CUDA code built for "
                       f"FROM has no SASS or PTX for TO's oldest GPUs")
    return reasons


def framework_change(fw: frameworks.Framework, old: Release, new: Release,
                     shared: list[str]) -> FrameworkChange:
    version = change(fw.pin_key, old, new)
    kept = [_ships(fw, r) for r in (old, new)]
    backend = {(True, True): "kept", (False, True): "added", (True, False): "removed",
               (False, False): "absent"}[tuple(kept)]
    cxx_abi = ("C++ types cross the boundary: the library is the framework version's"
               if fw.abi_sensitive else "no C++ types cross the boundary (a C API or abstract "
               "interfaces)")
    result = FrameworkChange(fw.name, fw.title, version, fw.compatibility, cxx_abi, backend,
                             None)
    if not kept[1]:
        result.rebuild = None
        result.why.append(f"Triton {new.id} has no {fw.title} backend: no rebuild makes a "
                          f"library load there")
        return result
    if not kept[0]:
        result.rebuild = True
        result.why.append(f"Triton {old.id} had no {fw.title} backend: build one for {new.id}")
        return result
    unknown = [r.id for r in (old, new) if not r.pin(fw.pin_key).known]
    if unknown:
        result.why.append(f"the {fw.title} version of {', '.join(unknown)} is unknown: "
                          f"`opforge releases learn` fills it from CI build reports")
        return result
    built = {"name": fw.name, "title": fw.title, "version": version.old,
             "compatibility": fw.compatibility}
    refusal = frameworks.release_refusal(fw, built, version.new)
    result.why = ([f"{fw.compatibility}: {refusal}"] if refusal else []) + shared
    result.rebuild = bool(result.why)
    if not result.why:
        result.why.append(f"{fw.compatibility}: a library built for {fw.title} {version.old} "
                          f"loads in {fw.title} {version.new}")
    return result


def _ships(fw: frameworks.Framework, release: Release) -> bool:
    try:
        fw.check_release(release)
    except OpforgeError:
        return False
    return fw.ships_backend(release)


def diff(old: Release, new: Release) -> Diff:
    shared = release_reasons(old, new)
    return Diff(old, new, [change(k, old, new) for k in RELEASE_FIELDS],
                [framework_change(fw, old, new, shared)
                 for fw in frameworks.registry().values()])


def lines(d: Diff) -> list[str]:
    """The report as text."""
    from opforge.core import tables

    def shown(value: str) -> str:
        return value or "?"

    out = [f"Triton {d.old.id} -> {d.new.id}"]
    rows = []
    for c in d.release:
        mark = "" if c.changed else " (same)"
        rows.append([c.key, f"{shown(c.old)} -> {shown(c.new)}{mark}"
                     + (" (uncertain)" if c.uncertain else "")])
    for key, a, b in ceilings(d.old, d.new):
        rows.append([f"  {key} ceiling", f"{shown(a)} -> {shown(b)}"])
    out += tables.lines(rows, (26,), gap=" ", indent="  ")
    out.append("")
    rows = [["framework", "version", "rule", "backend", "rebuild"]]
    for f in d.frameworks:
        verdict = {True: "yes", False: "no", None: "?"}[f.rebuild]
        rows.append([f.framework, f"{shown(f.version.old)} -> {shown(f.version.new)}",
                     f.compatibility, f.backend, verdict])
    out += tables.lines(rows)
    for f in d.frameworks:
        out += [f"  {f.framework}: {why}" for why in f.why]
    out.append("? = unknown (never guessed). `opforge check --release "
               f"{d.new.id} ARTIFACT...` tells it for each built library.")
    return out
