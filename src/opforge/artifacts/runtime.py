"""opforge runtime loader: load a built op library into its framework, safely.

Standalone and stdlib-only: this file, the framework-neutral core, followed verbatim by each
framework's loader functions (src/opforge/frameworks/<name>/loader.py, which register
themselves with register() below), is what ships next to every artifact as opforge_runtime.py
(opforge.artifacts.loader assembles it), so a deployment can use it without opforge installed:

    import opforge_runtime
    opforge_runtime.load("dist/24.09/pytorch")          # a folder or its manifest.json

Before anything is dlopened it checks, from the artifact's manifest.json:
  - the sha256 of every file the manifest lists,
  - that the running framework's version is the one the library was built against (or, for
    a library that negotiates the API or a PyTorch stable-ABI one, at least its floor),
  - that the running framework's C++ ABI flag is the library's.
A mismatch raises LoadRefused naming both sides; nothing is loaded.

Inside opforge this module is the core alone; opforge.artifacts.loader registers the same
loader functions into it, through the adapters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

MANIFEST = "manifest.json"
SCHEMA = "opforge-manifest/1"


class LoadRefused(RuntimeError):
    """The artifact does not fit the running framework (or was altered); nothing was loaded."""


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_path(path: Path | str) -> Path:
    path = Path(path)
    return path / MANIFEST if path.is_dir() else path


def read_manifest(path: Path | str) -> dict:
    mpath = manifest_path(path)
    try:
        manifest = json.loads(mpath.read_text("utf-8"))
    except FileNotFoundError:
        raise LoadRefused(f"no manifest at {mpath}: is this an opforge artifact folder?") from None
    except ValueError as exc:
        raise LoadRefused(f"{mpath} is not valid JSON: {exc}") from None
    if manifest.get("schema") != SCHEMA:
        raise LoadRefused(f"{mpath} has schema {manifest.get('schema')!r}; this loader reads "
                          f"{SCHEMA}")
    return manifest


# framework -> (what is running, how to load a library into it, the words for a refusal that
# the framework signals by returning None): each framework's loader functions, registered
# by its part of this file where it ships, and by opforge from the adapters otherwise
FRAMEWORKS: dict[str, tuple] = {}
# framework -> loaded(handle, manifest), run once a library is loaded (PyTorch: fake kernels)
LOADED: dict = {}


def register(framework: str, running, load_library, refused: str = "", loaded=None) -> None:
    """Add a framework's loader functions: running() gives {"version": ...} and, where the
    framework has a C++ ABI to match, "cxx11_abi"; load_library(library, **options) gives
    what the framework returns for a loaded library, or None where it refuses the library
    without raising (`refused` says so then, {library} standing for its path); loaded(handle,
    manifest), when given, completes the registration from the manifest."""
    FRAMEWORKS[framework] = (running, load_library, refused)
    if loaded is not None:
        LOADED[framework] = loaded


def _release(version: str) -> tuple[int, ...]:
    """Leading numeric parts of a version: '2.13.0+cpu' -> (2, 13, 0), '2.5.0a0' -> (2, 5, 0)."""
    parts = []
    for part in version.split("+")[0].split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(parts)


def verify_files(manifest: dict, folder: Path) -> None:
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise LoadRefused(f"{path} is listed in the manifest but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise LoadRefused(f"{path} has sha256 {actual}, but the manifest says {expected}: "
                              f"the file was altered or replaced; rebuild or re-copy the "
                              f"artifact folder whole")


def version_refusal(fw: dict, running: dict) -> str | None:
    """Why a library built as `fw` (a manifest's framework section) does not fit `running`
    (a framework's version, and its cxx11_abi where it has one); None when it fits. The one
    rule, per the library's compatibility: "at-least", the same major and a minor no older
    than its floor: the version it was built against (the library negotiates the API), or the
    `abi_target` it was built for (a PyTorch stable-ABI library, built against newer
    headers); "exact", the very version and C++ ABI. The loader applies it to what is
    running; `opforge check --release` and `opforge releases diff` to what a release runs."""
    if fw.get("compatibility") == "at-least":
        floor = fw.get("abi_target") or fw["version"]
        have, built = _release(running["version"]), _release(floor)
        if have[:1] != built[:1] or have[:2] < built[:2]:
            what = (f"for the {fw['title']} {floor} stable ABI" if fw.get("abi_target") else
                    f"against {fw['title']} {floor} headers")
            return (f"it was built {what}, but {fw['title']} {running['version']} is "
                    f"running; it needs {fw['title']} {floor} or a newer {built[0]}.x")
        return None
    if running["version"] != fw["version"]:
        return (f"it was built for {fw['title']} {fw['version']}, but {fw['title']} "
                f"{running['version']} is running")
    if "cxx11_abi" in running and running["cxx11_abi"] != fw["cxx11_abi"]:
        return (f"it was built with _GLIBCXX_USE_CXX11_ABI={fw['cxx11_abi']}, but the "
                f"running {fw['title']} uses {running['cxx11_abi']}")
    return None


def check_framework(manifest: dict) -> dict:
    fw = manifest["framework"]
    if fw["name"] not in FRAMEWORKS:
        raise LoadRefused(f"this loader does not know framework {fw['name']!r}")
    running = FRAMEWORKS[fw["name"]][0]()
    why = version_refusal(fw, running)
    if why is None:
        return running
    fix = ("" if fw.get("compatibility") == "at-least" or running["version"] == fw["version"]
           else f"; rebuild for this version (opforge build --release local) or run with "
                f"{fw['title']} {fw['version']}")
    raise LoadRefused(f"{manifest['library']}: {why}{fix}")


def load(path: Path | str, **options):
    """Check and load an artifact; returns what the framework returns for a loaded library:
    torch.ops for PyTorch, the op module for TensorFlow, onnxruntime.SessionOptions with the
    library registered for ONNX Runtime (pass session_options= to register into yours)."""
    mpath = manifest_path(path)
    manifest = read_manifest(mpath)
    folder = mpath.parent
    verify_files(manifest, folder)
    check_framework(manifest)
    library = str((folder / manifest["library"]).resolve())
    _, load_library, refused = FRAMEWORKS[manifest["framework"]["name"]]
    handle = load_library(library, **options)
    if handle is None:
        raise LoadRefused(refused.format(library=library) if refused else
                          f"{manifest['framework']['title']} refused {library}")
    if manifest["framework"]["name"] in LOADED:
        LOADED[manifest["framework"]["name"]](handle, manifest)
    return handle


def library_path(path: Path | str) -> str:
    """The verified library's absolute path (for LD_PRELOAD or model_operations)."""
    mpath = manifest_path(path)
    manifest = read_manifest(mpath)
    verify_files(manifest, mpath.parent)
    return os.fspath((mpath.parent / manifest["library"]).resolve())
