"""Native sources: the shipped example (one op per framework, written without opforge) is
built once and its per-framework vectors run; recipe errors about [[native]] blocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, build_copy, opforge, ort_sdk_found

NATIVE = ROOT / "recipes" / "examples" / "native"


@pytest.fixture(scope="session")
def native_build(tmp_path_factory) -> dict:
    return build_copy(NATIVE, tmp_path_factory)


def test_native_sources_build_with_a_manifest(native_build):
    built = {a["framework"]: a for a in native_build["build"]["artifacts"]}
    assert {"pytorch", "tensorflow"} <= set(built)
    manifest = json.loads(Path(built["pytorch"]["manifest"]).read_text())
    (op,) = manifest["ops"]
    assert op["identity"] == "native_demo::Clamp" and op["native"] is True
    assert op["sources"] == ["native/torch_clamp.cc"]
    assert manifest["build"]["cxx_flags"].startswith("-std=c++")
    tf = json.loads(Path(built["tensorflow"]["manifest"]).read_text())
    assert [o["identity"] for o in tf["ops"]] == ["NativeDemoClamp"]
    if ort_sdk_found():
        assert "onnxruntime" in built
    else:
        assert "ONNX Runtime C/C++ headers were not found" in native_build["stderr"]


def test_native_vectors_pass_per_framework(native_build):
    result = opforge("test", str(native_build["folder"] / "recipe.toml"), "--release", "local",
                     "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    ran = {(r["framework"], r["op"], r["vector"]) for r in report["results"]}
    assert ("pytorch", "Clamp", "clamps") in ran and ("pytorch", "Clamp", "bad-range") in ran
    assert ("tensorflow", "NativeDemoClamp", "clamps") in ran
    assert not any(r["framework"] == "tensorflow" and r["op"] == "Clamp" for r in report["results"])
    assert report["failed"] == 0


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "n").mkdir(exist_ok=True)
    (tmp_path / "n" / "a.cc").write_text("")
    (tmp_path / "n" / "k.cu").write_text("")
    (tmp_path / "k.cc").write_text("")
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


HEAD = """[package]
name = "p"
version = "1"
namespace = "ns"

[target]
release = "local"
frameworks = ["pytorch", "onnxruntime"]
"""

OP = """
[[native.ops]]
name = "X"
inputs = [{ name = "x", dtype = "float32" }]
outputs = [{ name = "y", dtype = "float32" }]
"""


def test_native_recipe_errors_are_all_reported(tmp_path):
    text = HEAD + """
[[ops]]
name = "K"
inputs = [{ name = "a", dtype = "float32" }]
outputs = [{ name = "b", dtype = "float32", shape = "like(a)" }]
cpu = "k.cc"

[[native]]
framework = "tensorflow"
sources = ["n/a.cc", "n/missing.cc", "n/k.cu"]
""" + OP + """
[[native]]
framework = "onnxruntime"
sources = ["n/a.cc"]
""" + OP
    result = opforge("build", str(write(tmp_path, text)), "--release", "local")
    assert result.returncode == 2
    err = result.stderr
    assert "native[0].framework: 'tensorflow' is not in target.frameworks" in err
    assert "native[0].sources[1]: 'n/missing.cc' does not exist" in err
    assert "native[0].sources[2]: 'n/k.cu': native sources are C++" in err
    assert "native[1].framework: native onnxruntime sources define their own " \
           "RegisterCustomOps" in err


def test_native_only_recipe_needs_a_block_per_framework(tmp_path):
    text = HEAD + """
[[native]]
framework = "pytorch"
sources = ["n/a.cc"]
""" + OP
    result = opforge("build", str(write(tmp_path, text)), "--release", "local")
    assert result.returncode == 2
    assert "target.frameworks: 'onnxruntime' has nothing to build" in result.stderr
