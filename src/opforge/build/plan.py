"""The build's data: what is to be built (BuildPlan, one FrameworkBuild per framework), with
which tools (BuildTools), and what came of it (BuildResult). Data only, so that artifacts/
(package, vectors, wheel) can read a plan without importing the pipeline that runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from opforge import frameworks
from opforge.build.file_api import Target
from opforge.core.errors import UserError
from opforge.frameworks import Framework, Toolchain, VersionVerdict
from opforge.recipe import LoadedRecipe, Op
from opforge.releases import Release
from opforge.toolchain import cuda
from opforge.toolchain import launcher as launcher_mod


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
    target: Target | None = None  # the library's target as CMake's File API reports it


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
    def ops(self) -> list[Op]:
        """The kernel ops this build makes: those with a kernel for one of its devices."""
        return [op for op in self.recipe.ops if op.kernel_devices(self.devices)]

    @property
    def left_out(self) -> dict[str, str]:
        """Kernel ops without a kernel for any of the build's devices -> why."""
        return {op.name: f"it has only a {'cuda' if op.cuda else 'cpu'} kernel and this build "
                         f"is for {', '.join(self.devices)}"
                for op in self.recipe.ops if not op.kernel_devices(self.devices)}

    @property
    def gen_dir(self) -> Path:
        return self.build_dir / "gen"

    @property
    def cmake_dir(self) -> Path:
        return self.build_dir / "cmake"


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


def default_build_dir(recipe: LoadedRecipe, release: Release) -> Path:
    return recipe.dir / "build" / release.id


def default_out_dir(recipe: LoadedRecipe) -> Path:
    return recipe.dir / "dist"


def select_frameworks(recipe: LoadedRecipe, names: list[str] | None) -> list[Framework]:
    """The recipe's frameworks, narrowed to `names` (--framework) where given."""
    declared = list(recipe.model.target.frameworks)
    if names:
        unknown = [n for n in names if n not in declared]
        if unknown:
            raise UserError(f"--framework {', '.join(unknown)}: not in target.frameworks of "
                            f"{recipe.path} ({', '.join(declared)}); add it to the recipe "
                            f"first")
        declared = [n for n in declared if n in names]
    return [frameworks.get(n) for n in declared]
