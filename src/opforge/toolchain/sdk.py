"""Framework SDKs that PyPI wheels do not carry (ONNX Runtime C headers, TensorRT): what is
common to all of them. Each framework's folder says what its SDK root holds and where it is
usually installed (frameworks/<name>/sdk.py); its adapter's `find_sdk` searches, in this
order, each rejected candidate remembered for the error message:
  1. the environment variable data/sdks.toml names (ONNXRUNTIME_ROOT=/path/with/include),
  2. well-known install paths (/opt/onnxruntime, /usr/local/onnxruntime, the NGC layout),
  3. opforge's SDK cache, filled by `opforge sdk fetch NAME VERSION`: the official release
     archive, checked against a pinned sha256 (data/sdks.toml, or --sha256), kept only when
     it matches; once cached it works offline.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Callable

from packaging.version import InvalidVersion, Version

from opforge.core import log, toml
from opforge.core.settings import cache_dir
from opforge.artifacts.runtime import sha256_file
from opforge.core.errors import ToolchainError, UserError

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


Locate = Callable[[Path, str], "SdkLocation | None"]  # an SDK's root -> its location, if any


def cached(name: str, locate: Locate) -> list[SdkLocation]:
    """Every version of the SDK in the cache, newest first (by version, not by folder name)."""
    def version_of(found: SdkLocation) -> Version:
        try:
            return Version(found.version)
        except InvalidVersion:
            return Version("0")

    roots = list(cache_root().glob(f"{name}-*")) if cache_root().is_dir() else []
    found = [locate(root, "opforge cache") for root in roots if root.is_dir()]
    return sorted((f for f in found if f is not None), key=version_of, reverse=True)


def choose(name: str, candidates: list[SdkLocation], runtime: str | None, whose: str
           ) -> SdkLocation:
    """The newest cached version whose headers `runtime` accepts, saying why when there
    was a choice; the newest when none fits (the version check then refuses it, by name)."""
    from opforge.releases.versions import version_not_newer

    title = catalogue()[name]["title"]
    if runtime is None:
        chosen, why = candidates[0], "the newest"
    else:
        fits = [c for c in candidates if version_not_newer(c.version, runtime)]
        target = f"{title} {runtime}" + (f" of {whose}" if whose else "")
        if not fits:
            log.warn(f"no cached {title} headers are as old as {target} needs (cached: "
                     f"{', '.join(c.version for c in candidates)}); `opforge sdk fetch {name} "
                     f"{runtime}` gets them")
            return candidates[0]
        chosen, why = fits[0], f"the newest no newer than {target}"
    if len(candidates) > 1:
        log.detail(f"{title} headers {chosen.version} from the opforge cache: {why} "
                   f"(cached: {', '.join(c.version for c in candidates)})")
    return chosen


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


def fetchable() -> list[str]:
    """The SDKs `opforge sdk fetch` can download: those data/sdks.toml gives a URL."""
    return [name for name, entry in catalogue().items() if "url" in entry]


def fetch(name: str, version: str, locate: Locate, url: str | None = None,
          sha256: str | None = None) -> SdkLocation:
    """Download, verify and unpack an SDK release archive into the cache (idempotent);
    `locate` (the adapter's sdk_at) says whether a folder holds the SDK."""
    if name not in fetchable():
        raise UserError(f"opforge cannot fetch {name!r}; it fetches {', '.join(fetchable())}")
    entry = catalogue()[name]
    dest = cache_root() / f"{name}-{version}"
    if dest.is_dir():
        found = locate(dest, "opforge cache")
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
        if locate(root, "opforge cache") is None:
            raise ToolchainError(f"{url} does not contain include/{entry['header']}; nothing "
                                 f"was kept")
        if not (root / "VERSION_NUMBER").is_file():
            (root / "VERSION_NUMBER").write_text(version + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        root.rename(dest)
    log.info(f"verified sha256 {expected[:16]}... and unpacked to {dest}")
    return replace(locate(dest, "opforge cache"), version=version)


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
