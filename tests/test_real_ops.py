"""Real ops (recipes/examples/detection): a data-dependent output size (NMS), scratch memory
from the framework's allocator, pooled sizes from attributes (RoIAlign) and an op with only a
CUDA kernel (PairwiseIoU), built once per session for PyTorch and TensorFlow (and ONNX
Runtime where its headers are found), and a small recipe whose kernels misreport their
data-dependent size."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, build_copy, needs_tf, needs_torch, opforge, ort_sdk_found

DETECTION = ROOT / "recipes" / "examples" / "detection"


@pytest.fixture(scope="session")
def built_detection(tmp_path_factory) -> dict:
    return build_copy(DETECTION, tmp_path_factory)


def _run_python(code: str, *paths: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})


def test_a_cuda_only_op_is_left_out_of_a_cpu_build_with_a_warning(built_detection):
    assert ("warning: op PairwiseIoU is left out of this build: it has only a cuda kernel and "
            "this build is for cpu; its tests are skipped here") in built_detection["stderr"]
    for artifact in built_detection["build"]["artifacts"]:
        manifest = json.loads(Path(artifact["manifest"]).read_text())
        assert [op["name"] for op in manifest["ops"]] == ["RoIAlign", "NMS"]
        roi, nms = manifest["ops"]
        # what the glue checks and allocates, recorded for tools reading the manifest
        assert roi["inputs"][0]["rank"] == 4 and roi["inputs"][1]["shape"] == "[rois[0], 5]"
        assert roi["constraints"] == ["pooled_height >= 1", "pooled_width >= 1",
                                      "sampling_ratio >= 0"]
        assert nms["scratch"] == [{"name": "order", "dtype": "int64", "shape": "[boxes[0]]"},
                                  {"name": "removed", "dtype": "uint8", "shape": "[boxes[0]]"}]
        assert nms["dynamic_dims"] == [{"name": "kept", "max": "boxes[0]",
                                        "bound": ["dim", "boxes", 0]}]
        assert nms["output_rules"] == [{"kind": "expr",
                                        "parts": [["dims", [["dynamic", "kept"]]]]}]


def test_detection_example_passes_its_vectors_and_checks_in_every_framework(built_detection):
    folder = built_detection["folder"]
    result = opforge("test", str(folder / "recipe.toml"), "--release", "local", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    frameworks = {"pytorch", "tensorflow"} | ({"onnxruntime"} if ort_sdk_found() else set())
    assert {r["framework"] for r in report["results"]} == frameworks
    # RoIAlign: 2 vectors + 2 check samples, NMS: 4 vectors + 3 samples; each per dtype of T
    assert (report["passed"], report["failed"]) == (22 * len(frameworks), 0)
    nms_checks = [r for r in report["results"] if r["op"] == "NMS" and r.get("kind") == "check"]
    assert len(nms_checks) == 6 * len(frameworks)
    assert report["skipped_ops"] == [{
        "op": "PairwiseIoU",
        "reason": "op PairwiseIoU is not in the library: the build left it out, having no "
                  "kernel for the devices it was built for"}]
    text = opforge("test", str(folder / "recipe.toml"), "--release", "local")
    assert "PairwiseIoU: skipped (op PairwiseIoU is not in the library" in text.stdout


@needs_torch
def test_nms_returns_as_many_indices_as_survive_in_torch(built_detection):
    code = """
import sys, torch
sys.path.insert(0, sys.argv[1])
import opforge_runtime
opforge_runtime.load(sys.argv[1])
boxes = torch.tensor([[0, 0, 2, 2], [0.1, 0, 2.1, 2], [3, 3, 4, 4], [3, 3, 4, 4.2]])
scores = torch.tensor([0.8, 0.9, 0.7, 0.6])
for threshold in (0.5, 0.95, 0.0):
    keep = torch.ops.detection.NMS(boxes, scores, iou_threshold=threshold)
    print(keep.tolist(), keep.dtype, keep.is_contiguous())
empty = torch.ops.detection.NMS(torch.zeros(0, 4), torch.zeros(0), iou_threshold=0.5)
print(tuple(empty.shape))
y = torch.ops.detection.RoIAlign(torch.ones(1, 3, 8, 8), torch.tensor([[0.0, 1, 1, 5, 5]] * 2),
                                 pooled_height=4, pooled_width=2)
print(tuple(y.shape))
"""
    out = _run_python(code, str(built_detection["folder"] / "dist/local/pytorch"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "[1, 2] torch.int64 True", "[1, 0, 2, 3] torch.int64 True", "[1, 2] torch.int64 True",
        "(0,)", "(2, 3, 4, 2)"]


@needs_tf
def test_a_data_dependent_dim_is_unknown_to_tensorflow_shape_inference(built_detection):
    code = """
import sys
sys.path.insert(0, sys.argv[1])
import opforge_runtime, tensorflow as tf
ops = opforge_runtime.load(sys.argv[1])
nms = lambda b, s: ops.detection_nms(boxes=b, scores=s, iou_threshold=0.5)
f = tf.function(nms).get_concrete_function(tf.TensorSpec([16, 4]), tf.TensorSpec([16]))
print(f.outputs[0].shape)
keep = nms(tf.constant([[0, 0, 2, 2], [0.1, 0, 2.1, 2], [3, 3, 4, 4]]), tf.constant([0.8, 0.9, 0.7]))
print(keep.numpy().tolist(), keep.dtype.name)
roi = lambda x, r: ops.detection_ro_i_align(x=x, rois=r, pooled_height=3, pooled_width=5)
g = tf.function(roi).get_concrete_function(tf.TensorSpec([2, 4, 9, 9]), tf.TensorSpec([None, 5]))
print(g.outputs[0].shape)
"""
    out = _run_python(code, str(built_detection["folder"] / "dist/local/tensorflow"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["(None,)", "[1, 2] int64", "(None, 4, 3, 5)"]


MISREPORTING = """\
[package]
name = "misreport"
version = "0.1.0"
namespace = "misreport"

[target]
release = "local"
frameworks = ["pytorch", "tensorflow"]

[[ops]]
name = "Forget"
inputs = [{ name = "x", dtype = "float32" }]
outputs = [{ name = "y", dtype = "float32", shape = "[n]" }]
dynamic_dims = [{ name = "n", max = "x[0]" }]
cpu = "k.cc"

[[ops.tests]]
name = "unreported"
inputs = { x = [1.0, 2.0] }
error = "the kernel did not report the data-dependent dim n (write it to *args.n.value)"

[[ops]]
name = "TooMany"
inputs = [{ name = "x", dtype = "float32" }]
outputs = [{ name = "y", dtype = "float32", shape = "[n] + x[1:]" }]
dynamic_dims = [{ name = "n", max = "x[0] // 2" }]
scratch = [{ name = "tmp", dtype = "float64", shape = "like(x)" }]
cpu = "k.cc"

[[ops.tests]]
name = "beyond-the-bound"
inputs = { x = [[1.0], [2.0], [3.0], [4.0]] }
error = "TooMany: the kernel reported n = 3, outside [0, 2] (its bound)"
"""

MISREPORTING_KERNELS = """\
#include <opforge/ops.h>

void misreport::Forget_cpu(opforge::Context&, const ForgetArgs&) {}

void misreport::TooMany_cpu(opforge::Context& ctx, const TooManyArgs& args) {
  if (args.tmp.numel() != args.x.numel() || args.tmp.dtype != opforge::DType::Float64) {
    ctx.fail("scratch tmp is not like(x) in float64");
  }
  *args.n.value = args.n.max + 1;
}
"""


def test_a_kernel_misreporting_its_data_dependent_dim_fails_the_call(tmp_path_factory):
    """The glue's checks after the kernel: a count left unwritten, or above the bound, is the
    op's error (a PyTorch RuntimeError, a TensorFlow InvalidArgument), naming the dim."""
    source = tmp_path_factory.mktemp("misreport-src")
    (source / "recipe.toml").write_text(MISREPORTING)
    (source / "k.cc").write_text(MISREPORTING_KERNELS)
    folder = build_copy(source, tmp_path_factory)["folder"]
    result = opforge("test", str(folder / "recipe.toml"), "--release", "local", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["passed"], report["failed"]) == (4, 0)


def test_a_recipe_of_cuda_only_ops_has_nothing_to_build_on_cpu(tmp_path):
    folder = tmp_path / "cuda-only"
    folder.mkdir()
    shutil.copytree(DETECTION / "kernels", folder / "kernels")
    shutil.copy(DETECTION / "reference.py", folder)
    text = (DETECTION / "recipe.toml").read_text()
    (folder / "recipe.toml").write_text(text[:text.index("[[ops]]")] + text[
        text.index('[[ops]]\nname = "PairwiseIoU"'):])
    result = opforge("build", str(folder / "recipe.toml"), "--release", "local",
                     "--framework", "pytorch")
    assert result.returncode == 2, result.stderr
    assert "nothing to build for cpu: op PairwiseIoU: it has only a cuda kernel and this " \
           "build is for cpu; add the device to target.devices" in result.stderr
    assert "Traceback" not in result.stderr


def test_describe_shows_the_dynamic_dim_scratch_and_every_kernel():
    from opforge import recipe
    from opforge.build import describe

    data = describe.describe(recipe.load(DETECTION / "recipe.toml"))
    nms = next(op for op in data["ops"] if op["name"] == "NMS")
    assert nms["dynamic_dims"] == [{"name": "kept", "cpp_type": "opforge::DynamicDim",
                                    "max": "boxes[0]", "outputs": ["keep"]}]
    assert [(s["name"], s["dtype"], s["shape"]) for s in nms["scratch"]] == [
        ("order", "int64", "[boxes[0]]"), ("removed", "uint8", "[boxes[0]]")]
    assert "  opforge::DynamicDim kept;  // data-dependent dim, at most boxes[0]: write the " \
           "real size to *kept.value" in nms["declaration"]
    assert [(k["device"], k["built"]) for k in nms["kernels"]] == [("cpu", True),
                                                                   ("cuda", False)]
    lines = describe.text(data)
    assert "    (no cpu kernel: the op runs on cuda only; tests elsewhere are skipped)" in lines
    assert "    kept <= boxes[0]: first dim of keep" in lines


@needs_torch
def test_a_model_calling_nms_exports_and_compiles(built_detection):
    """The loader registers NMS's fake kernel (an unbacked size bounded by boxes[0]), so a
    model using its data-dependent output exports with a dynamic number of boxes and compiles
    with fullgraph, and both give the eager result."""
    code = """
import sys, torch
sys.path.insert(0, sys.argv[1])
import opforge_runtime
opforge_runtime.load(sys.argv[1])
opforge_runtime.load(sys.argv[1])  # a second load registers nothing twice

class M(torch.nn.Module):
    def forward(self, boxes, scores):
        keep = torch.ops.detection.NMS(boxes, scores, iou_threshold=0.5)
        return boxes[keep] * 2, keep.shape[0] + 0

boxes = torch.tensor([[0, 0, 2, 2], [0.1, 0, 2.1, 2], [3, 3, 4, 4], [5, 5, 6, 6.0]])
scores = torch.tensor([0.8, 0.9, 0.7, 0.1])
n = torch.export.Dim("n")
ep = torch.export.export(M(), (boxes, scores), dynamic_shapes=({0: n}, {0: n}))
eager = M()(boxes, scores)
got = ep.module()(boxes, scores)
print(torch.equal(got[0], eager[0]), got[1] == eager[1] == 3)
more = torch.cat([boxes, boxes + 10]), torch.cat([scores, scores])
print(torch.equal(ep.module()(*more)[0], M()(*more)[0]))
torch._dynamo.config.capture_dynamic_output_shape_ops = True
compiled = torch.compile(M(), fullgraph=True, backend="aot_eager")
print(torch.equal(compiled(boxes, scores)[0], eager[0]))
"""
    out = _run_python(code, str(built_detection["folder"] / "dist/local/pytorch"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["True True", "True", "True"]


def test_onnxruntime_older_than_1_15_cannot_build_scratch_or_data_dependent_ops():
    """KernelContext_GetAllocator (C API 15) gives scratch and data-dependent outputs: a build
    with older headers is refused up front, naming the op and what it uses."""
    from opforge import frameworks, recipe
    from opforge.recipe import version_dtype_problems

    loaded = recipe.load(DETECTION / "recipe.toml")
    ort = frameworks.get("onnxruntime")
    assert version_dtype_problems(loaded, ort, "1.15.1") == []
    assert version_dtype_problems(loaded, ort, "1.14.1") == [
        f"{loaded.path}: ops[1] (NMS): it uses scratch memory, which the glue takes from "
        f"KernelContext_GetAllocator, and ONNX Runtime 1.14.1 lacks it (C API 15, ONNX Runtime "
        f"1.15); build for a release whose ONNX Runtime is 1.15 or later, or with newer "
        f"headers (ONNXRUNTIME_ROOT)"]
    assert frameworks.get("tensorflow").op_version_problem(loaded.ops[1], "2.0") is None
