"""Build: configure and compile the generated CMake projects with the cmake and ninja wheels.

Phases, each its own function: select frameworks -> detect toolchains -> check versions ->
generate -> compile kernels once -> compile each framework's glue in parallel -> publish.
A provenance stamp per CMake binary directory wipes the CMake cache when the toolchain or
the flags change; otherwise ninja alone decides what to recompile (nothing, on a no-op).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from opforge import __version__, frameworks
from opforge.build import codegen
from opforge.toolchain import cuda
from opforge.core import log, proc
from opforge.toolchain import launcher as launcher_mod
from opforge.core.errors import BuildError, OpforgeError, ToolchainError, UserError
from opforge.core.files import cached_per_file
from opforge.core.settings import cache_dir
from opforge.frameworks import Framework, Toolchain, VersionVerdict
from opforge.recipe import LoadedRecipe
from opforge.releases import Release

STAMP = "opforge-stamp.json"
_DIAGNOSTIC = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+)(:(?P<col>\d+))?: "
                         r"(?P<kind>fatal error|error|warning|note): (?P<msg>.*)$")


@dataclass(frozen=True)
class BuildTools:
    cmake: Path
    ninja: Path
    cmake_version: str
    compiler: Path
    compiler_version: str
    ninja_version: str = ""

    def to_json(self) -> dict:
        return {"cmake": str(self.cmake), "cmake_version": self.cmake_version,
                "ninja": str(self.ninja), "ninja_version": self.ninja_version,
                "compiler": str(self.compiler), "compiler_version": self.compiler_version}


@dataclass
class FrameworkBuild:
    framework: Framework
    toolchain: Toolchain
    verdict: VersionVerdict
    library: Path | None = None
    compiled: int = 0  # compiler invocations ninja ran


@dataclass
class BuildPlan:
    recipe: LoadedRecipe
    release: Release
    devices: list[str]
    build_dir: Path
    out_dir: Path
    builds: dict[str, FrameworkBuild] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # framework -> why it was not built
    tools: BuildTools | None = None
    nvcc: cuda.Nvcc | None = None  # set when devices include cuda
    archs: cuda.ArchPlan | None = None
    compile_only: bool = False  # compile and link, publish nothing
    launcher: launcher_mod.Launcher | None = None  # ccache / sccache around every compile

    @property
    def gen_dir(self) -> Path:
        return self.build_dir / "gen"

    @property
    def cmake_dir(self) -> Path:
        return self.build_dir / "cmake"


def default_build_dir(recipe: LoadedRecipe, release: Release) -> Path:
    return recipe.dir / "build" / release.id


def default_out_dir(recipe: LoadedRecipe) -> Path:
    return recipe.dir / "dist"


# --- phases --------------------------------------------------------------------------


def select_frameworks(recipe: LoadedRecipe, names: list[str] | None) -> list[Framework]:
    declared = list(recipe.model.target.frameworks)
    if names:
        unknown = [n for n in names if n not in declared]
        if unknown:
            raise UserError(f"--framework {', '.join(unknown)}: not in target.frameworks of "
                            f"{recipe.path} ({', '.join(declared)}); add it to the recipe "
                            f"first")
        declared = [n for n in declared if n in names]
    return [frameworks.get(n) for n in declared]


def plan_cuda(plan: BuildPlan, arch_override: list[str] | None) -> None:
    """nvcc, its version against the release's CUDA, and the architectures to compile."""
    plan.nvcc = cuda.find_nvcc()
    target = plan.recipe.model.target
    if arch_override:
        where = "--cuda-arch"
    elif target.cuda_archs:
        arch_override, where = target.cuda_archs, f"target.cuda_archs of {plan.recipe.path}"
    else:
        where = ""
    plan.archs = cuda.plan_archs(plan.release, plan.nvcc, arch_override, where)
    log.detail(f"nvcc {plan.nvcc.version} ({plan.nvcc.path}); SASS "
               f"{', '.join('sm_' + a for a in plan.archs.archs)}, PTX compute_{plan.archs.ptx}")
    log.detail(f"architectures: {plan.archs.why.split(' (')[0]}")


def check_cuda_support(plan: BuildPlan, explicit: bool) -> None:
    """Add the libraries each framework's CUDA glue links (libc10_cuda.so for PyTorch) to
    its toolchain, so that the link, the manifest and the audit's symbol resolution all see
    the same set. A framework whose installation cannot make a working CUDA library is
    skipped loudly (an error with --framework); with compile_only its glue is compiled
    anyway where its headers allow."""
    problems, skipped = [], {}
    for name, fb in list(plan.builds.items()):
        support = fb.framework.cuda_support(fb.toolchain)
        if support.problem and plan.compile_only and support.compiles:
            log.warn(f"{name}: {support.problem}; compiling its CUDA glue anyway "
                     f"(--compile-only)")
        if not support.problem or (plan.compile_only and support.compiles):
            fb.toolchain = frameworks.with_libraries(fb.toolchain, support.libraries)
        elif explicit and not plan.compile_only:
            problems.append(ToolchainError(f"{name}: {support.problem}"))
        else:
            skipped[name] = support.problem
            del plan.builds[name]
    settle(problems, bool(plan.builds), skipped, "build CUDA ops")
    plan.skipped.update(skipped)


def detect_toolchains(selected: list[Framework], explicit: bool, release: Release
                      ) -> tuple[dict[str, Toolchain], dict[str, str]]:
    """Probe every framework at once (each probe may be a child process importing it), for
    the release (which of several SDK versions fits it).

    A framework whose toolchain is missing is skipped, loudly, when it was only listed in the
    recipe; when asked for with --framework it is an error. Returns (found, skipped)."""
    with ThreadPoolExecutor(max_workers=max(1, len(selected))) as pool:
        futures = {fw.name: pool.submit(fw.detect, release) for fw in selected}
    found, skipped, problems = {}, {}, []
    for name, future in futures.items():
        exc = future.exception()
        if exc is None:
            found[name] = future.result()
        elif isinstance(exc, ToolchainError) and not explicit:
            skipped[name] = exc.message
        else:
            problems.append(exc)
    settle(problems, bool(found), skipped, "be built")
    return found, skipped


def settle(problems: list[BaseException], anything_left: bool, skipped: dict[str, str],
           what: str) -> None:
    """After sorting frameworks into kept / skipped / failed: raise the failures (all of
    them); with nothing left, an error saying why each was skipped; else warn each skip."""
    raise_all(problems)
    if not anything_left:
        raise ToolchainError(f"no framework of the recipe can {what} here",
                             details=[f"{n}: {why}" for n, why in skipped.items()])
    for name, why in skipped.items():
        log.warn(f"skipping {name}: {why}")


def raise_all(problems: list[BaseException]) -> None:
    """Raise the first problem, after logging the others, so that one run shows them all."""
    if not problems:
        return
    for extra in problems[1:]:
        log.error(str(extra), getattr(extra, "details", []))
    raise problems[0]


def find_build_tools() -> BuildTools:
    cmake = proc.find_program("cmake", setting="cmake", module="cmake")
    ninja = proc.find_program("ninja", setting="ninja", module="ninja")
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not cxx:
        raise ToolchainError("no C++ compiler found: set CXX or install g++ "
                             "(apt-get install g++)")
    compiler = (proc.output_lines([cxx, "--version"]) or [""])[0]  # live: ccache wrappers
    return BuildTools(cmake, ninja, tool_version(cmake), Path(cxx), compiler,
                      tool_version(ninja))


def tool_version(program: Path) -> str:
    """The first line of `program --version` for the cmake and ninja that opforge found
    (absolute paths; the wheels' entry points start a Python each), cached per file: two
    version queries cost a no-op build a tenth of a second."""
    return cached_per_file(cache_dir() / "tools", program,
                           lambda: (proc.output_lines([program, "--version"]) or [""])[0])


def _stamp_matches(binary_dir: Path, stamp: dict) -> bool:
    try:
        return json.loads((binary_dir / STAMP).read_text("utf-8")) == stamp
    except (OSError, ValueError):
        return False


def configure(tools: BuildTools, source: Path, binary: Path, stamp: dict,
              definitions: dict[str, str], init_cache: Path | None = None,
              env: dict[str, str] | None = None) -> bool:
    """Run CMake's configure step when needed; True when it ran."""
    stamp = {**stamp, "definitions": definitions}
    if _stamp_matches(binary, stamp) and (binary / "build.ninja").is_file():
        return False
    if (binary / "CMakeCache.txt").exists():
        log.detail(f"toolchain or flags changed: clearing the CMake cache of {binary.name}")
        (binary / "CMakeCache.txt").unlink()
        shutil.rmtree(binary / "CMakeFiles", ignore_errors=True)
    binary.mkdir(parents=True, exist_ok=True)
    args = [str(tools.cmake), "-S", str(source), "-B", str(binary), "-G", "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={tools.ninja}", f"-DCMAKE_CXX_COMPILER={tools.compiler}"]
    if init_cache is not None:
        args[1:1] = ["-C", str(init_cache)]
    args += [f"-D{k}={v}" for k, v in definitions.items()]
    result = proc.run(args, env=env)
    if result.returncode != 0:
        raise BuildError(f"CMake could not configure {source}", details=_tail(result.output))
    (binary / STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True), "utf-8")
    return True


def _tail(output: str, n: int = 25) -> list[str]:
    return output.strip().splitlines()[-n:]


def diagnostics(output: str) -> list[str]:
    """The compiler's errors (file:line: error: ...) and ninja's FAILED lines, in order."""
    found = []
    for line in output.splitlines():
        m = _DIAGNOSTIC.match(line)
        if (m and m["kind"] in ("error", "fatal error")) or line.startswith("FAILED: "):
            found.append(line)
    return list(dict.fromkeys(found))[:30] or _tail(output)


def compile_project(tools: BuildTools, binary: Path, label: str) -> int:
    """Run ninja in a configured binary dir, streaming progress; returns compiler runs."""
    compiled = 0

    def on_line(line: str) -> None:
        nonlocal compiled
        if line.startswith("["):
            if "Building" in line:
                compiled += 1
            log.progress(label, line)

    result = proc.run([str(tools.ninja), "-C", str(binary)], on_line=on_line, echo=False,
                      env={"NINJA_STATUS": "[%f/%t] "})
    if result.returncode != 0:
        found = diagnostics(result.output)
        first = next((d for d in found if _DIAGNOSTIC.match(d)), found[0] if found else "")
        raise BuildError(f"{label}: compiling failed" + (f" at {first.split(': ')[0]}"
                                                          if _DIAGNOSTIC.match(first) else ""),
                         details=found)
    return compiled


def stamp_for(plan: BuildPlan, toolchain: Toolchain | None) -> dict:
    return {"opforge": __version__, "tools": plan.tools.to_json(),
            "toolchain": toolchain.to_json() if toolchain else None,
            "nvcc": plan.nvcc.to_json() if plan.nvcc else None,
            "env": {k: os.environ.get(k, "") for k in ("CXXFLAGS", "LDFLAGS", "CPPFLAGS",
                                                        "CUDAFLAGS")}}


def cuda_definitions(plan: BuildPlan, kernels: bool) -> dict[str, str]:
    if plan.nvcc is None:
        return {}
    if kernels:
        return {"CMAKE_CUDA_COMPILER": str(plan.nvcc.path),
                "CMAKE_CUDA_HOST_COMPILER": str(plan.tools.compiler),
                "CMAKE_CUDA_ARCHITECTURES": plan.archs.cmake}
    return {"CUDAToolkit_ROOT": str(plan.nvcc.root)}


def kernels_definitions(plan: BuildPlan) -> dict[str, str]:
    """The -D definitions of the kernels project (one C++ ABI for every selected framework)."""
    abi = {b.toolchain.cxx11_abi for b in plan.builds.values() if b.framework.abi_sensitive}
    if not abi:
        abi = {1}
    if len(abi) > 1:
        raise BuildError("the selected frameworks disagree on _GLIBCXX_USE_CXX11_ABI "
                         f"({', '.join(f'{n}={b.toolchain.cxx11_abi}' for n, b in plan.builds.items())}); "
                         "build them separately with --framework")
    return {"OPFORGE_CXX11_ABI": str(abi.pop()), "CMAKE_BUILD_TYPE": "Release",
            **cuda_definitions(plan, kernels=True),
            **launcher_mod.cmake_definitions(plan.launcher, cuda=True)}


def framework_definitions(plan: BuildPlan, kernels_lib: Path | None) -> dict[str, str]:
    """The -D definitions of a framework's project (its flags come from its init-cache)."""
    return {**({"OPFORGE_KERNELS_LIB": str(kernels_lib)} if kernels_lib else {}),
            **cuda_definitions(plan, kernels=False),
            **launcher_mod.cmake_definitions(plan.launcher, cuda=True)}


def compile_kernels(plan: BuildPlan, generated: codegen.Generated) -> Path:
    binary = plan.cmake_dir / "kernels"
    configure(plan.tools, generated.kernels_dir, binary, stamp_for(plan, None),
              kernels_definitions(plan))
    compile_project(plan.tools, binary, "kernels")
    return binary / "libopforge_kernels.a"


def compile_framework(plan: BuildPlan, generated: codegen.Generated, fb: FrameworkBuild,
                      kernels_lib: Path | None) -> None:
    tools = plan.tools
    source = generated.framework_dirs[fb.framework.name]
    binary = plan.cmake_dir / fb.framework.name
    configure(tools, source, binary, stamp_for(plan, fb.toolchain),
              framework_definitions(plan, kernels_lib), init_cache=source / "init-cache.cmake")
    fb.compiled = compile_project(tools, binary, fb.framework.name)
    fb.library = binary / f"lib{codegen.library_target(plan.recipe, fb.framework)}.so"
    if not fb.library.is_file():
        raise BuildError(f"{fb.framework.name}: ninja succeeded but {fb.library} is missing")


# --- the whole build -----------------------------------------------------------------


@dataclass
class BuildResult:
    plan: BuildPlan
    artifacts: list[dict]
    seconds: float
    audit: list = field(default_factory=list)  # audit.LibraryReport per published library
    cache: dict | None = None  # the launcher and its hits / misses during this build

    @property
    def audit_ok(self) -> bool:
        return all(not r.errors for r in self.audit)

    def to_json(self) -> dict:
        return {"recipe": str(self.plan.recipe.path), "release": self.plan.release.id,
                "build_dir": str(self.plan.build_dir), "out_dir": str(self.plan.out_dir),
                "seconds": round(self.seconds, 3), "artifacts": self.artifacts,
                "skipped": [{"framework": n, "reason": why}
                            for n, why in self.plan.skipped.items()],
                "compiled": {n: b.compiled for n, b in self.plan.builds.items()},
                "cache": self.cache,
                "audit": [r.to_json() for r in self.audit]}


def build(recipe: LoadedRecipe, release: Release, framework_names: list[str] | None = None,
          out_dir: Path | None = None, build_dir: Path | None = None,
          cuda_archs: list[str] | None = None, compile_only: bool = False,
          compiler_launcher: str | None = None) -> BuildResult:
    """Build every selected framework's library; with compile_only, compile and link them
    (CUDA glue included, even for frameworks installed without CUDA) but publish nothing."""
    from opforge.artifacts import package

    start = time.perf_counter()
    devices = list(recipe.model.target.devices)
    selected = select_frameworks(recipe, framework_names)
    problems = []
    for fw in selected:
        try:
            fw.check_release(release)
        except OpforgeError as exc:
            problems.append(exc)
    raise_all(problems)
    plan = BuildPlan(recipe, release, devices,
                     (build_dir or default_build_dir(recipe, release)).resolve(),
                     (out_dir or default_out_dir(recipe)).resolve(), compile_only=compile_only)
    # a bad --compiler-launcher is the user's to fix whatever this machine has installed
    plan.launcher = launcher_mod.resolve(compiler_launcher, recipe.model.build.compiler_launcher)
    with log.step(f"toolchains for release {release.id}"):
        toolchains, plan.skipped = detect_toolchains(selected, bool(framework_names), release)
        selected = [fw for fw in selected if fw.name in toolchains]
        problems: list[OpforgeError] = []
        for fw in selected:
            try:
                verdict = frameworks.check_version(fw, toolchains[fw.name], release)
            except OpforgeError as exc:
                problems.append(exc)
                continue
            plan.builds[fw.name] = FrameworkBuild(fw, toolchains[fw.name], verdict)
            log.detail(verdict.describe())
        raise_all(problems)
        plan.tools = find_build_tools()
        if plan.launcher is not None:
            log.detail(f"compile cache: {plan.launcher.kind} ({plan.launcher.origin})")
        if "cuda" in devices and recipe.ops:
            plan_cuda(plan, cuda_archs)
            check_cuda_support(plan, explicit=bool(framework_names))
            selected = [fw for fw in selected if fw.name in plan.builds]
        elif any(fw.requires_cuda for fw in selected):
            plan.nvcc = cuda.find_nvcc()  # native GPU sources: the toolkit's headers and runtime
    with log.step("generate glue and CMake projects"):
        generated = codegen.generate(recipe, selected,
                                     {n: b.toolchain for n, b in plan.builds.items()}, devices,
                                     plan.gen_dir, cuda=plan.archs)
        log.detail(f"{len(generated.written)} file(s) changed under {plan.gen_dir}")
    with log.step("compile"):
        before = plan.launcher.stats() if plan.launcher else None
        kernels_lib = compile_kernels(plan, generated) if recipe.ops else None
        with ThreadPoolExecutor(max_workers=len(plan.builds)) as pool:
            futures = [pool.submit(compile_framework, plan, generated, fb, kernels_lib)
                       for fb in plan.builds.values()]
            raise_all([f.exception() for f in futures if f.exception() is not None])
        cache = cache_report(plan.launcher, before)
    if compile_only:
        artifacts = [{"framework": n, "library": str(b.library), "published": False}
                     for n, b in plan.builds.items()]
        log.info(f"--compile-only: nothing published; libraries under {plan.cmake_dir}")
        return BuildResult(plan, artifacts, time.perf_counter() - start, cache=cache)
    with log.step(f"publish artifacts to {plan.out_dir / release.id}"):
        artifacts = package.publish(plan)
    with log.step(f"audit against release {release.id} (opforge check)"):
        reports = audit_artifacts(artifacts, release)
    return BuildResult(plan, artifacts, time.perf_counter() - start, reports, cache)


def cache_report(launcher: launcher_mod.Launcher | None, before: dict | None) -> dict | None:
    """What the compile cache did during this build's compiles, logged and for --json."""
    if launcher is None:
        return None
    counts = launcher_mod.difference(before, launcher.stats())
    if counts is not None:
        log.detail(f"compile cache ({launcher.kind}): {counts['hits']} hit(s), "
                   f"{counts['misses']} miss(es)")
    return {**launcher.to_json(), **(counts or {"hits": None, "misses": None})}


def audit_artifacts(artifacts: list[dict], release: Release) -> list:
    """`opforge check` on what was just published; the verdict in the log."""
    from opforge.artifacts import audit, runtime

    reports = []
    for art in artifacts:
        manifest = runtime.read_manifest(art["manifest"])
        report = audit.audit(Path(art["library"]), manifest, release,
                             audit.recorded(manifest))
        reports.append(report)
        serious = [f for f in report.findings if f.severity != "info"]
        verdict = "FAIL" if report.errors else "ok"
        log.detail(f"{art['framework']}: {verdict}" + (f", {len(serious)} finding(s)"
                                                       if serious else ""))
        for f in serious:
            (log.error if f.severity == "error" else log.warn)(
                f"{art['framework']}: {f.code}: {f.message}" + (f" (fix: {f.fix})" if f.fix
                                                                 else ""))
    return reports

