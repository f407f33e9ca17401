"""Op inventory: each library loaded in a child process and asked what it registered, on the
example's artifacts and on tests/data/clash, a recipe built with planted problems (an op
declared but not registered, one registered but not declared, an op named like a built-in)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, build_copy, needs_ort, needs_torch
from test_audit import CXX, check, findings

CLASH = ROOT / "tests" / "data" / "clash"


@pytest.fixture(scope="session")
def clash_build(tmp_path_factory) -> dict:
    built = build_copy(CLASH, tmp_path_factory, expect=8)  # published, but the audit failed
    built["artifacts"] = {a["framework"]: Path(a["manifest"]).parent
                          for a in built["build"]["artifacts"]}
    return built


def test_the_cache_key_follows_the_code_the_child_runs(tmp_path, monkeypatch):
    """A cached inventory is one the same code took: another taker, or another runtime
    loader (core or a framework's part), is another key."""
    from opforge.artifacts import inventory, loader

    library = tmp_path / "libops.so"
    library.write_bytes(b"a library")
    manifest = {"framework": {"version": "1.0"}, "ops": []}
    key = inventory._cache_path(library, manifest, "opforge.frameworks.pytorch.inventory:take")
    assert key == inventory._cache_path(library, manifest,
                                        "opforge.frameworks.pytorch.inventory:take")
    assert key != inventory._cache_path(library, manifest,
                                        "opforge.frameworks.tensorflow.inventory:take")
    shipped = loader.shipped_source()
    monkeypatch.setattr(loader, "shipped_source", lambda: shipped + "# changed\n")
    assert key != inventory._cache_path(library, manifest,
                                        "opforge.frameworks.pytorch.inventory:take")


def test_build_records_what_loading_registered(built_example):
    for art in built_example["artifacts"]:
        manifest = json.loads(Path(art["manifest"]).read_text())
        registered = manifest["registered"]
        fw = manifest["framework"]
        assert registered["loaded_with"].startswith(fw["title"] + " "), registered
        if fw["compatibility"] == "exact":  # ONNX Runtime: loaded into the newer one installed
            assert registered["loaded_with"] == f"{fw['title']} {fw['version']}", registered
        assert [op["identity"] for op in registered["ops"]] == art["ops"], registered
    tf = next(a for a in built_example["artifacts"] if a["framework"] == "tensorflow")
    (op,) = json.loads(Path(tf["manifest"]).read_text())["registered"]["ops"]
    assert op == {"identity": "Acme>AddSub", "name": "Acme>AddSub", "inputs": ["a", "b"],
                  "outputs": ["sum", "diff"], "attrs": ["T", "alpha"]}


def test_declared_but_not_registered_and_the_reverse(clash_build):
    code, data = check(str(clash_build["artifacts"]["pytorch"]))
    assert code == 8
    assert any("inventory: declares clash_demo::Ghost, but loading the library registered no "
               "such op" in f for f in findings(data, "error")), data
    assert any("inventory: registers clash_demo::Hidden, which its manifest does not declare"
               in f for f in findings(data, "warning")), data
    (lib,) = data["libraries"]
    assert [op["identity"] for op in lib["registered"]["ops"]] == [
        "clash_demo::Hidden", "clash_demo::Scale"]


def test_clash_with_a_builtin_op(clash_build):
    code, data = check(str(clash_build["artifacts"]["tensorflow"]))
    assert code == 8
    errors = findings(data, "error")
    assert any("clash: AddV2 clashes with TensorFlow's own op AddV2" in f for f in errors), data
    assert not any("declares AddV2" in f for f in errors), errors  # one finding, not two
    assert "tensorflow: clash: AddV2 clashes" in clash_build["stderr"]  # the build said it


def test_clashes_between_libraries_from_recorded_inventories(built_example, tmp_path):
    folder = Path(built_example["artifacts"][0]["manifest"]).parent
    shutil.copytree(folder, tmp_path / "copy")
    code, data = check("--no-load", str(folder), str(tmp_path / "copy"))
    assert code == 8
    assert sum(f.startswith("clash:") for f in findings(data, "error")) == 2, data
    assert all("(recorded when it was built)" in f for f in findings(data, "info")
               if f.startswith("inventory:")), data  # nothing loaded


@needs_torch
def test_a_library_for_another_version_is_not_loaded(built_example, tmp_path):
    art = next(a for a in built_example["artifacts"] if a["framework"] == "pytorch")
    copy = tmp_path / "old"
    shutil.copytree(Path(art["manifest"]).parent, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["framework"]["version"] = "1.0.0"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    code, data = check(str(copy))
    assert code == 0, data
    assert any("inventory: not loaded here" in f and "was built for PyTorch 1.0.0" in f
               for f in findings(data, "info")), data


@needs_torch
def test_a_library_that_crashes_on_load(built_example, tmp_path):
    """A static initializer that aborts takes down the child, not opforge."""
    art = next(a for a in built_example["artifacts"] if a["framework"] == "pytorch")
    folder = tmp_path / "crash"
    shutil.copytree(Path(art["manifest"]).parent, folder)
    source = folder / "boom.cc"
    source.write_text("#include <cstdlib>\n__attribute__((constructor)) static void boom() "
                      "{ std::abort(); }\n")
    lib = folder / Path(art["library"]).name
    subprocess.run([CXX, "-shared", "-fPIC", str(source), "-o", str(lib)], check=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = {}  # the library was replaced on purpose
    (folder / "manifest.json").write_text(json.dumps(manifest))
    code, data = check(str(folder))
    assert code == 8
    assert any("load: loading it into PyTorch failed: loading " in f and
               "crashed the process (killed by signal 6)" in f
               for f in findings(data, "error")), data


@needs_ort
def test_onnxruntime_inventory_through_register_custom_ops(built_example):
    """RegisterCustomOps called with a real OrtSessionOptions; each registration listed."""
    art = next(a for a in built_example["artifacts"] if a["framework"] == "onnxruntime")
    (op,) = json.loads(Path(art["manifest"]).read_text())["registered"]["ops"]
    assert op["identity"] == "acme::AddSub (ONNX domain acme)" and op["domain"] == "acme"
    assert {(r["execution_provider"], tuple(r["inputs"])) for r in op["registrations"]} == {
        ("CPUExecutionProvider", ("float32", "float32")),
        ("CPUExecutionProvider", ("float16", "float16"))}
