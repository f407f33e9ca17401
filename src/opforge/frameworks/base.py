"""What every framework adapter is: the Protocol, the toolchain a probe finds, detection
of wheel-installed frameworks and the release-pin check.

An adapter knows how to find its framework in this environment (a probe run in a child
process, cached), which release pin holds its version, which templates make its glue,
how Triton loads its libraries, and how to call an op in-process for test vectors.
Loading a library into the running framework belongs to each framework's loader.py, which
ships inside artifacts appended to opforge.artifacts.runtime and must stay stdlib-only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from packaging.version import InvalidVersion, Version

from opforge.core import log, proc
from opforge.core.settings import cache_dir
from opforge.core.errors import ReleaseError, ToolchainError, VersionMismatch
from opforge.releases.versions import (container_label, month, version_matches,
                                       version_not_newer, without_container_label)
from opforge.core.files import write_atomic

if TYPE_CHECKING:
    from opforge.recipe import LoadedRecipe, Op
    from opforge.releases import Release
    from opforge.toolchain.sdk import SdkLocation, SdkMissing

PROBE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Toolchain:
    """What a probe found of one installed framework: everything its glue compiles with."""

    framework: str
    version: str
    location: str
    include_dirs: list[str]
    link_libraries: list[str]  # absolute paths of the framework's shared libraries
    definitions: list[str]  # preprocessor definitions, NAME or NAME=VALUE
    cxx_standard: int
    cxx11_abi: int  # value of _GLIBCXX_USE_CXX11_ABI the framework was built with
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CudaSupport:
    """What an installed framework offers CUDA glue."""

    libraries: list[str] = field(default_factory=list)  # extra libraries the glue links
    problem: str = ""  # why a CUDA library built here would not work ("" when it would)
    compiles: bool = True  # whether the CUDA glue at least compiles (its headers are present)


def with_libraries(toolchain: Toolchain, libraries: list[str]) -> Toolchain:
    """The toolchain that also links `libraries` (a device's own framework libraries, such
    as libc10_cuda.so): what the glue links is what the manifest records and what the audit
    resolves undefined symbols against."""
    extra = [lib for lib in libraries if lib not in toolchain.link_libraries]
    return replace(toolchain, link_libraries=[*toolchain.link_libraries, *extra])


class Framework(Protocol):
    name: str  # registry key and recipe spelling, e.g. "pytorch"
    title: str  # e.g. "PyTorch"
    pin_key: str  # the release pin that holds this framework's version
    distributions: tuple[str, ...]  # PyPI distributions that provide it, in preference order
    install_hint: str  # how to install it, e.g. "pip install 'opforge[pytorch]'"
    triton_loading: str  # how Triton loads its libraries (for docs and packaging)
    # the folder under tritonserver's backend directory whose libraries an op library links
    # (libc10.so, libtensorflow_framework.so.2): the launch puts it on the library path, since
    # NGC images do not; None when the library links nothing of the framework's
    backend_libraries: str | None
    glue_template: str  # "<name>/glue.cc.j2": the template in its folder that makes glue.cc
    folder: Path  # its folder: src/opforge/frameworks/<name>/

    abi_sensitive: bool  # False when the library exchanges no C++ types with the framework
    exported_symbols: tuple[str, ...]  # entry points the library exports (version script)
    compatibility: str  # "exact": load only into the built version; "at-least": or newer
    requires_cuda: bool  # GPU-only framework (TensorRT): every op needs a CUDA kernel
    untestable: str  # why `opforge test` cannot run this framework's vectors ("" when it can)
    # the environment variable by which the framework's NGC container names its month
    # (NVIDIA_PYTORCH_VERSION=24.09): inside the container of a release's
    # upstream_container_version it proves the pin the table lacks; None: never learned
    container_variable: str | None

    def detect(self, release: Release | None = None) -> Toolchain:
        """What this environment offers to build against (for `release`, where there is a
        choice: SDK versions); ToolchainError when nothing."""

    def check_release(self, release: Release) -> None:
        """Raise ReleaseError when the release cannot carry this framework at all."""

    def op_identity(self, recipe: LoadedRecipe, op: Op, native: bool = False) -> str:
        """The name under which the framework knows the op, e.g. acme::AddSub; `native` for
        an op of the recipe's native sources (named as they register it)."""

    def call_op(self, handle: Any, recipe: dict, op: dict, inputs: dict, attrs: dict,
                device: str = "cpu") -> dict:
        """Run the op in-process on `device` ("cpu" or "cuda") with numpy inputs; return
        numpy outputs by name."""

    def cuda_support(self, toolchain: Toolchain) -> CudaSupport:
        """Whether this installation can build CUDA ops, and what the CUDA glue links."""

    def link_stub(self, toolchain: Toolchain) -> dict | None:
        """A stub library to link against where the SDK has headers only (TensorRT), or None."""

    stable_abi_oldest: tuple[int, int] | None  # the oldest stable-ABI target; None: none

    def recipe_toolchain(self, toolchain: Toolchain, recipe: LoadedRecipe) -> Toolchain:
        """The toolchain this recipe's library builds with (FrameworkFolder's says more)."""

    # --- CI image and setup (ci) ---
    ci_image_why: str  # why CI jobs of this framework run in its image (a note of each job)

    def ci_image(self, release: Release) -> str:
        """The container image a CI job for the release runs in: it holds exactly the
        release's version of the framework."""

    def ci_image_missing(self, release: Release) -> str | None:
        """Why opforge knows no such image for the release; None when it knows one."""

    def ci_setup(self, release: Release, device: str) -> CiSetup:
        """The job's own setup steps, around installing opforge, with notes on them."""

    # --- model repository (deploy) ---
    triton_backend: str  # the Triton backend that serves its models (config.pbtxt `backend`)
    triton_platforms: tuple[str, ...]  # what older configs name as `platform` instead
    model_files: tuple[str, ...]  # default model file names in a version folder, in order
    # how Triton loads its op libraries: "model_operations" (op_library_filename in each
    # model's config.pbtxt), "preload" (LD_PRELOAD, the launch script) or "plugins" (the
    # backend's plugins= option, the launch script)
    op_loading: str
    op_kind: str  # what its op libraries hold, as the launch script's comments say
    unreadable_models: str  # why opforge cannot read ops from its model files ("" when it can)
    # the runner file (standalone: stdlib and the framework) that `opforge serve`'s bundled
    # Python-backend wrapper loads to run its models; None when the bundled server cannot
    serve_runner: Path | None

    def ships_backend(self, release: Release) -> bool:
        """Whether the release's tritonserver still has the backend for its models."""

    def model_files_for(self, platform: str) -> tuple[str, ...]:
        """The default model file names for a config's `platform` ("" when it names none)."""

    def platform_problem(self, platform: str, release: Release) -> str | None:
        """Why the release's backend cannot serve models of that platform (None: it can)."""

    def model_ops(self, path: Path) -> dict[str, str]:
        """Op identity -> where a model file uses it, for ops the framework does not provide
        itself; ImportError when the reader's library is not installed here."""

    # --- artifacts (runtime loader, inventory, audit) ---
    # frameworks/<name>/loader.py: its running_<name>/load_<name>, stdlib-only, appended
    # verbatim to the core (artifacts/runtime.py) in the shipped opforge_runtime.py
    loader_source: Path
    # the loader.py's register_<name>: hands its functions to the core's register()
    register_loader: Callable[[Callable[..., None]], None]
    # "module:function" the inventory's child imports and calls as take(library, declared)
    # -> (ops, builtin_clashes); it raises when the framework refuses the library
    inventory_taker: str
    # soname patterns of the libraries the framework's process provides to a loaded library
    framework_libraries: tuple[str, ...]
    # of exported_symbols, those without which the framework cannot load the library at all
    required_entry_points: tuple[str, ...]
    # for a missing entry point that is not required: what needs it (ends the audit's
    # "does not export NAME: ..."), and the fix ({name} stands for the entry point)
    optional_entry_point_advice: tuple[str, str]

    # --- SDKs (toolchain/sdk) ---
    def find_sdk(self, release: Release | None = None) -> SdkLocation | SdkMissing | None:
        """The SDK no wheel carries that its glue builds against (for `release`, where there
        is a choice of versions); None when its wheel carries all it needs."""

    def sdk_at(self, root: Path, how: str) -> SdkLocation | None:
        """The SDK in an unpacked release archive at `root` (`opforge sdk fetch`), or None."""

    # --- code generation and the recipe (codegen, recipe) ---
    def glue_filters(self) -> dict[str, Callable[..., str]]:
        """Jinja filters the glue template uses (named after the framework: one environment
        holds every framework's)."""

    def glue_op_context(self, recipe: LoadedRecipe, op: Op, context: dict) -> dict:
        """The op as the glue template sees it: `context`, the framework-neutral op context
        (what opforge/ops.h is made from), with what this framework's glue needs added."""

    def namespace_problem(self, namespace: str) -> str | None:
        """Why a recipe's ops cannot live in `namespace` in this framework (it keeps the
        namespace for its own ops or code); None when they can."""

    def op_problems(self, op: Op, devices: list[str]) -> list[tuple[tuple, str]]:
        """Why this framework cannot carry the kernel op built for `devices`: (key path
        below the op, message) pairs, for the recipe's validation."""

    def dtype_problem(self, dtype: str, version: str | None = None) -> str | None:
        """Why this framework (at `version`, when given) has no tensors of the recipe dtype
        `dtype`; None when it has."""

    def op_version_problem(self, op: Op, version: str) -> str | None:
        """Why this framework at `version` (the one found to build with) cannot run the
        kernel op, beyond its dtypes; None when it can."""


class FrameworkFolder:
    """The members every adapter derives alike from the files of its folder: an adapter is
    made with its folder's modules (`PyTorch(ci=ci, codegen=codegen, loader=loader,
    repository=repository)`) and overrides only what differs. The files:

        ci.py           WHY_IMAGE (and IMAGE for an NGC framework container)
        glue.cc.j2      the glue template (glue_template: "<name>/glue.cc.j2")
        codegen.py      FILTERS, op_context(), RESERVED_NAMESPACES for the glue template
        types.py        the type maps; MISSING (dtype -> why the framework has no such
                        tensors) and ADDED (dtype -> the first version that has them)
        loader.py       running_<name>(), load_<name>(), register_<name>(): the runtime loader's
        inventory.py    take(): the inventory taker, imported by the child process
        repository.py   BACKEND, PLATFORMS, MODEL_FILES, OP_LOADING, OP_KIND, and model_ops()
                        or UNREADABLE (why its models cannot be read)
        serve_runner.py Runner, for the bundled server (absent: it cannot run the models)
        sdk.py          where an SDK no wheel carries is found (ONNX Runtime, TensorRT; the
                        adapter's find_sdk and sdk_at use it)
    """

    name: str

    title: str

    def __init__(self, *, ci: ModuleType, codegen: ModuleType, loader: ModuleType,
                 repository: ModuleType, types: ModuleType) -> None:
        self.ci, self.codegen, self.loader, self.repository = ci, codegen, loader, repository
        self.types = types
        self.folder = Path(loader.__file__).parent
        self.package = loader.__name__.rpartition(".")[0]

    @property
    def glue_template(self) -> str:
        return f"{self.name}/glue.cc.j2"  # in its folder, which codegen's loader names so

    # the oldest (major, minor) a stable-ABI library of this framework can target (the
    # recipe's build.stable_abi); None: the framework has no stable ABI opforge builds on
    stable_abi_oldest: tuple[int, int] | None = None

    def recipe_toolchain(self, toolchain: Toolchain, recipe: LoadedRecipe) -> Toolchain:
        """The toolchain this recipe's library builds with: the probed one, unless a recipe
        option changes what the glue compiles against (PyTorch's stable ABI). Its extra may
        name another glue template ("glue_template"), and a compatibility of its own
        ("compatibility", with "abi_target": the oldest version it loads in)."""
        return toolchain

    # --- CI image and setup (ci) ---
    @property
    def ci_image_why(self) -> str:
        return self.ci.WHY_IMAGE

    # --- model repository (deploy) ---
    @property
    def triton_backend(self) -> str:
        return self.repository.BACKEND

    @property
    def triton_platforms(self) -> tuple[str, ...]:
        return self.repository.PLATFORMS

    @property
    def model_files(self) -> tuple[str, ...]:
        return self.repository.MODEL_FILES

    @property
    def op_loading(self) -> str:
        return self.repository.OP_LOADING

    @property
    def op_kind(self) -> str:
        return self.repository.OP_KIND

    @property
    def unreadable_models(self) -> str:
        return getattr(self.repository, "UNREADABLE", "")

    @property
    def serve_runner(self) -> Path | None:
        runner = self.folder / "serve_runner.py"
        return runner if runner.is_file() else None

    def ships_backend(self, release: Release) -> bool:
        return True

    def model_files_for(self, platform: str) -> tuple[str, ...]:
        # repository.py's PLATFORM_FILES: platform -> its files, where they differ
        return getattr(self.repository, "PLATFORM_FILES", {}).get(platform, self.model_files)

    def platform_problem(self, platform: str, release: Release) -> str | None:
        # repository.py's PLATFORM_SINCE: platform -> the first release whose backend has it
        since = getattr(self.repository, "PLATFORM_SINCE", {}).get(platform)
        ours = None if release.is_local else month(release.id)
        if since is None or ours is None or ours >= since:  # YY.MM compare as text
            return None
        return (f"platform {platform!r} came in Triton {since}; release {release.id}'s "
                f"{self.title} backend cannot load it")

    def model_ops(self, path: Path) -> dict[str, str]:
        if self.unreadable_models:
            raise ToolchainError(self.unreadable_models)
        return self.repository.model_ops(path)

    # --- artifacts (runtime loader, inventory, audit) ---
    @property
    def loader_source(self) -> Path:
        return Path(self.loader.__file__)

    def register_loader(self, register: Callable[..., None]) -> None:
        getattr(self.loader, f"register_{self.name}")(register)

    @property
    def inventory_taker(self) -> str:
        return f"{self.package}.inventory:take"

    # --- code generation and the recipe (codegen, recipe) ---
    def glue_filters(self) -> dict[str, Callable[..., str]]:
        return self.codegen.FILTERS

    def glue_op_context(self, recipe: LoadedRecipe, op: Op, context: dict) -> dict:
        return self.codegen.op_context(recipe, op, context)

    def namespace_problem(self, namespace: str) -> str | None:
        return reserved_namespace_problem(namespace, self.codegen.RESERVED_NAMESPACES)

    def op_problems(self, op: Op, devices: list[str]) -> list[tuple[tuple, str]]:
        return []

    def op_version_problem(self, op: Op, version: str) -> str | None:
        return None

    def dtype_problem(self, dtype: str, version: str | None = None) -> str | None:
        if why := self.types.MISSING.get(dtype):
            return why
        added = self.types.ADDED.get(dtype)
        try:
            older = bool(version and added) and Version(version).release < Version(added).release
        except InvalidVersion:
            older = False  # a version opforge cannot read: the compiler will say
        if older:
            return (f"{self.title} {version} has no {dtype} tensors: they came in "
                    f"{self.title} {added}")
        return None


class WheelFramework(FrameworkFolder):
    """Defaults for a framework whose headers and libraries come with its Python wheel
    (PyTorch, TensorFlow): found by a cached probe in a child process, C++ types cross the
    library boundary (so the ABI flag matters), loaded only into the version built against."""

    abi_sensitive = True
    exported_symbols: tuple[str, ...] = ()
    compatibility = "exact"
    requires_cuda = False
    untestable = ""
    container_variable: str | None = None
    title: str
    probe: str  # Python source printing a Toolchain as JSON

    def detect(self, release: Release | None = None) -> Toolchain:
        return probe_installed(self, self.probe)  # type: ignore[arg-type]

    def check_release(self, release: Release) -> None:
        return None

    def cuda_support(self, toolchain: Toolchain) -> CudaSupport:
        return CudaSupport()

    def link_stub(self, toolchain: Toolchain) -> dict | None:
        return None

    # --- CI image and setup (ci) ---
    # CI jobs run in the NGC container Triton builds the framework's backend from (the
    # release's upstream_container_version), which holds exactly the release's version
    def ci_image(self, release: Release) -> str:
        upstream = release.pin("upstream_container_version").value or release.id
        return self.ci.IMAGE.format(upstream=upstream)  # {upstream}: the container version

    def ci_image_missing(self, release: Release) -> str | None:
        if release.pin("upstream_container_version").value:
            return None
        return (f"the NGC {self.title} container Triton {release.id} builds from is "
                f"unknown (no upstream_container_version in the release matrix)")

    def ci_setup(self, release: Release, device: str) -> CiSetup:
        return CiSetup()

    # --- SDKs (toolchain/sdk) ---
    def find_sdk(self, release: Release | None = None) -> SdkLocation | SdkMissing | None:
        return None  # the wheel carries headers and libraries

    def sdk_at(self, root: Path, how: str) -> SdkLocation | None:
        return None


def cpp_namespace_of(owner: str) -> str:
    """What a C++ namespace that `owner` keeps is, for reserved_namespace_problem."""
    return (f"the C++ namespace of {owner}: the kernels' declarations (namespace {{ns}} in "
            f"opforge/ops.h) would join it")


def reserved_namespace_problem(namespace: str, reserved: dict[str, str]) -> str | None:
    """Why `namespace` cannot be a recipe's when `reserved` (namespace -> what it is, with
    {ns} for the namespace) holds it; None when it does not."""
    if namespace not in reserved:
        return None
    return (f"{namespace!r} is {reserved[namespace].format(ns=namespace)}; choose a namespace "
            f"of your own (your organisation's or project's name, say)")


# --- detection -----------------------------------------------------------------------


def installed_distribution(fw: Framework) -> metadata.Distribution | None:
    """The installed distribution that provides the framework, found without importing it."""
    for name in fw.distributions:
        try:
            return metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _probe_key(fw: Framework, dist: metadata.Distribution, probe_code: str) -> str:
    # The dist-info folder changes whenever the distribution is reinstalled or upgraded.
    record = Path(str(getattr(dist, "_path", "") or dist.locate_file("")))
    try:
        stamp = record.stat().st_mtime_ns
    except OSError:
        stamp = 0
    raw = json.dumps([fw.name, sys.executable, dist.metadata["Name"], dist.version, str(record),
                      stamp, probe_code])
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def probe_installed(fw: Framework, probe_code: str) -> Toolchain:
    """Probe the installed framework (in a child process), cached per installation.

    The probe imports the framework, which costs seconds (TensorFlow's flags ~2.3 s); the
    cache key changes whenever the installed distribution changes.
    """
    dist = installed_distribution(fw)
    if dist is None:
        raise ToolchainError(
            f"{fw.title} is not installed in this environment ({sys.executable}); "
            f"looked for the distributions {', '.join(fw.distributions)}. Install it with "
            f"{fw.install_hint}, or build inside the NGC container of the release.")
    key = _probe_key(fw, dist, probe_code)
    cached = cache_dir() / "probes" / f"{fw.name}-{key}.json"
    # the distribution's version may carry what the module's does not: NGC TensorFlow
    # containers label the month there (2.16.1+nv24.9), not in tf.__version__
    distribution = {"name": dist.metadata["Name"], "version": dist.version}
    if cached.is_file():
        try:
            toolchain = Toolchain(**json.loads(cached.read_text("utf-8")))
            return replace(toolchain, extra={**toolchain.extra, "distribution": distribution})
        except (ValueError, TypeError):
            pass  # a stale or torn cache entry: probe again
    log.detail(f"probing {fw.title} {dist.version} (cached afterwards)")
    result = proc.run([sys.executable, "-c", probe_code], timeout=PROBE_TIMEOUT_S,
                      echo=False, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    payload = [ln for ln in result.output.splitlines() if ln.startswith("{")]
    if result.returncode != 0 or not payload:
        tail = "\n".join(result.output.strip().splitlines()[-15:])
        raise ToolchainError(f"{fw.title} {dist.version} is installed but importing it "
                             f"failed:\n{tail}")
    toolchain = Toolchain(**json.loads(payload[-1]))
    toolchain.extra["distribution"] = distribution
    write_atomic(cached, json.dumps(toolchain.to_json(), indent=1))
    return toolchain


# --- pins ---------------------------------------------------------------------------

@dataclass(frozen=True)
class VersionVerdict:
    framework: str
    installed: str
    pin: str
    policy: str  # "release pin" | "container label" | "local"
    # how the pin was established: "table" (opforge's facts table), "releases file",
    # "container label" (the NGC container proved it), "local" (what is installed)
    provenance: str = "table"
    evidence: tuple[str, ...] = ()  # what proved it: sources, or the container's variable
    key: str = ""  # the release pin it is (pytorch, tensorflow, ...)

    def describe(self) -> str:
        if self.policy == "local":
            return f"{self.framework} {self.installed} (release local: pinned to installed)"
        if self.policy == "container label":
            return (f"{self.framework} {self.installed}: the release's pin is unknown; pinned "
                    f"to {self.pin}, proven by the NGC container ({'; '.join(self.evidence)})")
        return f"{self.framework} {self.installed} matches the pin {self.pin} ({self.provenance})"

    def to_json(self) -> dict:
        """The pin as manifests and `opforge build --json` record it (what `opforge releases
        learn` reads back)."""
        return {"key": self.key, "value": self.pin, "installed": self.installed,
                "provenance": self.provenance, "evidence": list(self.evidence)}


def unknown_pin(fw: Framework, release: Release, learn: str = "") -> ReleaseError:
    """The error for a pin no source gives; `learn` says why the container could not prove
    it, where one was looked at."""
    upstream = release.pin("upstream_container_version").value
    in_container = (f" Inside the NGC container Triton {release.id} builds its {fw.title} "
                    f"backend from ({fw.ci_image(release)}), opforge takes the installed "
                    f"version as the pin: it checks ${fw.container_variable} and the "
                    f"+nv{upstream} label of the version."
                    if fw.container_variable and upstream else "")
    return ReleaseError(
        f"the {fw.title} version of Triton release {release.id} is unknown: no source in "
        f"the release matrix gives `{fw.pin_key}` for {release.id}, and opforge does not "
        f"guess.{learn}{in_container} Add it with --releases-file (a [[release]] with release "
        f"= \"{release.id}\" and {fw.pin_key} = \"...\" plus its sources; `opforge releases "
        f"learn` writes one from build reports), or build for what is installed with "
        f"--release local.")


def release_pin(fw: Framework, release: Release):
    """The release's pin of this framework; ReleaseError when no source gives it."""
    pin = release.pin(fw.pin_key)
    if not pin.known:
        raise unknown_pin(fw, release)
    return pin


def pin_problem(fw: Framework, release: Release) -> str | None:
    """Why a build of the framework for the release must fail wherever it runs (an unknown
    pin that its NGC container cannot prove either); None when the table gives the pin or
    the container of the release's upstream_container_version can."""
    if release.pin(fw.pin_key).known:
        return None
    if fw.container_variable and release.pin("upstream_container_version").known:
        return None
    return unknown_pin(fw, release).message


def container_pin(fw: Framework, toolchain: Toolchain, release: Release,
                  environ: Mapping[str, str]) -> VersionVerdict:
    """The pin the table lacks, proven by the NGC container the build runs in: its variable
    (NVIDIA_TENSORFLOW_VERSION=24.09) and the installed version's label (+nv24.09) must both
    name the month of the release's upstream_container_version."""
    upstream = release.pin("upstream_container_version").value
    if not fw.container_variable or not upstream:
        raise unknown_pin(fw, release)
    variable, labelled = fw.container_variable, labelled_version(toolchain)
    said, label = environ.get(variable, ""), container_label(labelled)
    if not said and not label:
        raise unknown_pin(fw, release, f" This is no NGC {fw.title} container (${variable} "
                                       f"is unset and {fw.title} {labelled} has no +nvYY.MM "
                                       f"label).")
    if not label or not month(said):
        missing = (f"${variable} is unset" if not said else
                   f"${variable}={said} names no month" if not month(said) else
                   f"{fw.title} {labelled} carries no +nvYY.MM label")
        raise unknown_pin(fw, release, f" The container does not prove it: {missing}, and "
                                       f"opforge needs both.")
    seen = {f"${variable}={said}": month(said), f"{fw.title} {labelled}": label}
    wrong = [f"{what} (the NGC container of {when})" for what, when in seen.items()
             if when != upstream]
    if wrong:
        raise VersionMismatch(
            f"the {fw.title} version of Triton release {release.id} is unknown, and this "
            f"container cannot prove it: {' and '.join(wrong)}, but Triton {release.id} "
            f"builds its {fw.title} backend from the container of {upstream}. Build inside "
            f"{fw.ci_image(release)}, or pass --release local to build for the installed "
            f"{toolchain.version}.",
            details=[f"{what}: container {when}" for what, when in seen.items()]
            + [f"release {release.id}: upstream_container_version {upstream}"])
    return VersionVerdict(fw.name, toolchain.version, without_container_label(toolchain.version),
                          "container label", "container label", tuple(seen), fw.pin_key)


def labelled_version(toolchain: Toolchain) -> str:
    """The installed version that carries the NGC label, where one does: the module's
    (PyTorch: 2.5.0a0+b465a5843b.nv24.09) or else its distribution's (TensorFlow)."""
    dist = (toolchain.extra.get("distribution") or {}).get("version", "")
    return toolchain.version if container_label(toolchain.version) or not dist else dist


def check_version(fw: Framework, toolchain: Toolchain, release: Release,
                  environ: Mapping[str, str] | None = None) -> VersionVerdict:
    """The installed framework against the release's pin; where the table has none, against
    the NGC container the build runs in (`environ`, default the process's environment)."""
    if release.is_local:
        return VersionVerdict(fw.name, toolchain.version, toolchain.version, "local", "local",
                              key=fw.pin_key)
    pin = release.pin(fw.pin_key)
    if not pin.known:
        return container_pin(fw, toolchain, release, os.environ if environ is None else environ)
    if target := toolchain.extra.get("abi_target"):  # a stable ABI: its target, not headers
        matches = version_not_newer(target, pin.value)
    elif fw.compatibility == "at-least":
        matches = version_not_newer(toolchain.version, pin.value)
    else:
        matches = version_matches(toolchain.version, pin.value)
    if not matches:
        raise VersionMismatch(
            f"{fw.title} {toolchain.version} is installed, but Triton release {release.id} "
            f"ships {fw.title} {pin.value}; a library built here would not load there. "
            f"Either build inside the matching NGC container (where {fw.title} is "
            f"{pin.value}), or pass --release local to build for the installed "
            f"{toolchain.version}.",
            details=[f"installed: {toolchain.version} ({toolchain.location})",
                     f"release {release.id} pin: {pin.value} "
                     f"(source: {pin.sources[0] if pin.sources else 'none'})"])
    return VersionVerdict(fw.name, toolchain.version, pin.value, "release pin", pin.provenance,
                          pin.sources, fw.pin_key)


def release_refusal(fw: Framework, built: dict, pin: str) -> str | None:
    """Why a library built as `built` (a manifest's framework section) would not load in a
    release whose pin of the framework is `pin`, by the framework's own rule: the runtime
    loader's (exact, or at-least for libraries that negotiate the API), with the release's
    framework as the running one. Which version the release runs is the pin policy's
    answer: for an exact framework, a version the pin matches is the release's own build.
    None when it loads."""
    from opforge.artifacts import runtime

    exact = built.get("compatibility", fw.compatibility) == "exact"  # a stable-ABI library's
    running = built["version"] if exact and version_matches(built["version"], pin) else pin
    return runtime.version_refusal(built, {"version": running})


# --- CI image and setup (ci) -------------------------------------------------------------

# The tritonserver image is a runtime image: no compiler (cmake and ninja come with
# opforge's wheels).
INSTALL_COMPILER = ("command -v g++ >/dev/null || (apt-get update -qq && "
                    "apt-get install -y -qq --no-install-recommends g++)")


@dataclass(frozen=True)
class CiSetup:
    """A CI job's framework-specific setup: commands run before opforge is installed (what
    the image lacks) and after it (the framework's runtime, its SDK), and notes on them."""

    before_opforge: tuple[str, ...] = ()
    after_opforge: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class TritonserverImage(FrameworkFolder):
    """CI defaults for a framework whose runtime comes with Triton's backend rather than an
    NGC framework container: its jobs run in the release's tritonserver image, and install
    a compiler first. Its version comes from an SDK's headers, which carry no container
    label: an unknown pin stays unknown."""

    container_variable: str | None = None

    def ci_image(self, release: Release) -> str:
        from opforge.releases import tritonserver_image

        return tritonserver_image(release)

    def ci_image_missing(self, release: Release) -> str | None:
        return None

    def ci_setup(self, release: Release, device: str) -> CiSetup:
        return CiSetup(before_opforge=(INSTALL_COMPILER,))
