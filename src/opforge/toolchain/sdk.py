"""Framework SDKs that PyPI wheels do not carry (ONNX Runtime C headers, TensorRT).

Found the ways users have them, in this order, each rejected candidate remembered for the
error message:
  1. the environment variable (ONNXRUNTIME_ROOT=/path/with/include),
  2. well-known install paths (/opt/onnxruntime, /usr/local/onnxruntime, the NGC layout),
  3. opforge's SDK cache, filled by `opforge sdk fetch NAME VERSION`: the official release
     archive, checked against a pinned sha256 (data/sdks.toml, or --sha256), kept only when
     it matches; once cached it works offline.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from packaging.version import InvalidVersion, Version

from opforge.core import log, toml
from opforge.core.settings import cache_dir
from opforge.artifacts.runtime import sha256_file
from opforge.core.errors import ToolchainError, UserError

WELL_KNOWN = {
    "onnxruntime": ["/opt/onnxruntime", "/usr/local/onnxruntime", "/usr/local",
                    "/usr"],
    # (include dir, library dir): the NGC containers' Debian layout, then tarball installs
    "tensorrt": [("/usr/include/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"),
                 ("/usr/local/tensorrt/include", "/usr/local/tensorrt/lib"),
                 ("/opt/tensorrt/include", "/opt/tensorrt/lib")],
}



@dataclass(frozen=True)
class SdkLocation:
    name: str
    root: Path
    include_dir: Path
    version: str
    api_version: int | None
    how: str  # "ONNXRUNTIME_ROOT", "well-known path", "opforge cache"
    library: Path | None = None  # the SDK's main shared library, when it has one here

    def to_json(self) -> dict:
        return {"name": self.name, "root": str(self.root), "include_dir": str(self.include_dir),
                "version": self.version, "api_version": self.api_version, "found_by": self.how,
                "library": str(self.library) if self.library else None}


@dataclass
class SdkMissing:
    name: str
    tried: list[str] = field(default_factory=list)


@cache
def catalogue() -> dict:
    return toml.loads(resources.files("opforge").joinpath("data/sdks.toml").read_text("utf-8"))


def cache_root() -> Path:
    return cache_dir() / "sdk"


def _ort_include(root: Path) -> Path | None:
    for candidate in (root / "include", root / "include/onnxruntime/core/session",
                      root / "include/onnxruntime", root):
        if (candidate / "onnxruntime_c_api.h").is_file():
            return candidate
    return None


def ort_api_version(include_dir: Path) -> int | None:
    text = (include_dir / "onnxruntime_c_api.h").read_text("utf-8", errors="replace")
    match = re.search(r"^#define ORT_API_VERSION (\d+)", text, re.M)
    return int(match[1]) if match else None


def _ort_location(root: Path, how: str) -> SdkLocation | None:
    include = _ort_include(root)
    if include is None:
        return None
    api = ort_api_version(include)
    version_file = root / "VERSION_NUMBER"
    version = version_file.read_text().strip() if version_file.is_file() else (
        f"1.{api}" if api else "")
    return SdkLocation("onnxruntime", root, include, version, api, how)


def find_onnxruntime(runtime: str | None = None, whose: str = ""
                     ) -> SdkLocation | SdkMissing:
    """The ONNX Runtime headers to build with. `runtime` is the ONNX Runtime the library will
    run in (`whose`: e.g. "release 24.09"): of several cached versions, the newest no newer
    than it (the at-least rule: the loader accepts any runtime at least as new as the
    headers); without it, the newest."""
    missing = SdkMissing("onnxruntime")
    env = catalogue()["onnxruntime"]["env"]
    if os.environ.get(env):
        root = Path(os.environ[env])
        found = _ort_location(root, f"${env}")
        if found:
            return found
        missing.tried.append(f"${env}={root} (no onnxruntime_c_api.h under include/)")
    for path in WELL_KNOWN["onnxruntime"]:
        found = _ort_location(Path(path), "well-known path")
        if found:
            return found
    missing.tried.append(", ".join(WELL_KNOWN["onnxruntime"]))
    cached = _cached_onnxruntime()
    if cached:
        return _choose(cached, runtime, whose)
    missing.tried.append(f"the opforge cache {cache_root()}")
    return missing


def _cached_onnxruntime() -> list[SdkLocation]:
    """Every ONNX Runtime in the cache, newest first (by version, not by folder name)."""
    def version_of(found: SdkLocation) -> Version:
        try:
            return Version(found.version)
        except InvalidVersion:
            return Version("0")

    roots = list(cache_root().glob("onnxruntime-*")) if cache_root().is_dir() else []
    found = [_ort_location(root, "opforge cache") for root in roots if root.is_dir()]
    return sorted((f for f in found if f is not None), key=version_of, reverse=True)


def _choose(cached: list[SdkLocation], runtime: str | None, whose: str) -> SdkLocation:
    """The newest cached version whose headers `runtime` accepts, saying why when there
    was a choice; the newest when none fits (the version check then refuses it, by name)."""
    from opforge.releases.versions import version_not_newer

    if runtime is None:
        chosen, why = cached[0], "the newest"
    else:
        fits = [c for c in cached if version_not_newer(c.version, runtime)]
        target = f"ONNX Runtime {runtime}" + (f" of {whose}" if whose else "")
        if not fits:
            log.warn(f"no cached ONNX Runtime headers are as old as {target} needs (cached: "
                     f"{', '.join(c.version for c in cached)}); `opforge sdk fetch onnxruntime "
                     f"{runtime}` gets them")
            return cached[0]
        chosen, why = fits[0], f"the newest no newer than {target}"
    if len(cached) > 1:
        log.detail(f"ONNX Runtime headers {chosen.version} from the opforge cache: {why} "
                   f"(cached: {', '.join(c.version for c in cached)})")
    return chosen


# --- TensorRT ------------------------------------------------------------------------


def tensorrt_version(include_dir: Path) -> str | None:
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


def _trt_location(include: Path, lib_dir: Path | None, root: Path, how: str) -> SdkLocation | None:
    if not (include / "NvInfer.h").is_file():
        return None
    version = tensorrt_version(include) or ""
    major = version.split(".")[0]
    library = None
    if lib_dir is not None:
        for name in (f"libnvinfer.so.{major}", "libnvinfer.so"):
            if (lib_dir / name).exists():
                library = lib_dir / name
                break
    return SdkLocation("tensorrt", root, include, version, None, how, library)


def find_tensorrt() -> SdkLocation | SdkMissing:
    missing = SdkMissing("tensorrt")
    env = catalogue()["tensorrt"]["env"]
    if os.environ.get(env):
        root = Path(os.environ[env])
        found = _trt_location(root / "include", root / "lib", root, f"${env}")
        if found:
            return found
        missing.tried.append(f"${env}={root} (no include/NvInfer.h)")
    for include, lib in WELL_KNOWN["tensorrt"]:
        found = _trt_location(Path(include), Path(lib), Path(include).parent, "well-known path")
        if found:
            return found
    missing.tried.append(", ".join(i for i, _ in WELL_KNOWN["tensorrt"]))
    return missing


def missing_message(missing: SdkMissing, version_hint: str | None) -> str:
    entry = catalogue()[missing.name]
    if "url" in entry:
        get = (f"or run `opforge sdk fetch {missing.name} {version_hint or 'VERSION'}` to "
               f"download and verify it into the cache")
    else:
        get = entry["get"]
    return (f"the {entry['headers']} were not found ({entry['why_absent']}); looked at "
            f"{'; '.join(missing.tried)}. Set {entry['env']} to an unpacked official "
            f"{entry['title']} release (the folder holding {entry['root_holds']}); {get}.")


# --- fetch ---------------------------------------------------------------------------


def _download(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, next_report = 0, 0.0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if total and done / total >= next_report:
                    log.progress("download", f"{done / 1e6:.1f} of {total / 1e6:.1f} MB")
                    next_report += 0.25
    except (urllib.error.URLError, OSError) as exc:
        raise ToolchainError(f"downloading {url} failed: {exc}. Without network access, "
                             f"download the archive elsewhere and set the SDK's environment "
                             f"variable to its unpacked folder.") from None


def pinned_sha256(name: str, version: str) -> str | None:
    """The checksum opforge's data pins for this SDK version, if any."""
    return (catalogue().get(name, {}).get("sha256", {}).get(version) or {}).get("sha256")


def fetch(name: str, version: str, url: str | None = None, sha256: str | None = None) -> SdkLocation:
    """Download, verify and unpack an SDK release archive into the cache (idempotent)."""
    entries = {n: e for n, e in catalogue().items() if "url" in e}
    if name not in entries:
        raise UserError(f"opforge cannot fetch {name!r}; it fetches {', '.join(entries)}")
    entry = entries[name]
    dest = cache_root() / f"{name}-{version}"
    if dest.is_dir():
        found = _ort_location(dest, "opforge cache")
        if found:
            log.info(f"{entry['title']} {version} is already in the cache: {dest}")
            return found
    expected = (sha256 or pinned_sha256(name, version) or "").lower()
    if not expected:
        known = ", ".join(entry.get("sha256", {})) or "none"
        raise UserError(f"no pinned sha256 for {entry['title']} {version} (pinned: {known}); "
                        f"pass --sha256 with the checksum from the release page so the "
                        f"download can be verified")
    url = url or entry["url"].format(version=version)
    cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=cache_root()) as tmp:
        archive = Path(tmp) / "archive.tgz"
        log.info(f"downloading {url}")
        _download(url, archive)
        actual = sha256_file(archive)
        if actual != expected:
            raise ToolchainError(f"checksum mismatch for {url}: got sha256 {actual}, expected "
                                 f"{expected}; the download was discarded and nothing was "
                                 f"kept")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(archive) as tar:
            _extract(tar, unpacked, url)
        roots = [p for p in unpacked.iterdir() if p.is_dir()]
        root = roots[0] if len(roots) == 1 and not (unpacked / "include").is_dir() else unpacked
        if _ort_location(root, "opforge cache") is None:
            raise ToolchainError(f"{url} does not contain include/onnxruntime_c_api.h; nothing "
                                 f"was kept")
        if not (root / "VERSION_NUMBER").is_file():
            (root / "VERSION_NUMBER").write_text(version + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        root.rename(dest)
    log.info(f"verified sha256 {expected[:16]}... and unpacked to {dest}")
    return SdkLocation("onnxruntime", dest, dest / "include", version,
                       ort_api_version(dest / "include"), "opforge cache")


def _extract(tar: tarfile.TarFile, dest: Path, url: str) -> None:
    """Unpack with the "data" filter (nothing outside `dest`, no devices, no absolute or
    escaping links); Python 3.10 before 3.10.12 has no filters, so the same rules are
    checked here first."""
    if hasattr(tarfile, "data_filter"):
        try:
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as exc:
            raise ToolchainError(f"{url}: the archive member {exc.tarinfo.name!r} would land "
                                 f"outside the unpacked folder or is not a plain file "
                                 f"({exc}); nothing was kept") from None
        return
    root = dest.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        link = ((target.parent / member.linkname).resolve() if member.issym() else
                (root / member.linkname).resolve() if member.islnk() else target)
        inside = all(p == root or root in p.parents for p in (target, link))
        if not inside or not (member.isfile() or member.isdir() or member.issym()
                              or member.islnk()):
            raise ToolchainError(f"{url}: the archive member {member.name!r} would land "
                                 f"outside the unpacked folder or is not a plain file; "
                                 f"nothing was kept")
    tar.extractall(dest)
