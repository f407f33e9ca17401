"""`opforge wheel`: one wheel per (release, framework set), built by scikit-build-core.

    opforge build (publish + audit)  ->  <build>/wheel/{pyproject.toml, CMakeLists.txt,
    __init__.py, _opforge_runtime.py}  ->  scikit-build-core's build_wheel in a child  ->
    <wheel-dir>/<dist>-<version>+<release>.<frameworks>-py3-none-<platform>.whl

The wheel's CMake project drives opforge's own generated projects through ExternalProject,
in the same binary folders `opforge build` used: the libraries it installs are the ones the
build just audited (ninja finds nothing to do), and their manifests' sha256 still hold. The
package holds, per framework, the artifact folder (library, manifest.json, loader) and a
small loader: `import <package>; <package>.load("pytorch")` over _opforge_runtime.py, the
same runtime loader the artifact folders ship (opforge.artifacts.loader.shipped_source).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from opforge.build import cmake, codegen, pipeline
from opforge.build.plan import BuildPlan, BuildResult
from opforge.core import extras, log, proc
from opforge.artifacts import loader, package, runtime
from opforge.core.errors import BuildError, CheckFailed
from opforge.recipe import LoadedRecipe
from opforge.releases import Release


@dataclass
class WheelResult:
    wheel: Path
    build: BuildResult
    frameworks: list[str]

    def to_json(self) -> dict:
        return {"wheel": str(self.wheel), "frameworks": self.frameworks,
                "import_name": import_name(self.build.plan.recipe),
                "build": self.build.to_json()}


def import_name(recipe: LoadedRecipe) -> str:
    return re.sub(r"[^a-z0-9_]", "_", recipe.package.name.lower())


def wheel_version(recipe: LoadedRecipe, release: Release, frameworks: list[str]) -> str:
    """The package version with a local label naming the release and frameworks, e.g.
    0.1.0+r24.09.pytorch.tensorflow (a wheel per release and framework set)."""
    label = "local" if release.is_local else f"r{release.id}"
    return f"{recipe.package.version}+{label}." + ".".join(sorted(frameworks))


def _cmake_args(plan: BuildPlan, definitions: dict[str, str],
                init_cache: Path | None = None) -> list[str]:
    args = [f"-DCMAKE_MAKE_PROGRAM={plan.tools.ninja}",
            f"-DCMAKE_CXX_COMPILER={plan.tools.compiler}"]
    args += [f"-D{k}={v}" for k, v in definitions.items()]
    return (["-C", str(init_cache)] if init_cache else []) + args


def write_project(result: BuildResult) -> Path:
    plan = result.plan
    recipe = plan.recipe
    project = plan.build_dir / "wheel"
    generated = plan.gen_dir
    kernels_lib = plan.cmake_dir / "kernels" / "libopforge_kernels.a" if plan.ops else None
    names = sorted(plan.builds)
    frameworks = []
    for art in result.artifacts:
        fb = plan.builds[art["framework"]]
        folder = Path(art["manifest"]).parent
        frameworks.append({
            "name": art["framework"], "source": generated / art["framework"],
            "binary": plan.cmake_dir / art["framework"], "library": fb.library,
            "manifest": folder / runtime.MANIFEST, "runtime": folder / package.RUNTIME_NAME,
            "args": _cmake_args(plan, cmake.framework_definitions(plan, kernels_lib),
                                generated / art["framework"] / "init-cache.cmake")})
    kernels = None
    if kernels_lib is not None:
        kernels = {"source": generated / "kernels", "binary": plan.cmake_dir / "kernels",
                   "args": _cmake_args(plan, cmake.kernels_definitions(plan))}
    ctx = {"recipe_name": recipe.path.name, "package": recipe.package,
           "release": plan.release.id, "import_name": import_name(recipe),
           "dist_name": recipe.package.name, "frameworks": frameworks, "kernels": kernels,
           "version": wheel_version(recipe, plan.release, names),
           "framework_titles": ", ".join(plan.builds[n].framework.title for n in names),
           "build_dir": (project / "build").as_posix()}
    env = codegen.environment()
    files = {project / "CMakeLists.txt": env.get_template("wheel/CMakeLists.txt.j2").render(ctx),
             project / "pyproject.toml": env.get_template("wheel/pyproject.toml.j2").render(ctx),
             project / "__init__.py": env.get_template("wheel/__init__.py.j2").render(ctx),
             project / "_opforge_runtime.py": loader.shipped_source()}
    for path, text in files.items():
        codegen.write_if_changed(path, text)
    return project


# Runs in the child, in the project folder: the PEP 517 hook, as pip would call it.
_BUILD_WHEEL = ("import sys\nfrom scikit_build_core.build import build_wheel\n"
                "print(build_wheel(sys.argv[1]))\n")


def build_wheel(recipe: LoadedRecipe, release: Release, framework_names: list[str] | None,
                wheel_dir: Path, out_dir: Path | None = None,
                build_dir: Path | None = None,
                compiler_launcher: str | None = None) -> WheelResult:
    extras.need("scikit_build_core.build", "opforge wheel", "wheel")  # before building
    result = pipeline.build(recipe, release, framework_names, out_dir, build_dir,
                         compiler_launcher=compiler_launcher)
    if not result.audit_ok:
        raise CheckFailed("the built libraries failed the audit (see above); no wheel made "
                          "of them")
    with log.step("generate the wheel project (scikit-build-core)"):
        project = write_project(result)
        log.detail(f"{project}")
    wheel_dir = wheel_dir.resolve()
    wheel_dir.mkdir(parents=True, exist_ok=True)
    with log.step(f"build the wheel into {wheel_dir}"):
        outcome = proc.run([sys.executable, "-c", _BUILD_WHEEL, str(wheel_dir)], cwd=project,
                           on_line=lambda line: log.progress("wheel", line), echo=False)
        if outcome.returncode != 0:
            raise BuildError("scikit-build-core could not build the wheel",
                             details=cmake.diagnostics(outcome.output))
        name = outcome.output.strip().splitlines()[-1].strip()
        wheel = wheel_dir / name
        if not wheel.is_file():
            raise BuildError(f"scikit-build-core reported {name!r}, but {wheel} is missing")
    _check_contents(wheel, import_name(recipe), sorted(result.plan.builds))
    return WheelResult(wheel, result, sorted(result.plan.builds))


def _check_contents(wheel: Path, package: str, frameworks: list[str]) -> None:
    """Every framework folder has its library, manifest and loader, byte for byte what the
    manifest says."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for fw in frameworks:
            manifest_name = f"{package}/{fw}/{runtime.MANIFEST}"
            if manifest_name not in names:
                raise BuildError(f"{wheel.name} lacks {manifest_name}")
            manifest = json.loads(archive.read(manifest_name))
            for file, digest in manifest["files"].items():
                member = f"{package}/{fw}/{file}"
                if member not in names:
                    raise BuildError(f"{wheel.name} lacks {member}")
                if hashlib.sha256(archive.read(member)).hexdigest() != digest:
                    raise BuildError(f"{member} in {wheel.name} differs from what its manifest "
                                     f"says: the library was rebuilt after it was published")
