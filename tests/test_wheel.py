"""`opforge wheel`: the example as a wheel (scikit-build-core), installed into a fresh venv
and loaded into torch and TensorFlow there."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import opforge


@pytest.fixture(scope="session")
def example_wheel(built_example, example_copy, tmp_path_factory) -> dict:
    """The example's wheel; its build reuses the session's build of the example."""
    wheel_dir = tmp_path_factory.mktemp("wheels")
    result = opforge("wheel", str(example_copy / "recipe.toml"), "--release", "local",
                     "--wheel-dir", str(wheel_dir), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    data["stderr"] = result.stderr
    return data


@pytest.fixture(scope="session")
def fresh_venv(example_wheel, tmp_path_factory) -> Path:
    """A new venv with only the wheel installed; the frameworks come from this environment
    through a .pth line (reinstalling torch and TensorFlow would take minutes), opforge not."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"], check=True,
                          capture_output=True, text=True).stdout.strip()
    (Path(site) / "frameworks.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    example_wheel["wheel"]], check=True)
    return python


def run(python: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})


def test_one_wheel_per_release_and_framework_set(example_wheel):
    wheel = Path(example_wheel["wheel"])
    frameworks = example_wheel["frameworks"]
    assert wheel.name == (f"addsub_ops-0.1.0+local.{'.'.join(frameworks)}-py3-none-"
                          f"linux_x86_64.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for fw in frameworks:
        assert {f"addsub_ops/{fw}/manifest.json", f"addsub_ops/{fw}/opforge_runtime.py",
                f"addsub_ops/{fw}/libaddsub_ops_{fw}.so"} <= names
    assert "addsub_ops/__init__.py" in names
    # the wheel's CMake project drove the build's own binary folders: nothing recompiled
    assert "no work to do" in example_wheel["stderr"]


def test_the_wheel_ships_the_assembled_runtime_loader(example_wheel):
    from opforge.artifacts.loader import shipped_source

    archive = zipfile.ZipFile(example_wheel["wheel"])
    for member in ["addsub_ops/_opforge_runtime.py", *(
            f"addsub_ops/{fw}/opforge_runtime.py" for fw in example_wheel["frameworks"])]:
        assert archive.read(member).decode("utf-8") == shipped_source(), member


def test_wheel_loads_into_torch_and_tensorflow_in_a_fresh_venv(fresh_venv):
    result = run(fresh_venv, """
import json
import addsub_ops
try:
    import opforge.artifacts.runtime
    raise AssertionError("opforge leaked into the fresh venv")
except ModuleNotFoundError:
    pass
import torch
ops = addsub_ops.load("pytorch")
total, diff = ops.acme.AddSub(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5]), alpha=2.0)
import tensorflow as tf
module = addsub_ops.load("tensorflow")
tf_total, tf_diff = module.acme_add_sub(a=[1.0, 2.0], b=[0.5, 0.5], alpha=2.0)
print(json.dumps({"torch": [total.tolist(), diff.tolist()],
                  "tf": [tf_total.numpy().tolist(), tf_diff.numpy().tolist()],
                  "path": addsub_ops.library_path("pytorch"),
                  "frameworks": list(addsub_ops.FRAMEWORKS)}))
""")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["torch"] == [[2.0, 3.0], [0.0, 1.0]] and out["tf"] == out["torch"]
    assert "/site-packages/addsub_ops/pytorch/libaddsub_ops_pytorch.so" in out["path"]
    assert str(fresh_venv.parent.parent) in out["path"]


def test_wheel_loader_refuses_what_the_runtime_loader_refuses(fresh_venv):
    result = run(fresh_venv, """
import addsub_ops
try:
    addsub_ops.load("tensorrt")
except addsub_ops.LoadRefused as exc:
    print("refused:", exc)
path = addsub_ops.library_path("tensorflow")
with open(path, "ab") as fh:
    fh.write(b"tampered")
try:
    addsub_ops.load("tensorflow")
except addsub_ops.LoadRefused as exc:
    print("refused:", exc)
""")
    assert result.returncode == 0, result.stderr
    assert "refused: addsub_ops has no 'tensorrt' library; it has: " in result.stdout
    assert "the file was altered or replaced" in result.stdout
