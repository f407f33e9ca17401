"""The build pipeline: `build()` runs its phases in order, each a function of its own:

    plan -> detect toolchains (and check versions) -> plan CUDA -> generate -> compile
         -> publish (artifacts.package) -> audit (artifacts.audit)

The data lives in plan.py, CMake and ninja in cmake.py; this module decides the order and
which framework goes on, is skipped (loudly) or fails the build.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from opforge import frameworks
from opforge.artifacts import audit, package, runtime
from opforge.build import cmake, codegen
from opforge.build.plan import (BuildPlan, BuildResult, FrameworkBuild, default_build_dir,
                                default_out_dir, select_frameworks)
from opforge.core import log
from opforge.core.errors import OpforgeError, RecipeError, ToolchainError
from opforge.frameworks import Framework, Toolchain
from opforge.recipe import LoadedRecipe, version_dtype_problems
from opforge.releases import Release
from opforge.toolchain import cuda
from opforge.toolchain import launcher as launcher_mod


def build(recipe: LoadedRecipe, release: Release, framework_names: list[str] | None = None,
          out_dir: Path | None = None, build_dir: Path | None = None,
          cuda_archs: list[str] | None = None, compile_only: bool = False,
          compiler_launcher: str | None = None) -> BuildResult:
    """Build every selected framework's library; with compile_only, compile and link them
    (CUDA glue included, even for frameworks installed without CUDA) but publish nothing."""
    start = time.perf_counter()
    explicit = bool(framework_names)
    plan, selected = make_plan(recipe, release, framework_names, out_dir, build_dir,
                               compile_only, compiler_launcher)
    with log.step(f"toolchains for release {release.id}"):
        prepare_toolchains(plan, selected, explicit)
        prepare_cuda(plan, cuda_archs, explicit)
    with log.step("generate glue and CMake projects"):
        generated = generate(plan)
    with log.step("compile"):
        cache = compile_all(plan, generated)
    if compile_only:
        return unpublished(plan, time.perf_counter() - start, cache)
    with log.step(f"publish artifacts to {plan.out_dir / release.id}"):
        artifacts = package.publish(plan)
    with log.step(f"audit against release {release.id} (opforge check)"):
        reports = audit_artifacts(artifacts, release)
    return BuildResult(plan, artifacts, time.perf_counter() - start, reports, cache)


# --- phases ----------------------------------------------------------------------------


def make_plan(recipe: LoadedRecipe, release: Release, framework_names: list[str] | None,
              out_dir: Path | None, build_dir: Path | None, compile_only: bool,
              compiler_launcher: str | None) -> tuple[BuildPlan, list[Framework]]:
    """The frameworks to build, each refused here when the release rules it out, and the
    plan's folders and compile cache."""
    selected = select_frameworks(recipe, framework_names)
    problems = []
    for fw in selected:
        try:
            fw.check_release(release)
        except OpforgeError as exc:
            problems.append(exc)
    raise_all(problems)
    plan = BuildPlan(recipe, release, list(recipe.model.target.devices),
                     (build_dir or default_build_dir(recipe, release)).resolve(),
                     (out_dir or default_out_dir(recipe)).resolve(), compile_only=compile_only)
    if plan.left_out and not plan.ops and not recipe.model.native:
        raise RecipeError(f"{recipe.path}: nothing to build for {', '.join(plan.devices)}: "
                        + "; ".join(f"op {n}: {why}" for n, why in plan.left_out.items())
                        + "; add the device to target.devices (or a kernel for "
                          f"{', '.join(plan.devices)})")
    for name, why in plan.left_out.items():
        log.warn(f"op {name} is left out of this build: {why}; its tests are skipped here")
    # a bad --compiler-launcher is the user's to fix whatever this machine has installed
    plan.launcher = launcher_mod.resolve(compiler_launcher, recipe.model.build.compiler_launcher)
    return plan, selected


def prepare_toolchains(plan: BuildPlan, selected: list[Framework], explicit: bool) -> None:
    """Each framework's toolchain, its version against the release's pin, and cmake, ninja
    and the compiler: plan.builds holds the frameworks that go on."""
    toolchains, plan.skipped = detect_toolchains(selected, explicit, plan.release)
    problems: list[OpforgeError] = []
    for fw in selected:
        if fw.name not in toolchains:
            continue
        try:
            toolchains[fw.name] = fw.recipe_toolchain(toolchains[fw.name], plan.recipe)
            verdict = frameworks.check_version(fw, toolchains[fw.name], plan.release)
        except OpforgeError as exc:
            problems.append(exc)
            continue
        plan.builds[fw.name] = FrameworkBuild(fw, toolchains[fw.name], verdict)
        log.detail(verdict.describe())
        if dtype_problems := version_dtype_problems(plan.recipe, fw, toolchains[fw.name].version):
            problems.append(RecipeError(f"{fw.title} {toolchains[fw.name].version} cannot build "
                                        f"every op of {plan.recipe.path}",
                                        details=dtype_problems))
    raise_all(problems)
    plan.tools = cmake.find_build_tools()
    if plan.launcher is not None:
        log.detail(f"compile cache: {plan.launcher.kind} ({plan.launcher.origin})")


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


def prepare_cuda(plan: BuildPlan, arch_override: list[str] | None, explicit: bool) -> None:
    """With CUDA kernels: nvcc, the architectures and each framework's CUDA glue. Without,
    native GPU sources still need the toolkit's headers and runtime."""
    if "cuda" in plan.devices and plan.ops:
        plan_cuda(plan, arch_override)
        check_cuda_support(plan, explicit)
    elif any(b.framework.requires_cuda for b in plan.builds.values()):
        plan.nvcc = cuda.find_nvcc()


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


def generate(plan: BuildPlan) -> codegen.Generated:
    """The glue and CMake projects of the frameworks that go on (written where changed)."""
    generated = codegen.generate(plan.recipe, [b.framework for b in plan.builds.values()],
                                 {n: b.toolchain for n, b in plan.builds.items()}, plan.devices,
                                 plan.gen_dir, cuda=plan.archs, ops=plan.ops)
    log.detail(f"{len(generated.written)} file(s) changed under {plan.gen_dir}")
    return generated


def compile_all(plan: BuildPlan, generated: codegen.Generated) -> dict | None:
    """The kernels once, then every framework's glue in parallel; what the compile cache
    did meanwhile."""
    before = plan.launcher.stats() if plan.launcher else None
    kernels_lib = cmake.compile_kernels(plan, generated) if plan.ops else None
    with ThreadPoolExecutor(max_workers=len(plan.builds)) as pool:
        futures = [pool.submit(cmake.compile_framework, plan, generated, fb, kernels_lib)
                   for fb in plan.builds.values()]
        raise_all([f.exception() for f in futures if f.exception() is not None])
    return cache_report(plan.launcher, before)


def unpublished(plan: BuildPlan, seconds: float, cache: dict | None) -> BuildResult:
    """--compile-only: the libraries where ninja left them, nothing published."""
    artifacts = [{"framework": n, "library": str(b.library), "published": False}
                 for n, b in plan.builds.items()]
    log.info(f"--compile-only: nothing published; libraries under {plan.cmake_dir}")
    return BuildResult(plan, artifacts, seconds, cache=cache)


def audit_artifacts(artifacts: list[dict], release: Release) -> list:
    """`opforge check` on what was just published; the verdict in the log."""
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


# --- helpers ---------------------------------------------------------------------------


def cache_report(launcher: launcher_mod.Launcher | None, before: dict | None) -> dict | None:
    """What the compile cache did during this build's compiles, logged and for --json."""
    if launcher is None:
        return None
    counts = launcher_mod.difference(before, launcher.stats())
    if counts is not None:
        log.detail(f"compile cache ({launcher.kind}): {counts['hits']} hit(s), "
                   f"{counts['misses']} miss(es)")
    return {**launcher.to_json(), **(counts or {"hits": None, "misses": None})}


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
