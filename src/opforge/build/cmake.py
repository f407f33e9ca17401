"""CMake and ninja: find them, configure a generated project (when its provenance stamp
changed), compile it with ninja, and turn compiler output into diagnostics.

A provenance stamp per CMake binary directory wipes the CMake cache when the toolchain or
the flags change; otherwise ninja alone decides what to recompile (nothing, on a no-op).
What CMake built, and with which flags, is read back through the File API (file_api.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from opforge import __version__
from opforge.build import codegen, file_api
from opforge.build.plan import BuildPlan, BuildTools, FrameworkBuild
from opforge.core import log, proc
from opforge.core.errors import BuildError, ToolchainError
from opforge.core.files import cached_per_file
from opforge.core.settings import cache_dir
from opforge.frameworks import Toolchain
from opforge.toolchain import launcher as launcher_mod

STAMP = "opforge-stamp.json"
_DIAGNOSTIC = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+)(:(?P<col>\d+))?: "
                         r"(?P<kind>fatal error|error|warning|note): (?P<msg>.*)$")


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
    """Run CMake's configure step when needed; True when it ran. A binary folder without a
    File API reply (configured by an older opforge) is configured again."""
    stamp = {**stamp, "definitions": definitions}
    if (_stamp_matches(binary, stamp) and (binary / "build.ninja").is_file()
            and file_api.has_reply(binary)):
        return False
    if (binary / "CMakeCache.txt").exists():
        log.detail(f"toolchain or flags changed: clearing the CMake cache of {binary.name}")
        (binary / "CMakeCache.txt").unlink()
        shutil.rmtree(binary / "CMakeFiles", ignore_errors=True)
    binary.mkdir(parents=True, exist_ok=True)
    file_api.request(binary)
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
    """Configure and compile one framework's library; what CMake built it with is then read
    from the File API into fb.target."""
    tools = plan.tools
    source = generated.framework_dirs[fb.framework.name]
    binary = plan.cmake_dir / fb.framework.name
    configure(tools, source, binary, stamp_for(plan, fb.toolchain),
              framework_definitions(plan, kernels_lib), init_cache=source / "init-cache.cmake")
    fb.compiled = compile_project(tools, binary, fb.framework.name)
    fb.target = file_api.read_target(binary, codegen.library_target(plan.recipe, fb.framework))
    if not fb.target.artifacts:
        raise BuildError(f"{fb.framework.name}: CMake's File API reply in {binary} names no "
                         f"library for target {fb.target.name}")
    fb.library = fb.target.artifacts[0]
    if not fb.library.is_file():
        raise BuildError(f"{fb.framework.name}: ninja succeeded but {fb.library} is missing")
