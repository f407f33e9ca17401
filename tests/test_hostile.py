"""Text from a recipe never becomes code: tests/data/hostile (a doc that tries to close
TensorFlow's doc string and call system(), to end // and /* comments; a non-ASCII string
default with quotes and a backslash), copied under a folder whose path has '"', ';', '${x}'
and spaces, built with the real toolchains, loaded by each framework and run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, have, opforge, ort_sdk_found
from opforge.build import literals
from opforge.frameworks.tensorflow import codegen as tf_codegen
from opforge import recipe

HOSTILE = ROOT / "tests" / "data" / "hostile"
FOLDER = 'we"ird;dir ${x} sp'  # CMake splits on ';', expands '${x}'; '"' ends its strings
TEXT = 'é"q\'\\??/'  # the string default of Echo's `text`


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> dict:
    """The hostile recipe under FOLDER, built once (its build folder elsewhere: CMake cannot
    configure under a '"' or ';'), every command run from `cwd`, where a canary would land."""
    if not (have("torch") and have("tensorflow")):
        pytest.skip("the hostile recipe builds for pytorch and tensorflow; install both "
                    "(pip install 'opforge[all]')")
    root = tmp_path_factory.mktemp("hostile")
    folder = root / FOLDER / "hostile"
    shutil.copytree(HOSTILE, folder)
    cwd = root / "cwd"
    cwd.mkdir()
    result = opforge("build", str(folder / "recipe.toml"), "--build-dir", str(root / "build"),
                     "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return {"root": root, "folder": folder, "cwd": cwd, "build": json.loads(result.stdout)}


def canaries(hostile: dict) -> list[Path]:
    return sorted(hostile["root"].rglob("CANARY"))


def test_builds_and_audits_clean(hostile):
    built = {a["framework"] for a in hostile["build"]["artifacts"]}
    assert built == {"pytorch", "tensorflow"} | ({"onnxruntime"} if ort_sdk_found() else set())
    assert all(r["ok"] for r in hostile["build"]["audit"]), hostile["build"]["audit"]
    assert not canaries(hostile)


def test_string_default_reaches_every_kernel_byte_for_byte(hostile):
    result = opforge("test", str(hostile["folder"] / "recipe.toml"), "--json",
                     cwd=hostile["cwd"])
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    frameworks = {a["framework"] for a in hostile["build"]["artifacts"]}
    assert {(r["framework"], r["op"], r["vector"]) for r in report["results"]} == {
        *((fw, "Echo", v) for fw in frameworks for v in ("default-text", "given-text")),
        ("pytorch", "Twice", "0")}  # the native op, its source and include folder in FOLDER
    assert not canaries(hostile)


# Loads both libraries in a child and prints what the frameworks kept of the recipe's text.
_READ_BACK = textwrap.dedent("""\
    import json, sys
    import torch
    import tensorflow as tf
    dist = sys.argv[1]
    torch.ops.load_library(dist + "/pytorch/libhostile_ops_pytorch.so")
    schema = torch.ops.hostile.Echo.default._schema
    ops = tf.load_op_library(dist + "/tensorflow/libhostile_ops_tensorflow.so")
    print(json.dumps({"torch_default": schema.arguments[1].default_value,
                      "tf_doc": ops.hostile_echo.__doc__}))
    """)


def test_frameworks_read_the_doc_and_default_back_intact(hostile):
    dist = hostile["folder"] / "dist" / "local"
    child = subprocess.run([sys.executable, "-c", _READ_BACK, str(dist)], capture_output=True,
                           text=True, cwd=hostile["cwd"],
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout.splitlines()[-1])
    assert seen["torch_default"] == TEXT
    # TensorFlow's op wrapper: the summary, a blank line, the description indented by two;
    # a line TensorFlow would read as an argument's doc ("Note: ...") keeps one more space
    doc = recipe.load(hostile["folder"] / "recipe.toml").ops[0].doc
    summary, *description = tf_codegen.op_doc(doc).split("\n")
    assert seen["tf_doc"].startswith(summary + "\n\n" + "".join(f"  {line}\n"
                                                                  for line in description))
    assert "   Note: a line TensorFlow would read" in seen["tf_doc"]
    assert not canaries(hostile)


def test_default_build_folder_under_a_quote_or_semicolon_is_a_user_error(hostile):
    result = opforge("build", str(hostile["folder"] / "recipe.toml"), cwd=hostile["cwd"])
    assert result.returncode == 2, result.stderr
    assert "has '\"' and ';' in its path, where CMake cannot configure a project; choose " \
           "another with --build-dir" in result.stderr


_ROUND_TRIP = r"""
#include <cstdio>
int main() {
  static const char text[] = %s;
  std::fwrite(text, 1, sizeof text - 1, stdout);
}
"""


@pytest.mark.parametrize("standard", ["-std=c++17", "-std=c++11"])  # C++11 reads trigraphs
def test_cpp_string_gives_back_every_byte(tmp_path, standard):
    compiler = shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (c++) on PATH")
    text = HOSTILE.joinpath("recipe.toml").read_text("utf-8") + "\\\n??/\n\t\x7f\x01"
    (tmp_path / "t.cc").write_text(_ROUND_TRIP % literals.cpp_string(text))
    subprocess.run([compiler, standard, "-Werror", "-o", str(tmp_path / "t"),
                    str(tmp_path / "t.cc")], check=True)
    assert subprocess.run([str(tmp_path / "t")], capture_output=True,
                          check=True).stdout == text.encode()
