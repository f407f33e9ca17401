"""Integration: build the real recipes with the real toolchains (once per session) and check
exact results: the artifact list, the manifest, numbers out of the ops, the CLI's verdicts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, have, needs_ort, needs_tf, needs_torch, opforge, ort_sdk_found

pytestmark = pytest.mark.integration


def test_artifacts_are_exactly_the_libraries_manifests_and_loaders(built_example, example_copy):
    dist = example_copy / "dist" / "local"
    frameworks = ["pytorch", "tensorflow"] + (["onnxruntime"] if ort_sdk_found() else [])
    assert sorted(str(p.relative_to(dist)) for p in dist.rglob("*")) == sorted(
        f"{fw}{suffix}" for fw in frameworks
        for suffix in ("", f"/libaddsub_ops_{fw}.so", "/manifest.json", "/opforge_runtime.py"))
    by_fw = {a["framework"]: a for a in built_example["artifacts"]}
    assert set(by_fw) == set(frameworks)
    if not ort_sdk_found():
        assert built_example["skipped"][0]["framework"] == "onnxruntime"
        assert "warning: skipping onnxruntime: the ONNX Runtime C/C++ headers were not found" \
            in built_example["stderr"]
    assert by_fw["pytorch"]["library"] == str(dist / "pytorch/libaddsub_ops_pytorch.so")
    assert by_fw["tensorflow"]["manifest"] == str(dist / "tensorflow/manifest.json")
    assert by_fw["pytorch"]["ops"] == ["acme::AddSub"]
    assert by_fw["tensorflow"]["ops"] == ["Acme>AddSub"]
    assert "==> compile" in built_example["stderr"] and "[1/2] Building CXX" in built_example["stderr"]


def test_manifest_records_versions_abi_and_checksums(built_example, example_copy):
    import hashlib
    from importlib import metadata

    folder = example_copy / "dist/local/pytorch"
    m = json.loads((folder / "manifest.json").read_text())
    assert m["schema"] == "opforge-manifest/1"
    assert m["framework"]["version"] == metadata.version("torch")
    assert m["framework"]["version_policy"] == "local"
    assert m["framework"]["cxx11_abi"] in (0, 1) and m["framework"]["cxx_standard"] >= 17
    assert m["release"]["id"] == "local" and m["release"]["origin"] == "local"
    assert {k: v for k, v in m["release"]["pins"].items() if k != "onnxruntime"} == {
        "pytorch": metadata.version("torch"), "tensorflow": metadata.version("tensorflow-cpu")}
    assert m["ops"][0]["identity"] == "acme::AddSub"
    assert m["ops"][0]["attrs"] == [{"name": "alpha", "type": "float", "default": 1.0}]
    for name, digest in m["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert m["build"]["compiler"] and m["build"]["cmake_version"].startswith("cmake version")


def _file_api_target(binary: Path, name: str) -> dict:
    """The raw File API reply of one target, read without opforge's reader."""
    reply = binary / ".cmake/api/v1/reply"
    index = json.loads(max(reply.glob("index-*.json")).read_text())
    codemodel = json.loads((reply / index["reply"]["client-opforge"]["codemodel-v2"]
                            ["jsonFile"]).read_text())
    (entry,) = [t for t in codemodel["configurations"][0]["targets"] if t["name"] == name]
    return json.loads((reply / entry["jsonFile"]).read_text())


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_manifest_build_flags_are_what_cmake_reports(built_example, example_copy, framework):
    """The manifest's flags, definitions, include folders and linked libraries are CMake's
    own account of the build (its File API reply), not strings opforge wrote."""
    m = json.loads((example_copy / f"dist/local/{framework}/manifest.json").read_text())
    target = _file_api_target(example_copy / f"build/local/cmake/{framework}",
                              f"addsub_ops_{framework}")
    (group,) = [g for g in target["compileGroups"] if g["language"] == "CXX"]
    assert m["build"]["definitions"] == [d["define"] for d in group["defines"]]
    assert f"_GLIBCXX_USE_CXX11_ABI={m['framework']['cxx11_abi']}" in m["build"]["definitions"]
    assert m["build"]["include_dirs"] == [os.path.normpath(i["path"]) for i in group["includes"]]
    gen_include = (example_copy / "build/local/gen/include").resolve()
    assert gen_include in [Path(p).resolve() for p in m["build"]["include_dirs"]]
    fragments = " ".join(f["fragment"] for f in group["compileCommandFragments"]).split()
    assert sorted(m["build"]["cxx_flags"].split()) == sorted(fragments)
    assert m["build"]["cxx_flags"].startswith(f"-std=c++{group['languageStandard']['standard']}")
    linked = [f["fragment"] for f in target["link"]["commandFragments"]
              if f["role"] == "libraries" and f["fragment"].startswith("/")
              and ".so" in Path(f["fragment"]).name]
    assert m["build"]["link_libraries"] == linked and linked


def _run_python(code: str, *paths: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})


@needs_torch
def test_numbers_through_torch_ops(built_example, example_copy):
    code = """
import sys, torch
sys.path.insert(0, sys.argv[1])
import opforge_runtime
opforge_runtime.load(sys.argv[1])
a = torch.tensor([[1.0, 2.0], [3.0, -4.0]]); b = torch.tensor([[0.5, 0.25], [2.0, 8.0]])
s, d = torch.ops.acme.AddSub(a, b, alpha=2.0)
print(s.tolist(), d.tolist())
s, d = torch.ops.acme.AddSub(a.half().t(), b.half().t())   # non-contiguous fp16
print(s.dtype, s.tolist(), d.tolist())
for x, y in ((a, b[0]), (torch.tensor(1.0), torch.zeros(0))):
    try:
        torch.ops.acme.AddSub(x, y)
    except RuntimeError as e:
        print("error:", str(e).splitlines()[0])
"""
    out = _run_python(code, str(example_copy / "dist/local/pytorch"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "[[2.0, 2.5], [7.0, 12.0]] [[0.0, 1.5], [-1.0, -20.0]]",
        "torch.float16 [[1.5, 5.0], [2.25, 4.0]] [[0.5, 1.0], [1.75, -12.0]]",
        "error: AddSub: a and b must have the same shape",
        "error: AddSub: a and b must have the same shape"]


@needs_tf
def test_numbers_through_the_tensorflow_op(built_example, example_copy):
    code = """
import sys
import textwrap
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import opforge_runtime, tensorflow as tf
ops = opforge_runtime.load(sys.argv[1])
s, d = ops.acme_add_sub(a=[[1.0, 2.0], [3.0, -4.0]], b=[[0.5, 0.25], [2.0, 8.0]], alpha=2.0)
print(s.numpy().tolist(), d.numpy().tolist())
s, d = ops.acme_add_sub(a=tf.constant([1.0, 2.0], tf.float16), b=tf.constant([0.5, 0.5], tf.float16))
print(s.dtype.name, s.numpy().tolist())
print(tf.function(lambda a, b: ops.acme_add_sub(a=a, b=b)).get_concrete_function(
    tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([None, 3], tf.float32)).outputs[0].shape)
try:
    ops.acme_add_sub(a=[1.0, 2.0], b=[1.0])
except tf.errors.InvalidArgumentError as e:
    print("error:", "AddSub: a and b must have the same shape" in e.message)
"""
    out = _run_python(code, str(example_copy / "dist/local/tensorflow"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "[[2.0, 2.5], [7.0, 12.0]] [[0.0, 1.5], [-1.0, -20.0]]",
        "float16 [1.5, 2.5]",
        "(None, 3)",
        "error: True"]


def test_opforge_test_passes_for_both_frameworks(built_example, example_copy):
    result = opforge("test", str(example_copy / "recipe.toml"), "--release", "local", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    frameworks = ("pytorch", "tensorflow") + (("onnxruntime",) if ort_sdk_found() else ())
    assert (report["passed"], report["failed"], report["errors"]) == (4 * len(frameworks), 0, [])
    assert {(r["framework"], r["vector"], r["types"]["T"]) for r in report["results"]} == {
        (fw, v, t) for fw in frameworks for v in ("vector", "matrix-alpha")
        for t in ("float32", "float16")}


def test_noop_rebuild_runs_no_compiler(built_example, example_copy):
    result = opforge("build", str(example_copy / "recipe.toml"), "--release", "local", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["compiled"].values()) == {0}
    assert "Building CXX" not in result.stderr
    assert "0 file(s) changed" in result.stderr


def test_loader_refuses_altered_library_and_other_version(built_example, example_copy, tmp_path):
    folder = tmp_path / "pytorch"
    shutil.copytree(example_copy / "dist/local/pytorch", folder)
    sys.path.insert(0, str(folder))
    try:
        import opforge_runtime as rt
    finally:
        sys.path.remove(str(folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["framework"]["version"] = "2.5.0a0+b465a5843b.nv24.09"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(rt.LoadRefused, match=r"built for PyTorch 2.5.0a0\+b465a5843b.nv24.09, "
                                             r"but PyTorch .* is running"):
        rt.load(folder)
    with open(folder / "libaddsub_ops_pytorch.so", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(rt.LoadRefused, match="has sha256 .* but the manifest says"):
        rt.load(folder)


def test_failed_build_leaves_previous_artifacts_untouched(built_example, example_copy, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(example_copy, broken, ignore=shutil.ignore_patterns("build", "dist"))
    kernel = broken / "kernels/addsub.cc"
    kernel.write_text(kernel.read_text().replace("sum[i] = T(x + y);", "sum[i] = nope(x);"))
    dist = example_copy / "dist"
    before = {p: p.read_bytes() for p in dist.rglob("*") if p.is_file()}
    result = opforge("build", str(broken / "recipe.toml"), "--release", "local",
                     "--out", str(dist))
    assert result.returncode == 5
    assert f"error: kernels: compiling failed at {kernel}:" in result.stderr
    assert "nope" in result.stderr and "was not declared in this scope" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in dist.rglob("*") if p.is_file()} == before


@needs_torch
def test_release_mismatch_refuses_to_build(example_copy):
    result = opforge("build", str(example_copy / "recipe.toml"), "--framework", "pytorch")
    assert result.returncode == 3
    assert "Triton release 24.09 ships PyTorch 2.5.0a0+b465a5843b" in result.stderr
    assert "--release local" in result.stderr and "NGC container" in result.stderr


@pytest.fixture(scope="session")
def built_rich(tmp_path_factory):
    if not (sys.modules.get("torch") or __import__("importlib").util.find_spec("torch")):
        pytest.skip("PyTorch is not installed")
    dest = tmp_path_factory.mktemp("rich") / "rich"
    shutil.copytree(ROOT / "tests/data/rich", dest)
    result = opforge("build", str(dest / "recipe.toml"), "--json")
    assert result.returncode == 0, result.stderr
    return dest


def test_every_attr_type_and_shape_rule_through_both_frameworks(built_rich):
    result = opforge("test", str(built_rich / "recipe.toml"), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    frameworks = ("pytorch", "tensorflow") + (("onnxruntime",) if ort_sdk_found() else ())
    assert {(r["framework"], r["vector"], r["types"]["T"]) for r in report["results"]} == {
        (fw, v, t) for fw in frameworks for v, t in [
            ("defaults", "float32"), ("defaults", "float64"), ("attrs", "float64"),
            ("kernel-error", "float32"), ("float-attrs-are-float32", "float64")]}
    assert (report["passed"], report["failed"]) == (5 * len(frameworks), 0)


def test_a_vector_expecting_an_error_fails_when_the_op_succeeds(built_rich, tmp_path):
    text = (built_rich / "recipe.toml").read_text()
    (built_rich / "other.toml").write_text(text.replace('mode = "fail" }', 'mode = "ok" }'))
    result = opforge("test", str(built_rich / "other.toml"), "--json")
    assert result.returncode == 6
    bad = [r for r in json.loads(result.stdout)["results"] if not r["ok"]]
    assert {r["framework"] for r in bad} == {"pytorch", "tensorflow"} | (
        {"onnxruntime"} if ort_sdk_found() else set())
    assert all("expected an error containing" in r["why"] for r in bad)


@needs_torch
def test_scaffold_builds_and_passes_as_is(tmp_path):
    """`opforge new` with its defaults, then what the README tells a newcomer to run next.
    (It once listed TensorRT, GPU-only, beside a CPU-only kernel: exit 2 on the first build.)"""
    if not (have("torch") and have("tensorflow")):
        pytest.skip("the scaffold builds for pytorch and tensorflow here; install both "
                    "(pip install 'opforge[all]')")
    created = opforge("new", str(tmp_path / "my-ops"))
    assert created.returncode == 0, created.stderr
    recipe = str(tmp_path / "my-ops/recipe.toml")
    built = opforge("build", recipe, "--release", "local", "--json")
    assert built.returncode == 0, built.stderr
    frameworks = [a["framework"] for a in json.loads(built.stdout)["artifacts"]]
    assert frameworks == ["pytorch", "tensorflow"] + (["onnxruntime"] if ort_sdk_found() else [])
    tested = opforge("test", recipe, "--release", "local", "--json")
    assert tested.returncode == 0, tested.stderr
    summary = json.loads(tested.stdout)
    assert (summary["passed"], summary["failed"]) == (4 * len(frameworks), 0)


def test_scaffold_refuses_a_gpu_only_framework_without_cuda(tmp_path):
    result = opforge("new", str(tmp_path / "trt-ops"), "--framework", "tensorrt")
    assert result.returncode == 2
    assert "--framework tensorrt: its ops run on the GPU only" in result.stderr
    assert "--cuda" in result.stderr and not (tmp_path / "trt-ops").exists()


@pytest.mark.skipif(shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").exists(),
                    reason="nvcc (the CUDA toolkit) is not installed")
def test_scaffold_with_cuda_compiles(tmp_path):
    """`opforge new --cuda`: a CUDA kernel and TensorRT too. Here (no GPU) the CUDA kernel and
    the TensorFlow CUDA glue compile and link; TensorRT's glue is compiled by
    tests/test_sdk_glue.py where its headers are given."""
    created = opforge("new", str(tmp_path / "gpu-ops"), "--cuda", "--json")
    assert created.returncode == 0, created.stderr
    assert [Path(p).name for p in json.loads(created.stdout)["created"]] == [
        "recipe.toml", "scale.cc", "scale.cu"]
    text = (tmp_path / "gpu-ops" / "recipe.toml").read_text()
    assert 'frameworks = ["pytorch", "tensorflow", "onnxruntime", "tensorrt"]' in text
    if not have("tensorflow"):
        pytest.skip("TensorFlow is not installed (pip install 'opforge[tensorflow]')")
    built = opforge("build", str(tmp_path / "gpu-ops" / "recipe.toml"), "--release", "local",
                    "--framework", "tensorflow", "--compile-only", "--json")
    assert built.returncode == 0, built.stderr
    assert [a["framework"] for a in json.loads(built.stdout)["artifacts"]] == ["tensorflow"]


def test_missing_sdk_skips_only_that_framework(built_example, example_copy, tmp_path):
    (tmp_path / "empty").mkdir()
    result = opforge("build", str(example_copy / "recipe.toml"), "--release", "local", "--json",
                     env={"ONNXRUNTIME_ROOT": str(tmp_path / "empty"),
                          "OPFORGE_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [a["framework"] for a in summary["artifacts"]] == ["pytorch", "tensorflow"]
    assert summary["skipped"][0]["framework"] == "onnxruntime"
    assert "ONNXRUNTIME_ROOT" in summary["skipped"][0]["reason"]
    assert "not built: onnxruntime" in result.stderr


@needs_ort
def test_onnxruntime_library_exports_only_register_custom_ops(built_example, example_copy):
    from elftools.elf.elffile import ELFFile

    path = example_copy / "dist/local/onnxruntime/libaddsub_ops_onnxruntime.so"
    with path.open("rb") as fh:
        dynsym = ELFFile(fh).get_section_by_name(".dynsym")
        exported = {sym.name for sym in dynsym.iter_symbols()
                    if sym["st_shndx"] != "SHN_UNDEF" and sym["st_info"]["bind"] != "STB_LOCAL"
                    and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT")}
        needed = {tag.needed for tag in ELFFile(fh).get_section_by_name(".dynamic").iter_tags()
                  if tag.entry.d_tag == "DT_NEEDED"}
    assert exported == {"RegisterCustomOps"}
    assert not any("onnxruntime" in lib for lib in needed), needed


@needs_ort
def test_onnxruntime_loader_registers_and_refuses_older_runtimes(built_example, example_copy,
                                                                 tmp_path):
    code = """
import sys
import textwrap
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import numpy as np, onnxruntime as ort, opforge_runtime
from onnx import TensorProto, helper
options = opforge_runtime.load(sys.argv[1])
node = helper.make_node("AddSub", ["a", "b"], ["s", "d"], domain="acme", alpha=0.5)
graph = helper.make_graph([node], "g",
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "sd"])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("acme", 1)])
model.ir_version = 8
sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
s, d = sess.run(None, {"a": np.array([1, 2], np.float32), "b": np.array([4, 8], np.float32)})
print(s.tolist(), d.tolist())
"""
    out = _run_python(code, str(example_copy / "dist/local/onnxruntime"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[3.0, 6.0] [-1.0, -2.0]"]
    folder = tmp_path / "onnxruntime"
    shutil.copytree(example_copy / "dist/local/onnxruntime", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["framework"]["compatibility"] == "at-least"
    manifest["framework"]["version"] = "99.1"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    sys.path.insert(0, str(folder))
    try:
        import opforge_runtime as rt
    finally:
        sys.path.remove(str(folder))
    with pytest.raises(rt.LoadRefused, match="needs ONNX Runtime 99.1 or a newer 99.x"):
        rt.load(folder)


@needs_torch
def test_shape_expressions_and_input_checks_through_torch(built_shapes):
    code = """
import sys, torch
sys.path.insert(0, sys.argv[1])
import opforge_runtime
opforge_runtime.load(sys.argv[1])
v, i = torch.ops.shapes.TopK(torch.arange(24.0).reshape(2, 3, 4), k=3)
print(tuple(v.shape), tuple(i.shape), i.dtype, v[1, 2].tolist())
y = torch.ops.shapes.Downsample(torch.ones(2, 3, 7), torch.ones(3), strides=[3])
print(tuple(y.shape))
for call in (lambda: torch.ops.shapes.TopK(torch.ones(2, 2), k=3),
             lambda: torch.ops.shapes.Downsample(torch.ones(2, 3, 7), torch.ones(4))):
    try:
        call()
    except RuntimeError as e:
        print("error:", str(e).splitlines()[0])
"""
    out = _run_python(code, str(built_shapes / "dist/local/pytorch"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "(2, 3, 3) (2, 3, 3) torch.int64 [23.0, 22.0, 21.0]",
        "(2, 3, 3)",
        "error: TopK: constraint k <= x[-1] does not hold: 3 <= 2 is false (x has shape [2, 2])",
        "error: Downsample: input scale must have shape [3] ([x[1]]), but has shape [4]"]


@needs_tf
def test_shape_expressions_in_tensorflow_shape_inference_and_checks(built_shapes):
    code = """
import sys
import textwrap
sys.path.insert(0, sys.argv[1])
import opforge_runtime, tensorflow as tf
ops = opforge_runtime.load(sys.argv[1])
def shape_of(f, *specs):
    return tf.function(f).get_concrete_function(*specs).outputs[0].shape
topk = lambda x: ops.shapes_top_k(x=x, k=2)
down = lambda x, s: ops.shapes_downsample(x=x, scale=s, strides=[3])
print(shape_of(topk, tf.TensorSpec([None, 4, 5])), shape_of(topk, tf.TensorSpec(None)))
print(shape_of(down, tf.TensorSpec([2, 3, 7]), tf.TensorSpec([3])),
      shape_of(down, tf.TensorSpec([2, None, None]), tf.TensorSpec([None])))
try:
    ops.shapes_top_k(x=[[1.0, 2.0]], k=3)
except tf.errors.InvalidArgumentError as e:
    print("error:", "TopK: constraint k <= x[-1] does not hold: 3 <= 2 is false "
          "(x has shape [1, 2])" in e.message)
"""
    out = _run_python(code, str(built_shapes / "dist/local/tensorflow"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "(None, 4, 2) <unknown>",
        "(2, 3, 3) (2, None, None)",
        "error: True"]


def test_shapes_example_passes_its_vectors_in_every_framework(built_shapes):
    # the vectors expecting an error are the input checks: a PyTorch RuntimeError, a
    # TensorFlow InvalidArgument and an ONNX Runtime status, raised before the kernel runs
    result = opforge("test", str(built_shapes / "recipe.toml"), "--release", "local", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    frameworks = {"pytorch", "tensorflow"} | ({"onnxruntime"} if ort_sdk_found() else set())
    assert {r["framework"] for r in report["results"]} == frameworks
    assert (report["passed"], report["failed"]) == (24 * len(frameworks), 0)
    # the reference checks: TopK 2 samples and Downsample 1, per dtype of T, compared with
    # reference.py's numpy on the same seeded inputs in every framework
    checks = [r for r in report["results"] if r.get("kind") == "check"]
    assert sorted({(r["op"], r["vector"]) for r in checks}) == [
        ("Downsample", "random[0]"), ("TopK", "random[0]"), ("TopK", "random[1]")]
    assert len(checks) == 6 * len(frameworks) and all(r["seed"] == 0 for r in checks)


def test_a_reference_the_op_disagrees_with_fails_naming_the_worst_element(built_shapes,
                                                                          tmp_path):
    """The kernels as built, a reference edited to disagree at one element: exit 6, and the
    element is named in the table and in --json (index, got, expected, errors)."""
    folder = tmp_path / "shapes"
    shutil.copytree(built_shapes, folder, ignore=shutil.ignore_patterns("build", "dist"))
    reference = folder / "reference.py"
    reference.write_text(reference.read_text() + textwrap.dedent("""
        def downsample(x, scale, strides):
            y = x[:, :, ::strides[0]] * scale[None, :, None]
            y[1, 2, 3] += 0.5
            return y
        """))
    args = ("test", str(folder / "recipe.toml"), "--release", "local", "--out",
            str(built_shapes / "dist"), "--framework", "pytorch", "--framework", "tensorflow")
    result = opforge(*args, "--json")
    assert result.returncode == 6, result.stdout + result.stderr
    failed = [r for r in json.loads(result.stdout)["results"] if not r["ok"]]
    assert {(r["op"], r["vector"], r["framework"]) for r in failed} == {
        ("Downsample", "random[0]", fw) for fw in ("pytorch", "tensorflow")}
    for row in failed:
        worst = row["outputs"]["y"]["worst"]
        assert worst["index"] == [1, 2, 3]
        assert worst["abs_error"] == pytest.approx(0.5)
        assert worst["got"] == pytest.approx(worst["expected"] - 0.5)
    text = opforge(*args)
    assert text.returncode == 6
    assert re.search(r"Downsample \[pytorch\] random\[0\]: y: max error 0\.5 > atol 1e-05 "
                     r"\+ rtol 1e-05; worst at \[1, 2, 3\]: got \S+, expected \S+ \(abs "
                     r"error 0\.5, rel error \S+\)", text.stdout), text.stdout


@needs_torch
def test_an_optional_input_is_none_or_left_out_in_torch(built_layernorm):
    code = """
import sys, torch
sys.path.insert(0, sys.argv[1])
import opforge_runtime
opforge_runtime.load(sys.argv[1])
op = torch.ops.layernorm.LayerNorm
print(str(op.default._schema))
x, w = torch.tensor([[1.0, 3.0]]), torch.tensor([1.0, 2.0])
b = torch.tensor([10.0, 20.0])
print([round(v, 4) for v in op(x, w).flatten().tolist()],
      [round(v, 4) for v in op(x, w, None).flatten().tolist()],
      [round(v, 4) for v in op(x, w, b).flatten().tolist()])
try:
    op(x, w, torch.ones(3))
except RuntimeError as e:
    print("error:", str(e).splitlines()[0])
"""
    out = _run_python(code, str(built_layernorm / "dist/local/pytorch"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "layernorm::LayerNorm(Tensor x, Tensor weight, Tensor? bias=None, *, "
        "float eps=1.0000000000000001e-05) -> Tensor",
        "[-1.0, 2.0] [-1.0, 2.0] [9.0, 22.0]",
        "error: LayerNorm: input bias must have shape [2] ([x[-1]]), but has shape [3]"]


@needs_tf
def test_an_optional_input_is_a_list_of_none_or_one_in_tensorflow(built_layernorm):
    code = """
import sys
sys.path.insert(0, sys.argv[1])
import opforge_runtime, tensorflow as tf
ops = opforge_runtime.load(sys.argv[1])
x, w, b = [[1.0, 3.0]], [1.0, 2.0], [10.0, 20.0]
print([round(v, 4) for v in ops.layernorm_layer_norm(x=x, weight=w, bias=[]).numpy().flatten()],
      [round(v, 4) for v in ops.layernorm_layer_norm(x=x, weight=w, bias=[b]).numpy().flatten()])
spec = tf.TensorSpec([None, 4])
f = tf.function(lambda x: ops.layernorm_layer_norm(x=x, weight=tf.ones([4]), bias=[]))
print(f.get_concrete_function(spec).outputs[0].shape)
try:
    ops.layernorm_layer_norm(x=x, weight=w, bias=[b, b])
except (tf.errors.InvalidArgumentError, ValueError) as e:
    print("error:", "bias is optional: give [] or one tensor, not 2" in str(e))
"""
    out = _run_python(code, str(built_layernorm / "dist/local/tensorflow"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[-1.0, 2.0] [9.0, 22.0]", "(None, 4)", "error: True"]


def test_layernorm_example_passes_its_vectors_with_and_without_bias(built_layernorm):
    result = opforge("test", str(built_layernorm / "recipe.toml"), "--release", "local", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    frameworks = {"pytorch", "tensorflow"} | ({"onnxruntime"} if ort_sdk_found() else set())
    assert {r["framework"] for r in report["results"]} == frameworks
    assert {r["vector"] for r in report["results"]} == {
        "with-bias", "without-bias", "rank-3-without-bias", "bias-of-wrong-shape",
        "weight-of-wrong-shape"}
    assert (report["passed"], report["failed"]) == (10 * len(frameworks), 0)
