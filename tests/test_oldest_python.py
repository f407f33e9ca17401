"""opforge on the oldest Python its requires-python admits (3.10: the Python of the NGC
containers of releases 23.05-24.10): the CLI starts, reads its data files and recipes, and
reports a broken recipe, in an interpreter of that version running this tree's code.

The interpreter is this one when it is that version (`.ci/run`'s second run), else the venv
`.ci/run` creates for it (.venv310), which has opforge's dependencies for that Python."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from conftest import EXAMPLE, ROOT

SUPPORTED = SpecifierSet(metadata.metadata("opforge")["Requires-Python"])
OLDEST = next(f"3.{minor}" for minor in range(100) if Version(f"3.{minor}") in SUPPORTED)
VENV = ROOT / f".venv{OLDEST.replace('.', '')}"


def oldest_python() -> str:
    if f"{sys.version_info.major}.{sys.version_info.minor}" == OLDEST:
        return sys.executable
    python = VENV / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"no Python {OLDEST} environment at {VENV} (.ci/run creates it: "
                    f"python{OLDEST} -m venv {VENV.name} && {VENV.name}/bin/pip install -e "
                    f"'.[test]')")
    # its dependencies come from pip having installed opforge there, not from this tree
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                            "m.distribution('opforge')"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"opforge is not installed in {VENV} (pip install -e '.[test]' there)")
    return str(python)


def run(python: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1"}
    return subprocess.run([python, "-m", "opforge", *args], capture_output=True, text=True,
                          cwd=cwd, env=env)


def test_cli_data_files_and_recipes_on_the_oldest_python(tmp_path):
    python = oldest_python()
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    assert version == str(tuple(int(p) for p in OLDEST.split(".")))
    for args in (["--help"], ["releases", "show", "24.09"], ["doctor", "--json"],
                 ["matrix", "recipes/examples/addsub/recipe.toml", "--releases", "24.*",
                  "--dry-run"]):
        result = run(python, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert "2.5.0a0+b465a5843b" in run(python, "releases", "show", "24.09").stdout
    broken = tmp_path / "recipe.toml"
    broken.write_text((EXAMPLE / "recipe.toml").read_text() + "\n[package\n")
    result = run(python, "build", str(broken), "--release", "local")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{broken}: not valid TOML" in result.stderr and "line" in result.stderr
