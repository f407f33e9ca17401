"""torch.export and torch.compile(fullgraph=True) of models calling generated ops: the Meta
kernels of the PyTorch glue (frameworks/pytorch/glue.cc.j2) trace them, with symbolic sizes
where the shape rules allow, and what the traced programs compute equals eager's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, build_copy, needs_torch
from opforge.recipe import load, shapes

pytestmark = needs_torch

SYMDIMS = ROOT / "tests" / "data" / "symdims"

# Loads the libraries of the artifact folders given (argv[2:]) with the shipped loader and
# defines check(): eager on two sets of inputs of different sizes, then the model exported
# once with the dynamic shapes given and compiled once (dynamic, fullgraph, the backend
# argv[1]; a recompile is an error) must give the same dtypes, shapes and values on both.
PRELUDE = """
import sys, torch
from torch.export import Dim
for folder in sys.argv[2:]:
    sys.path.insert(0, folder)
    import opforge_runtime
    opforge_runtime.load(folder)
    sys.path.remove(folder)
torch._dynamo.config.error_on_recompile = True

def flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]

def check(name, model, args, other, dynamic_shapes):
    eager = [flat(model(*a)) for a in (args, other)]
    exported = torch.export.export(model, args, dynamic_shapes=dynamic_shapes).module()
    compiled = torch.compile(model, fullgraph=True, backend=sys.argv[1], dynamic=True)
    for a, want in zip((args, other), eager):
        for how, f in (("export", exported), ("compile", compiled)):
            got = flat(f(*a))
            assert [(g.shape, g.dtype) for g in got] == [(w.shape, w.dtype) for w in want], \\
                (name, how, got, want)
            assert all(torch.equal(g, w) for g, w in zip(got, want)), (name, how)
    torch._dynamo.reset()
    print(name, [tuple(w.shape) for w in eager[1]], [str(w.dtype)[6:] for w in eager[1]])

class AddSub(torch.nn.Module):
    def forward(self, a, b):
        s, d = torch.ops.acme.AddSub(a, b, alpha=0.5)
        return s * 2, d   # the op's outputs feed the rest of the graph

n, m = Dim("n"), Dim("m")
ab = {"a": {0: n, 1: m}, "b": {0: n, 1: m}}
check("addsub", AddSub(), (torch.randn(3, 4), torch.randn(3, 4)),
      (torch.randn(5, 7), torch.randn(5, 7)), ab)
check("addsub-half", AddSub(), (torch.randn(3, 4).half(), torch.randn(3, 4).half()),
      (torch.randn(6, 2).half(), torch.randn(6, 2).half()), ab)
"""

REAL_OPS = """
class Shapes(torch.nn.Module):
    def forward(self, x, scale):
        v, i = torch.ops.shapes.TopK(x, k=2)
        return v, i, torch.ops.shapes.Downsample(x, scale, strides=[3])

# l >= 4: below, cdiv(l, 3) may be 1, where PyTorch's own contiguity check of the output
# adds a guard that export refuses
b, c, l = Dim("b"), Dim("c"), Dim("l", min=4)
f64 = dict(dtype=torch.float64)
check("shapes", Shapes(), (torch.randn(2, 3, 11, **f64), torch.rand(3, **f64)),
      (torch.randn(4, 5, 20, **f64), torch.rand(5, **f64)),
      {"x": {0: b, 1: c, 2: l}, "scale": {0: c}})

class LayerNorm(torch.nn.Module):
    def forward(self, x, w, bias):
        return (torch.ops.layernorm.LayerNorm(x, w, eps=1e-3),
                torch.ops.layernorm.LayerNorm(x, w, bias))

r, f = Dim("r"), Dim("f")
check("layernorm", LayerNorm(), (torch.randn(3, 4), torch.rand(4), torch.rand(4)),
      (torch.randn(6, 8), torch.rand(8), torch.rand(8)), {"x": {0: r, 1: f}, "w": {0: f},
                                                          "bias": {0: f}})

class Dtypes(torch.nn.Module):
    def forward(self, x, mask):
        q = torch.ops.narrow.QuantizeInt8(x, scale=0.5, zero_point=3)
        return (torch.ops.narrow.Silu(x.bfloat16()), q,
                torch.ops.narrow.Dequantize(q, scale=0.5, zero_point=3),
                torch.ops.narrow.MaskedFill(x, mask, value=-1.0))

check("dtypes", Dtypes(), (torch.randn(3, 4) * 50, torch.rand(3, 4) > 0.5),
      (torch.randn(5, 6) * 50, torch.rand(5, 6) > 0.5), {"x": {0: r, 1: f}, "mask": {0: r, 1: f}})
"""


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})


def _pytorch_dist(folder: Path) -> str:
    return str(folder / "dist" / "local" / "pytorch")


def _library(folder: Path) -> str:
    return str(next(Path(_pytorch_dist(folder)).glob("lib*.so")))


@pytest.fixture(scope="session")
def built_dtypes(tmp_path_factory):
    """recipes/examples/dtypes built once for PyTorch."""
    return build_copy(ROOT / "recipes" / "examples" / "dtypes", tmp_path_factory,
                      frameworks=("pytorch",))["folder"]


@pytest.fixture(scope="session")
def built_symdims(tmp_path_factory):
    return build_copy(SYMDIMS, tmp_path_factory, frameworks=("pytorch",))["folder"]


def test_models_calling_the_ops_export_and_compile_with_dynamic_shapes(
        built_example, example_copy, built_shapes, built_layernorm, built_dtypes):
    out = _run_python(PRELUDE + REAL_OPS, "aot_eager", _pytorch_dist(example_copy),
                      *map(_pytorch_dist, (built_shapes, built_layernorm, built_dtypes)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "addsub [(5, 7), (5, 7)] ['float32', 'float32']",
        "addsub-half [(6, 2), (6, 2)] ['float16', 'float16']",
        "shapes [(4, 5, 2), (4, 5, 2), (4, 5, 7)] ['float64', 'int64', 'float64']",
        "layernorm [(6, 8), (6, 8)] ['float32', 'float32']",
        "dtypes [(5, 6), (5, 6), (5, 6), (5, 6)] ['bfloat16', 'int8', 'float32', 'float32']"]


@pytest.mark.skipif(not (shutil.which("g++") or shutil.which("c++")),
                    reason="no C++ compiler (g++ or c++) for TorchInductor's CPU code")
def test_inductor_compiles_a_model_calling_the_example_op(built_example, example_copy):
    out = _run_python(PRELUDE, "inductor", _pytorch_dist(example_copy))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "addsub [(5, 7), (5, 7)] ['float32', 'float32']",
        "addsub-half [(6, 2), (6, 2)] ['float16', 'float16']"]


# Dims traced once with symbolic sizes (x: [9, 5], y: [5]); then, for each case, the shapes
# of its outputs from that one trace with the case's sizes put in for the symbols, and those
# of its Meta kernel called with the case's sizes (the concrete arithmetic), as JSON.
SYMBOLIC = """
import json, sys, torch
from torch.fx.experimental.proxy_tensor import make_fx
torch.ops.load_library(sys.argv[1])
op = lambda x, y: torch.ops.symdims.Dims(x, y, k=3, p=[4, 2])
graph = make_fx(op, tracing_mode="symbolic")(torch.zeros(9, 5), torch.zeros(5)).graph
inputs = [n.meta["val"].shape for n in graph.nodes if n.op == "placeholder"]
outputs = [v.meta["val"].shape for v in graph.output_node().args[0]]
result = {"symbols": sorted({str(d) for s in inputs for d in s}), "traced": [], "meta": []}
for sizes in json.loads(sys.argv[2]):
    values = {d.node.expr: v for shape, given in zip(inputs, sizes) for d, v in zip(shape, given)}
    result["traced"].append([[int(d.node.expr.xreplace(values)) for d in s] for s in outputs])
    meta = op(*(torch.empty(s, device="meta") for s in sizes))
    result["meta"].append([list(t.shape) for t in meta])
print(json.dumps(result))
"""


def test_meta_kernels_compute_every_operator_as_the_reference(built_symdims):
    """tests/data/symdims uses + - * // cdiv min max, slices and broadcast in its output
    shapes, with negative intermediates (floor, not truncation)."""
    cases = [((9, 5), (5,)), ((8, 6), (6,)), ((3, 2), (2,)), ((20, 7), (7,)), ((11, 1), (1,))]
    out = _run_python(SYMBOLIC, _library(built_symdims), json.dumps(cases))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    op = load(SYMDIMS / "recipe.toml").ops[0]
    want = [[list(shapes.evaluate(shapes.parse(t.shape, op.shape_scope()),
                                  {"x": x, "y": y}, {"k": 3, "p": [4, 2]}))
             for t in op.outputs] for x, y in cases]
    assert len(result["symbols"]) == 2  # x[0], and x[-1] = y[-1] (broadcast): all symbolic
    assert result["traced"] == want
    assert result["meta"] == want


CHECKS = """
import sys, torch
from torch.export import Dim
for lib in sys.argv[1:]:
    torch.ops.load_library(lib)

def meta(*shape, dtype=torch.float32):
    return torch.empty(shape, device="meta", dtype=dtype)

calls = [
    lambda: torch.ops.shapes.TopK(meta(2, 2), k=3),
    lambda: torch.ops.shapes.TopK(meta(), k=1),
    lambda: torch.ops.shapes.TopK(meta(2, 3, dtype=torch.int32), k=1),
    lambda: torch.ops.shapes.Downsample(meta(2, 3, 7), meta(4)),
    lambda: torch.ops.shapes.Downsample(meta(2, 7), meta(7)),
    lambda: torch.ops.shapes.Downsample(meta(2, 3, 7), meta(3), strides=[0]),
    lambda: torch.ops.shapes.Downsample(meta(2, 3, 7), meta(3, dtype=torch.float64)),
    lambda: torch.ops.layernorm.LayerNorm(meta(2, 4), meta(4), meta(3)),
]
for call in calls:
    try:
        call()
        print("no error")
    except RuntimeError as e:
        print(str(e).splitlines()[0])

class TopK(torch.nn.Module):
    def forward(self, x):
        return torch.ops.shapes.TopK(x, k=5)

for low in (2, 5):   # the constraint k <= x[-1] is a guard on the dynamic dim
    try:
        ep = torch.export.export(TopK(), (torch.randn(3, 8),),
                                 dynamic_shapes={"x": {1: Dim("n", min=low)}})
        print("exported for n >=", low, list(ep.range_constraints.values())[0])
    except Exception as e:
        print(type(e).__name__, [line for line in str(e).splitlines() if "Dim(" in line])
"""


def test_meta_kernels_check_what_depends_only_on_shapes(built_shapes, built_layernorm):
    out = _run_python(CHECKS, _library(built_shapes), _library(built_layernorm))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "shapes::TopK: constraint k <= x[-1] does not hold: 3 <= 2 is false (x has shape [2, 2])",
        "shapes::TopK: constraint k <= x[-1] needs x[-1], but x has shape []",
        "shapes::TopK: x has dtype Int, expected float32 or float64",
        "shapes::Downsample: input scale must have shape [3] ([x[1]]), but has shape [4]",
        "shapes::Downsample: input x must have 3 dims, but has shape [2, 7]",
        "shapes::Downsample: constraint strides[0] >= 1 does not hold: 0 >= 1 is false ()",
        "shapes::Downsample: scale and x share type T but have dtypes Double and Float",
        "layernorm::LayerNorm: input bias must have shape [4] ([x[-1]]), but has shape [3]",
        "UserError [\"  n = Dim('n', min=5)\"]",
        "exported for n >= 5 VR[5, int_oo]"]
