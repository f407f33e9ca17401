"""CUDA: find nvcc, choose the GPU architectures a release's libraries carry, and read back
the architectures a built library really contains (from its fatbin, with pyelftools).

The default architecture list of a release runs from its minimum compute capability up to
the newest architecture its CUDA supports (data/cuda.toml, from the toolkit release notes):
SASS for each, PTX for the newest so that newer GPUs can JIT it. The CUDA runtime is linked
statically, so nvcc must not be newer than the release's CUDA: a newer runtime would need a
newer driver than the release's containers require.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from packaging.version import InvalidVersion, Version

from opforge.core import proc, settings, toml
from opforge.releases.versions import version_not_newer
from opforge.core.errors import ReleaseError, ToolchainError, UserError, VersionMismatch
from opforge.releases import Release

NVCC_HINT = ("install the CUDA toolkit (nvcc), set CUDACXX=/path/to/nvcc, or build inside the "
             "release's NGC container, which has it")
ARCH = re.compile(r"^\d{2,3}[af]?$")

# .nv_fatbin layout (little endian), as nvcc writes it: a 16-byte container header
# (magic, version, header size, payload size), then entries, each with its own header:
# kind (1 = PTX, 2 = ELF/SASS) at 0, header size at 4, payload size at 8, arch at 28.
FATBIN_MAGIC = 0xBA55ED50
_FATBIN_HEADER = struct.Struct("<IHHQ")
_ENTRY_HEADER = struct.Struct("<HHIQ")
_ENTRY_ARCH_OFFSET = 28


@dataclass(frozen=True)
class Nvcc:
    path: Path  # the real nvcc binary (not a wrapper script)
    root: Path  # the toolkit root: bin/, include/ (or targets/<arch>/include), lib64/
    version: str  # e.g. "13.0.88"
    codes: tuple[int, ...]  # SASS architectures this nvcc can produce (nvcc --list-gpu-code)

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def to_json(self) -> dict:
        return {"nvcc": str(self.path), "root": str(self.root), "version": self.version,
                "codes": list(self.codes)}


@cache
def catalogue() -> dict:
    return toml.loads(resources.files("opforge").joinpath("data/cuda.toml").read_text("utf-8"))


def _candidates() -> list[Path]:
    chosen = settings.read().nvcc
    if chosen is not None:  # an explicit choice: nothing else is looked at
        return [chosen]
    found = []
    if os.environ.get("CUDACXX"):
        found.append(Path(os.environ["CUDACXX"]))
    if shutil.which("nvcc"):
        found.append(Path(shutil.which("nvcc")))
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root:
            found.append(Path(root) / "bin" / "nvcc")
    return found


@cache
def find_nvcc() -> Nvcc:
    """The nvcc opforge compiles CUDA with; ToolchainError saying where it looked."""
    tried = []
    for candidate in _candidates():
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            tried.append(f"{candidate}: not an executable")
            continue
        version = _nvcc_version(candidate)
        if version is None:
            tried.append(f"{candidate}: `nvcc --version` printed no release number")
            continue
        top = _toolkit_root(candidate)
        codes = tuple(sorted({int(m) for line in proc.output_lines([candidate,
                                                                    "--list-gpu-code"])
                              for m in re.findall(r"sm_(\d+)", line)}))
        return Nvcc(top / "bin" / "nvcc", top, version, codes)
    raise ToolchainError("no CUDA compiler (nvcc) found; a recipe with devices = [..., \"cuda\"] "
                         f"needs one: {NVCC_HINT}",
                         details=tried or ["looked at $OPFORGE_NVCC, $CUDACXX, PATH, "
                                           "$CUDA_HOME, /usr/local/cuda"])


def _nvcc_version(nvcc: Path) -> str | None:
    for line in proc.output_lines([nvcc, "--version"]):
        match = re.search(r"\bV(\d+\.\d+\.\d+)", line) or re.search(r"release (\d+\.\d+)", line)
        if match:
            return match[1]
    return None


def _toolkit_root(nvcc: Path) -> Path:
    """The toolkit root nvcc itself uses (its TOP), seeing through wrapper scripts."""
    for line in proc.output_lines([nvcc, "-v", "--dryrun", "-E", "-x", "cu", os.devnull]):
        match = re.search(r"TOP=(\S+)", line)
        if match:
            return Path(match[1]).resolve()
    return nvcc.resolve().parent.parent


def nvcc_or_none() -> Nvcc | None:
    try:
        return find_nvcc()
    except ToolchainError:
        return None


# --- the release's CUDA and architectures --------------------------------------------


def _major_minor(version: str) -> tuple[int, int]:
    release = Version(version).release
    return release[0], (release[1] if len(release) > 1 else 0)


def toolkit_row(cuda_version: str) -> dict:
    have = _major_minor(cuda_version)
    rows = [r for r in catalogue()["toolkit"] if _major_minor(r["since"]) <= have]
    if not rows:
        raise ReleaseError(f"CUDA {cuda_version} is older than any toolkit opforge knows "
                           f"(oldest: {catalogue()['toolkit'][0]['since']})")
    return rows[-1]


def release_cuda(release: Release, nvcc: Nvcc) -> str:
    """The CUDA version a release's libraries are built for; nvcc's own for `local`."""
    if release.is_local:
        return nvcc.version
    pin = release.pin("cuda")
    if not pin.known:
        raise ReleaseError(
            f"the CUDA version of Triton release {release.id} is unknown (no source in the "
            f"release matrix gives `cuda`), and opforge does not guess. Add it with "
            f"--releases-file, or build for the CUDA installed here with --release local.")
    return pin.value


def check_nvcc(release: Release, nvcc: Nvcc) -> str:
    """Refuse an nvcc newer than the release's CUDA (its static runtime would need a newer
    driver than the release requires); returns the release's CUDA version."""
    cuda = release_cuda(release, nvcc)
    try:
        Version(cuda)
    except InvalidVersion:
        raise ReleaseError(f"release {release.id}: CUDA version {cuda!r} is not a version "
                           f"number") from None
    if not version_not_newer(nvcc.version, cuda):
        raise VersionMismatch(
            f"nvcc {nvcc.version} is newer than the CUDA {cuda} of Triton release "
            f"{release.id}: the CUDA runtime linked into the library would need a newer "
            f"driver than the release requires. Build inside the release's NGC container "
            f"(CUDA {cuda}), point CUDACXX at an nvcc <= {'.'.join(map(str, _major_minor(cuda)))}"
            f", or pass --release local to build for the CUDA installed here.",
            details=[f"nvcc: {nvcc.path} ({nvcc.version})",
                     f"release {release.id} CUDA: {cuda}"])
    return cuda


def min_compute_capability(release: Release, cuda: str) -> tuple[int, str]:
    """(oldest architecture, why) for a release."""
    row = toolkit_row(cuda)
    if not release.is_local:
        pin = release.pin("min_compute_capability")
        if pin.known:
            major, _, minor = pin.value.partition(".")
            arch = int(major) * 10 + int(minor or 0)
            return max(arch, row["oldest"]), f"release {release.id} minimum compute capability {pin.value}"
    return row["oldest"], f"sm_{row['oldest']}, the oldest CUDA {cuda} compiles for,"


@dataclass(frozen=True)
class ArchPlan:
    archs: tuple[str, ...]  # SASS for each, oldest first
    why: str

    @property
    def ptx(self) -> str:
        """PTX for the newest, which later GPUs JIT-compile."""
        return self.archs[-1]

    @property
    def cmake(self) -> str:
        """CMAKE_CUDA_ARCHITECTURES: '80-real;90' is SASS 80 + SASS and PTX 90."""
        return ";".join(f"{a}-real" for a in self.archs[:-1]) + \
            (";" if len(self.archs) > 1 else "") + self.archs[-1]

    def to_json(self) -> dict:
        return {"sass": list(self.archs), "ptx": self.ptx, "why": self.why}


def parse_archs(values: list[str], where: str) -> tuple[str, ...]:
    archs = []
    for value in values:
        text = str(value).strip().removeprefix("sm_").replace(".", "")
        if not ARCH.match(text):
            raise UserError(f"{where}: {value!r} is not a GPU architecture; write compute "
                            f"capabilities as 80, 86, 90 (or 8.0, sm_90, 90a)")
        archs.append(text)
    if not archs:
        raise UserError(f"{where}: the architecture list is empty")
    return tuple(dict.fromkeys(archs))


def plan_archs(release: Release, nvcc: Nvcc, override: list[str] | None = None,
               override_from: str = "") -> ArchPlan:
    cuda = check_nvcc(release, nvcc)
    if override:
        archs = parse_archs(override, override_from)
        why = f"from {override_from}"
    else:
        row = toolkit_row(cuda)
        oldest, oldest_why = min_compute_capability(release, cuda)
        archs = tuple(str(a) for a in catalogue()["default_archs"]
                      if oldest <= a <= row["newest"])
        why = (f"{oldest_why} up to sm_{row['newest']}, the newest CUDA {cuda} supports "
               f"({row['source']})")
    unsupported = [a for a in archs if int(re.sub(r"\D", "", a)) not in nvcc.codes]
    if unsupported:
        raise ToolchainError(
            f"nvcc {nvcc.version} cannot compile for {', '.join('sm_' + a for a in unsupported)}"
            f" (it supports {', '.join(f'sm_{c}' for c in nvcc.codes)}); narrow the list "
            f"with target.cuda_archs or --cuda-arch, or use the release's CUDA toolkit")
    return ArchPlan(archs, why)


# --- what a built library carries ----------------------------------------------------


def fatbin_archs(library: Path) -> dict[str, list[int]]:
    """{"sass": [...], "ptx": [...]} read from the library's .nv_fatbin section (the linker
    concatenates one fatbin per CUDA object). Empty lists when it has no device code."""
    from elftools.elf.elffile import ELFFile

    with open(library, "rb") as fh:
        return fatbin_archs_in(ELFFile(fh))


def fatbin_archs_in(elf) -> dict[str, list[int]]:
    """fatbin_archs of an already opened pyelftools ELFFile."""
    section = elf.get_section_by_name(".nv_fatbin")
    data = section.data() if section is not None else b""
    sass, ptx = set(), set()
    offset = 0
    while offset + _FATBIN_HEADER.size <= len(data):
        magic, _version, header_size, size = _FATBIN_HEADER.unpack_from(data, offset)
        if magic != FATBIN_MAGIC:  # alignment padding between fatbins
            offset += 8
            continue
        entry, end = offset + header_size, offset + header_size + size
        while entry + _ENTRY_ARCH_OFFSET + 4 <= end:
            kind, _, entry_header, payload = _ENTRY_HEADER.unpack_from(data, entry)
            (arch,) = struct.unpack_from("<I", data, entry + _ENTRY_ARCH_OFFSET)
            (ptx if kind == 1 else sass).add(arch)
            entry += entry_header + payload
        offset = end
    return {"sass": sorted(sass), "ptx": sorted(ptx)}
