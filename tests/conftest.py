"""Shared fixtures. The example recipe is built once per test session (it compiles real
glue against the installed frameworks, ~30 s cold); tests that need a framework that is not
installed skip with the reason."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Builds in the suite compile without a cache (and start no sccache server) unless a test
# asks for one with --compiler-launcher: tests/test_cache.py.
os.environ.setdefault("OPFORGE_COMPILER_LAUNCHER", "none")
EXAMPLE = ROOT / "recipes" / "examples" / "addsub"


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_torch = pytest.mark.skipif(not have("torch"), reason="PyTorch is not installed "
                                 "(pip install 'opforge[pytorch]')")
def ort_sdk_found() -> bool:
    from opforge.frameworks.onnxruntime import sdk
    from opforge.toolchain.sdk import SdkLocation

    return isinstance(sdk.find(), SdkLocation)


needs_ort = pytest.mark.skipif(
    not (have("onnxruntime") and have("onnx") and ort_sdk_found()),
    reason="ONNX Runtime C headers not found (the PyPI wheel has none): set ONNXRUNTIME_ROOT "
           "to an unpacked official release, or run `opforge sdk fetch onnxruntime 1.19.2`; "
           "and pip install 'opforge[onnxruntime]'")
needs_tf = pytest.mark.skipif(not have("tensorflow"), reason="TensorFlow is not installed "
                              "(pip install 'opforge[tensorflow]')")


# Sections printed after the run, under pytest's own summary, by tests that report more than
# pass or fail (tests/test_sdk_glue.py: what each SDK header set built and ran): title -> a
# function returning the lines.
TERMINAL_SUMMARY: dict = {}


def pytest_terminal_summary(terminalreporter):
    for title, lines in TERMINAL_SUMMARY.items():
        terminalreporter.section(title)
        for line in lines():
            terminalreporter.write_line(line)


CLI_SCHEMA = json.loads((ROOT / "docs" / "cli.schema.json").read_text("utf-8"))


def check_json(schema_name: str, data) -> None:
    """Validate a --json document against its definition in docs/cli.schema.json."""
    import jsonschema

    jsonschema.Draft202012Validator({**CLI_SCHEMA, "$ref": f"#/$defs/{schema_name}"}
                                    ).validate(data)


def schema_name(args: tuple[str, ...]) -> str | None:
    """Which definition a command's stdout follows, or None when it prints no JSON."""
    command = args[0] if args else None
    if command == "matrix":
        if "--dry-run" in args:
            return None
        if "--json" in args or "--format" not in args or "json" in args:
            return "matrix"
        return "matrix-github" if "github" in args else None
    if "--json" not in args:
        return None
    if command == "releases":
        for action in ("show", "diff", "learn"):
            if action in args:
                return f"releases-{action}"
        return "releases-coverage" if "--coverage" in args else "releases-list"
    return command


def opforge(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run the real CLI in a child process, as a user would. Whatever it prints as JSON is
    checked against docs/cli.schema.json (the error document when it failed)."""
    result = subprocess.run([sys.executable, "-m", "opforge", *args], capture_output=True,
                            text=True, cwd=cwd, env={**os.environ, "NO_COLOR": "1",
                                                     "TF_CPP_MIN_LOG_LEVEL": "3",
                                                     **(env or {})})
    name = schema_name(args)
    if name and result.stdout.strip():
        data = json.loads(result.stdout)
        if result.returncode != 0 and isinstance(data, dict) and "error" in data:
            check_json("error", data)
            assert data["error"]["exit_code"] == result.returncode
        else:
            check_json(name, data)
    return result


@pytest.fixture(scope="session")
def example_copy(tmp_path_factory) -> Path:
    """A private copy of the example recipe folder (tests may build and break it)."""
    dest = tmp_path_factory.mktemp("example") / "addsub"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("build", "dist"))
    return dest


@pytest.fixture(scope="session")
def built_example(example_copy) -> dict:
    """`opforge build --release local --json` of the example, once per session."""
    if not (have("torch") and have("tensorflow")):
        pytest.skip("the example builds for pytorch and tensorflow; install both "
                    "(pip install 'opforge[all]')")
    result = opforge("build", str(example_copy / "recipe.toml"), "--release", "local", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    summary["stderr"] = result.stderr
    return summary


@pytest.fixture(scope="session")
def example_repository(built_example, example_copy, tmp_path_factory) -> Path:
    """The example's models, made by its own script (TorchScript, AOTInductor packages:
    tens of seconds each, ONNX, SavedModel) and packaged with `opforge package`, once."""
    repo = tmp_path_factory.mktemp("served") / "models"
    made = subprocess.run([sys.executable, str(example_copy / "models" / "make_models.py"),
                           str(repo), "--release", "local"], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert made.returncode == 0, made.stderr
    result = opforge("package", str(example_copy / "recipe.toml"), "--release", "local",
                     "--model-repository", str(repo), "--base-image", "none")
    assert result.returncode == 0, result.stderr
    return repo


def build_copy(source: Path, tmp_path_factory, expect: int = 0,
               frameworks: tuple[str, ...] = ()) -> dict:
    """Copy a recipe folder (without its build/ and dist/) and `opforge build --release local
    --json` it (only `frameworks` when given); the build must exit `expect`. Needs PyTorch
    and TensorFlow, or the frameworks given."""
    needed = frameworks or ("pytorch", "tensorflow")
    modules = {"pytorch": "torch", "tensorflow": "tensorflow", "onnxruntime": "onnxruntime"}
    if not all(have(modules[f]) for f in needed):
        pytest.skip(f"{source.name} builds for {' and '.join(needed)}; install them "
                    "(pip install 'opforge[all]')")
    folder = tmp_path_factory.mktemp(source.name) / source.name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("build", "dist"))
    flags = [arg for f in frameworks for arg in ("--framework", f)]
    result = opforge("build", str(folder / "recipe.toml"), "--release", "local", "--json",
                     *flags)
    assert result.returncode == expect, result.stderr
    return {"folder": folder, "build": json.loads(result.stdout), "stderr": result.stderr}


@pytest.fixture(scope="session")
def built_shapes(tmp_path_factory):
    """recipes/examples/shapes built once (with ONNX Runtime when its headers are found)."""
    return build_copy(ROOT / "recipes" / "examples" / "shapes", tmp_path_factory)["folder"]


@pytest.fixture(scope="session")
def built_layernorm(tmp_path_factory):
    """recipes/examples/layernorm built once (with ONNX Runtime when its headers are found)."""
    return build_copy(ROOT / "recipes" / "examples" / "layernorm", tmp_path_factory)["folder"]


def with_cuda(text: str, framework: str) -> str:
    """A recipe's text building for `framework` on CUDA: the framework among its frameworks
    and, where it has kernel ops, cuda among its devices and each op's CUDA kernel
    (kernels/<name>.cu beside its cpu one)."""
    text = re.sub(r'^frameworks = \[(.*?)\]',
                  lambda m: m[0] if f'"{framework}"' in m[1] else
                  f'frameworks = [{m[1]}, "{framework}"]', text, count=1, flags=re.M)
    if "[[ops]]" not in text:
        return text
    if re.search(r"^devices = ", text, re.M):
        text = re.sub(r"^devices = .*$", 'devices = ["cpu", "cuda"]', text, count=1, flags=re.M)
    else:
        text = re.sub(r"^(frameworks = .*)$", r'\1\ndevices = ["cpu", "cuda"]', text,
                      count=1, flags=re.M)
    return re.sub(r'^cpu = "kernels/(\w+)\.cc"$(?!\ncuda)',
                  r'cpu = "kernels/\1.cc"\ncuda = "kernels/\1.cu"', text, flags=re.M)
