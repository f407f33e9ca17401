"""`opforge check`: the ELF audit, on real libraries compiled here with planted problems,
and on the example's artifacts (also audited by every `opforge build`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import have, opforge
from opforge.toolchain import cuda
from opforge.artifacts.audit import read_elf

CXX = shutil.which("c++") or shutil.which("g++")


def compile_lib(folder: Path, source: str, name: str = "libx.so", flags: tuple = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "x.cc"
    src.write_text(source)
    lib = folder / name
    subprocess.run([CXX, "-shared", "-fPIC", "-O1", str(src), *flags, "-o", str(lib)],
                   check=True, capture_output=True)
    return lib


def with_manifest(lib: Path, framework: str, cxx11_abi: int = 1, release: str = "local",
                  link_libraries: tuple = ()) -> Path:
    manifest = {"schema": "opforge-manifest/1", "library": lib.name,
                "framework": {"name": framework, "title": framework, "version": "1.0",
                              "cxx11_abi": cxx11_abi},
                "release": {"id": release}, "build": {"link_libraries": list(link_libraries)},
                "files": {}}
    (lib.parent / "manifest.json").write_text(json.dumps(manifest))
    return lib


def _symbolic(lib: Path) -> bool:
    from elftools.elf.elffile import ELFFile

    with lib.open("rb") as fh:
        dynamic = ELFFile(fh).get_section_by_name(".dynamic")
        tags = {t.entry.d_tag: t.entry.d_val for t in dynamic.iter_tags()}
    return "DT_SYMBOLIC" in tags or bool(tags.get("DT_FLAGS", 0) & 0x2)  # DF_SYMBOLIC


def check(*args: str) -> tuple[int, dict]:
    result = opforge("check", *args, "--json")
    return result.returncode, json.loads(result.stdout)


def findings(data: dict, severity: str) -> list[str]:
    return [f"{f['code']}: {f['message']}" for lib in data["libraries"]
            for f in lib["findings"] if f["severity"] == severity]


def test_needed_library_the_target_lacks(tmp_path):
    dep = compile_lib(tmp_path / "dep", "int foo() { return 1; }\n", "libfoo.so")
    lib = compile_lib(tmp_path / "lib", 'int foo(); extern "C" int bar() { return foo(); }\n',
                      flags=(f"-L{dep.parent}", "-lfoo"))
    code, data = check(str(with_manifest(lib, "pytorch")))
    assert code == 8
    assert any("needed: needs libfoo.so, which pytorch in Triton does not provide" in f
               for f in findings(data, "error")), data


def test_symbol_versions_above_the_release_ubuntu(tmp_path):
    # std::__throw_bad_array_new_length is GLIBCXX_3.4.29 (GCC 11); Ubuntu 20.04 has 3.4.28
    lib = compile_lib(tmp_path, "#include <string>\n"
                      'extern "C" void f(int n) { if (n) std::__throw_bad_array_new_length(); }\n')
    code, data = check(str(lib), "--release", "23.01")
    assert code == 8
    assert any("needs GLIBCXX_3.4.29, but Ubuntu 20.04 (release 23.01) provides up to "
               "GLIBCXX_3.4.28" in f for f in findings(data, "error")), data
    code, data = check(str(lib), "--release", "24.09")  # Ubuntu 22.04: fine
    assert code == 0, data


def test_cxx11_abi_mix_up(tmp_path):
    lib = compile_lib(tmp_path, '#include <string>\n'
                      'std::string g(const std::string& s) { return s + "x"; }\n',
                      flags=("-D_GLIBCXX_USE_CXX11_ABI=0",))
    code, data = check(str(with_manifest(lib, "pytorch", cxx11_abi=1)))
    assert code == 8
    assert any("pre-CXX11 std::string symbol(s) in a _GLIBCXX_USE_CXX11_ABI=1 target" in f
               for f in findings(data, "error")), data


def test_entry_points_and_extra_exports(tmp_path):
    lib = compile_lib(tmp_path / "a", 'extern "C" int helper() { return 1; }\n')
    code, data = check(str(with_manifest(lib, "onnxruntime")))
    assert code == 8
    assert any("does not export RegisterCustomOps" in f for f in findings(data, "error"))
    assert any("exports 1 symbol(s) where onnxruntime needs RegisterCustomOps, e.g. helper"
               in f for f in findings(data, "warning")), data
    # a TorchScript library needs no entry point at all: every export is beyond it
    lib = compile_lib(tmp_path / "b", 'extern "C" int helper() { return 1; }\n')
    code, data = check(str(with_manifest(lib, "pytorch")))
    assert code == 0
    assert any("exports 1 symbol(s) where pytorch needs nothing" in f
               for f in findings(data, "warning")), data


@pytest.mark.skipif(not have("torch"), reason="PyTorch is not installed: its libraries are "
                    "what undefined symbols are checked against")
def test_undefined_symbols_the_framework_does_not_define(tmp_path):
    import torch

    libc10 = Path(torch.__file__).parent / "lib" / "libc10.so"
    lib = compile_lib(tmp_path, 'extern "C" int not_in_torch_anywhere();\n'
                      'extern "C" int f() { return not_in_torch_anywhere(); }\n')
    code, data = check(str(with_manifest(lib, "pytorch", link_libraries=(str(libc10),))))
    assert code == 8
    assert any("undefined symbol(s) that pytorch 1.0 does not define, e.g. "
               "not_in_torch_anywhere" in f for f in findings(data, "error")), data


def test_runpath_outside_the_artifact(tmp_path):
    """A RUNPATH into the build machine's venv: in the container the library would find no
    libc10.so there (exit 127 at tritonserver's start). $ORIGIN inside the folder is fine."""
    lib = with_manifest(compile_lib(tmp_path / "a", "int f() { return 1; }", flags=(
        "-Wl,--enable-new-dtags,-rpath,/venv/lib/python3.11/site-packages/torch/lib:$ORIGIN",)),
        "pytorch")
    assert read_elf(lib).search_paths == ["/venv/lib/python3.11/site-packages/torch/lib",
                                          "$ORIGIN"]
    code, data = check(str(lib))
    assert code == 8, data
    assert [f for f in findings(data, "error") if f.startswith("runpath: ")] == [
        "runpath: its RPATH/RUNPATH points outside the artifact: /venv/lib/python3.11/"
        "site-packages/torch/lib: the framework's libraries must come from where the library "
        "is loaded (Triton's backend folder on LD_LIBRARY_PATH), not from the machine it was "
        "built on"], data
    for flags in (("-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib",),
                  ("-Wl,-rpath,/opt/elsewhere",)):
        lib = with_manifest(compile_lib(tmp_path / str(len(flags[0])), "int f() { return 1; }",
                                        flags=flags), "pytorch")
        code, data = check(str(lib))
        assert any(f.startswith("runpath: ") for f in findings(data, "error")), (flags, data)
    ok = with_manifest(compile_lib(tmp_path / "ok", "int f() { return 1; }",
                                   flags=("-Wl,-rpath,$ORIGIN",)), "pytorch")
    assert not [f for f in findings(check(str(ok))[1], "error") if f.startswith("runpath")]


@pytest.mark.skipif(cuda.nvcc_or_none() is None, reason="nvcc not found: no CUDA library to "
                    "audit")
def test_cuda_code_too_new_for_the_release(tmp_path):
    source = tmp_path / "k.cu"
    source.write_text("__global__ void k(float* x) { x[0] = 1; }\n"
                      "void launch(float* x) { k<<<1, 1>>>(x); }\n")
    lib = tmp_path / "libk.so"
    subprocess.run([str(cuda.find_nvcc().path), "-shared", "-Xcompiler", "-fPIC", str(source),
                    "-gencode=arch=compute_90,code=sm_90", "-o", str(lib)], check=True)
    code, data = check(str(lib), "--release", "25.01")  # minimum compute capability 7.5
    assert code == 8
    assert any("no code for GPUs of compute capability 7.5" in f
               for f in findings(data, "error")), data
    code, data = check(str(lib))  # no manifest, no --release: said, not skipped silently
    assert code == 0
    assert findings(data, "warning") == [
        "release: no release to check against (a library without its manifest.json records "
        "no release): GLIBC/GLIBCXX/CXXABI versions against its Ubuntu and CUDA code against "
        "its minimum compute capability not checked"], data


def test_build_audits_what_it_built(built_example):
    assert built_example["audit"], built_example
    assert all(r["ok"] for r in built_example["audit"])
    # isolation by construction: a version script, -Bsymbolic, --no-undefined
    assert not any(f["severity"] == "warning" for r in built_example["audit"]
                   for f in r["findings"]), built_example["audit"]
    for art in built_example["artifacts"]:
        facts = read_elf(Path(art["library"]))
        assert facts.defined == ([] if art["framework"] in ("pytorch", "tensorflow")
                                 else ["RegisterCustomOps"]), art
        assert _symbolic(Path(art["library"])), art
        # no RPATH into the build machine: Triton's backend folder provides the framework
        assert facts.search_paths == [], art
    assert "audit against release local (opforge check)" in built_example["stderr"]


def test_check_an_artifact_folder_against_a_release(built_example):
    folder = Path(built_example["artifacts"][0]["manifest"]).parent
    code, data = check(str(folder), "--release", "24.09")
    assert any("Ubuntu 22.04 provides up to GLIBCXX_3.4.30" in f
               for f in findings(data, "info")), data
    # built for the PyTorch installed here, not 24.09's: the loader's rule refuses it there
    assert code == 8 and [f.split(" (")[0] for f in findings(data, "error")] == [
        "release: does not load in Triton 24.09"], data


def test_the_release_is_the_manifests_looked_up_in_the_releases_file(built_example,
                                                                      tmp_path):
    """Without --release (the check step of every CI job): the release the manifest records,
    found in --releases-file as well as opforge's table; one found nowhere, or without the
    facts a check needs, is a warning naming what was not checked."""
    folder = tmp_path / "pytorch"
    shutil.copytree(Path(built_example["artifacts"][0]["manifest"]).parent, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["release"]["id"] = "99.01"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    code, data = check(str(folder), "--no-load")
    assert code == 0 and data["libraries"][0]["release"] is None
    assert findings(data, "warning") == [
        "release: no release to check against (its manifest says release 99.01, which "
        "neither opforge's release table nor a releases file (--releases-file, "
        "$OPFORGE_RELEASES_FILE) has): GLIBC/GLIBCXX/CXXABI versions against its Ubuntu not "
        "checked"], data

    releases_file = tmp_path / "releases.toml"
    releases_file.write_text('[[release]]\nrelease = "99.01"\nubuntu = "22.04"\n'
                             'sources = ["this test"]\n')
    code, data = check(str(folder), "--no-load", "--releases-file", str(releases_file))
    assert code == 0 and data["libraries"][0]["release"] == "99.01"
    assert findings(data, "warning") == [], data
    assert any("Ubuntu 22.04 provides up to GLIBCXX_3.4.30" in f
               for f in findings(data, "info")), data

    releases_file.write_text('[[release]]\nrelease = "99.01"\ncuda = "12.6"\n'
                             'sources = ["this test"]\n')
    code, data = check(str(folder), "--no-load", "--releases-file", str(releases_file))
    assert code == 0 and data["libraries"][0]["release"] == "99.01"
    assert findings(data, "warning") == [
        "versions: release 99.01 has no Ubuntu known: symbol versions not checked against "
        "its glibc/libstdc++"], data


def test_check_refuses_what_is_not_a_library(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = opforge("check", str(tmp_path / "notes.txt"))
    assert result.returncode == 2
    assert "not a readable ELF shared library" in result.stderr
    result = opforge("check", str(tmp_path / "missing"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_op_identity_clashes_between_libraries(built_example, tmp_path):
    """Two copies of one artifact register the same ops: reported from the manifests."""
    folder = Path(built_example["artifacts"][0]["manifest"]).parent
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    code, data = check(str(folder), str(copy))
    assert code == 8
    clash = [f for f in findings(data, "error") if f.startswith("clash:")]
    assert len(clash) == 2 and "op acme::AddSub is also registered by" in clash[0], data


def test_cuda_build_resolves_symbols_against_the_cuda_libraries(tmp_path):
    """A PyTorch CUDA build links libc10_cuda.so; the audit must resolve the library's
    undefined symbols against that too (it once reported `c10::cuda::device_count()` and
    14 more as undefined in PyTorch and failed every CUDA build with exit 8). The framework
    libraries here are stand-ins compiled for the purpose: no GPU, no CUDA torch needed."""
    from opforge.artifacts import audit
    from opforge.build import pipeline
    from opforge.build.plan import BuildPlan, FrameworkBuild
    from opforge import frameworks
    from opforge.frameworks import Toolchain, VersionVerdict

    torch_lib = tmp_path / "torch" / "lib"
    c10 = compile_lib(torch_lib, "namespace c10 { int cpu_thing() { return 1; } }", "libc10.so")
    c10_cuda = compile_lib(torch_lib / "cuda", "namespace c10 { namespace cuda {\n"
                           "int device_count() { return 8; } } }", "libc10_cuda.so")
    shutil.move(c10_cuda, torch_lib / "libc10_cuda.so")
    c10_cuda = torch_lib / "libc10_cuda.so"
    op = compile_lib(tmp_path / "op", "namespace c10 { int cpu_thing(); namespace cuda {\n"
                     "int device_count(); } }\nint use() { return c10::cpu_thing() + "
                     "c10::cuda::device_count(); }", "libops.so",
                     (f"-L{torch_lib}", "-lc10", "-lc10_cuda"))
    toolchain = Toolchain("pytorch", "2.11.0+cu130", str(tmp_path / "torch"), [], [str(c10)],
                          [], 17, 1, {"cuda": "13.0", "library_dir": str(torch_lib),
                                      "cuda_libraries": [str(c10_cuda)]})
    pytorch = frameworks.get("pytorch")
    plan = BuildPlan(recipe=None, release=None, devices=["cpu", "cuda"],
                     build_dir=tmp_path / "b", out_dir=tmp_path / "d")
    plan.builds["pytorch"] = FrameworkBuild(pytorch, toolchain, VersionVerdict(
        "pytorch", toolchain.version, toolchain.version, "local"))
    pipeline.check_cuda_support(plan, explicit=True)
    linked = plan.builds["pytorch"].toolchain.link_libraries
    assert linked == [str(c10), str(c10_cuda)]

    manifest = {"framework": {"name": "pytorch", "title": "PyTorch",
                              "version": toolchain.version, "cxx11_abi": 1},
                "build": {"link_libraries": linked}}
    report = audit.LibraryReport(str(op), "pytorch", None)
    audit._check_undefined(report, read_elf(op), manifest)
    assert not report.errors, report.findings
    # the CPU libraries alone leave the CUDA symbols unresolved: what the audit said before
    report = audit.LibraryReport(str(op), "pytorch", None)
    audit._check_undefined(report, read_elf(op), {**manifest, "build": {
        "link_libraries": [str(c10)]}})
    assert [f.code for f in report.errors] == ["undefined"]
    assert "_ZN3c104cuda12device_countEv" in report.errors[0].message
