"""The stable-ABI PyTorch target (build.stable_abi): one library for a range of
PyTorch releases, built on torch/csrc/stable alone."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import EXAMPLE, have, opforge
from opforge import frameworks
from opforge.artifacts import runtime

STABLE = {"name": "pytorch", "title": "PyTorch", "version": "2.13.0+cpu",
          "compatibility": "at-least", "abi_target": "2.10", "cxx11_abi": 1}


def test_loader_rule_is_at_least_the_target():
    assert runtime.version_refusal(STABLE, {"version": "2.11.0+cu130", "cxx11_abi": 0}) is None
    assert runtime.version_refusal(STABLE, {"version": "2.10.1"}) is None
    why = runtime.version_refusal(STABLE, {"version": "2.9.1"})
    assert why == ("it was built for the PyTorch 2.10 stable ABI, but PyTorch 2.9.1 is running; "
                   "it needs PyTorch 2.10 or a newer 2.x")
    assert "3.0.0 is running" in runtime.version_refusal(STABLE, {"version": "3.0.0"})


def test_release_refusal_follows_the_manifest():
    """`opforge check --release` and `releases diff`: a release pinning an older torch than
    the headers, but no older than the target, takes the library; an ordinary one it refuses."""
    pytorch = frameworks.get("pytorch")
    assert frameworks.release_refusal(pytorch, STABLE, "2.11.0a0+nv26.01") is None
    assert "2.10 stable ABI" in frameworks.release_refusal(pytorch, STABLE, "2.5.0a0+nv24.09")
    exact = {**STABLE, "compatibility": "exact"}
    del exact["abi_target"]
    assert "built for PyTorch 2.13.0+cpu" in frameworks.release_refusal(pytorch, exact,
                                                                         "2.11.0a0+nv26.01")


def stable_recipe(tmp_path, target: str):
    folder = tmp_path / "addsub"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    recipe = folder / "recipe.toml"
    recipe.write_text(recipe.read_text() + f'\n[build]\nstable_abi = {{ pytorch = "{target}" }}\n')
    return recipe


@pytest.mark.parametrize("target, why", [
    ("2.9", "the stable API before PyTorch 2.10 lacks what the glue needs"),
    ("2.99", "is older than the target"),
])
def test_unservable_target_is_a_recipe_error(tmp_path, target, why):
    if not have("torch"):
        pytest.skip("needs PyTorch (pip install 'opforge[pytorch]')")
    result = opforge("build", str(stable_recipe(tmp_path, target)), "--release", "local",
                     "--framework", "pytorch")
    assert result.returncode == 2, result.stderr
    assert f'build.stable_abi.pytorch = "{target}"' in result.stderr and why in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_target_spelling_is_a_recipe_error(tmp_path):
    result = opforge("build", str(stable_recipe(tmp_path, "2.10.0")), "--release", "local")
    assert result.returncode == 2 and "build.stable_abi" in result.stderr


def test_framework_without_stable_abi_is_a_recipe_error(tmp_path):
    recipe = stable_recipe(tmp_path, "2.10")
    recipe.write_text(recipe.read_text().replace("{ pytorch =", "{ tensorflow ="))
    result = opforge("build", str(recipe), "--release", "local")
    assert result.returncode == 2, result.stderr
    assert "'tensorflow' has no stable ABI opforge builds on" in result.stderr
    assert "frameworks that have one: pytorch" in result.stderr


@pytest.fixture(scope="module")
def stable_build(tmp_path_factory) -> dict:
    if not have("torch"):
        pytest.skip("needs PyTorch (pip install 'opforge[pytorch]')")
    recipe = stable_recipe(tmp_path_factory.mktemp("stable"), "2.10")
    result = opforge("build", str(recipe), "--release", "local", "--framework", "pytorch",
                     "--json")
    assert result.returncode == 0, result.stderr
    return {"recipe": recipe, "artifact": json.loads(result.stdout)["artifacts"][0]}


def test_stable_library_passes_its_vectors(stable_build):
    """Built against the installed torch (2.13) for an older target, loaded into it."""
    manifest = json.loads(open(stable_build["artifact"]["manifest"]).read())
    assert manifest["framework"]["compatibility"] == "at-least"
    assert manifest["framework"]["abi_target"] == "2.10"
    assert "TORCH_TARGET_VERSION=0x020a000000000000" in manifest["build"]["definitions"]
    result = opforge("test", str(stable_build["recipe"]), "--release", "local", "--framework",
                     "pytorch", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["passed"], report["failed"]) == (4, 0)


def test_stable_library_needs_only_the_c_shim(stable_build):
    """No C++ symbol of torch (c10::, at::, torch::), no libc10: what it takes from libtorch
    are the C shim's unversioned aoti_torch_* and torch_* functions."""
    from elftools.elf.elffile import ELFFile

    with open(stable_build["artifact"]["library"], "rb") as fh:
        elf = ELFFile(fh)
        needed = [t.needed for t in elf.get_section_by_name(".dynamic").iter_tags()
                  if t.entry.d_tag == "DT_NEEDED"]
        undefined = [s.name for s in elf.get_section_by_name(".dynsym").iter_symbols()
                     if s.name and s["st_shndx"] == "SHN_UNDEF"]
    assert [n for n in needed if "torch" in n or "c10" in n] == ["libtorch_cpu.so"]
    assert not [s for s in undefined if s.startswith(("_ZN3c10", "_ZN2at", "_ZN5torch"))]
    shim = [s for s in undefined if s.startswith(("aoti_torch_", "torch_"))]
    assert "torch_library_impl" in shim and "aoti_torch_library_def" in shim
