"""The shape-expression language: parsing (hostile text included), the Python reference and
the C++ it becomes (fast; the frameworks run it in tests/test_integration.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from opforge.recipe import shapes

ROOT = Path(__file__).resolve().parents[1]
SCOPE = shapes.Scope(inputs=("x", "y"), ints=("k", "stride"), lists=("pooled",))
X = {"x": (2, 3, 10), "y": (5,)}
ATTRS = {"k": 4, "stride": 3, "pooled": [7, 6]}


def shape(text: str, inputs=X, attrs=ATTRS) -> tuple[int, ...]:
    return shapes.evaluate(shapes.parse(text, SCOPE), inputs, attrs)


@pytest.mark.parametrize("text, expected", [
    ("[x[0], x[-1]]", (2, 10)),
    ("[x[0] + y[0], x[1] - 1, x[2] * 2]", (7, 2, 20)),
    ("[x[2] // stride, cdiv(x[2], stride)]", (3, 4)),
    ("[min(x[2], k), max(k, 100)]", (4, 100)),
    ("[pooled[0], pooled[-1], pooled[1] * k]", (7, 6, 24)),
    ("[(x[2] + 2 * 1 - 3) // stride + 1]", (4,)),
    ("[2 + 3 * 4, (2 + 3) * 4, 10 - 4 - 3]", (14, 20, 3)),  # precedence, left to right
    ("x[:-1] + [k]", (2, 3, 4)),  # the last dim replaced
    ("x[:-1]", (2, 3)),  # dropped
    ("x[:] + [2]", (2, 3, 10, 2)),  # extended
    ("[x[0]] + x[2:]", (2, 10)),
    ("y[1:3] + []", ()),  # Python's slice semantics: clamped
    ("[]", ()),
])
def test_reference_values(text, expected):
    assert shape(text) == expected


def test_rank_generic_forms_follow_the_input_rank():
    rule = shapes.parse("x[:-1] + [k]", SCOPE)
    assert rule.fixed_rank() is None and rule.inputs() == ("x",)
    for rank in range(1, 9):
        x = tuple(range(2, 2 + rank))
        assert shapes.evaluate(rule, {"x": x}, {"k": 1}) == x[:-1] + (1,)


def test_floor_and_ceiling_division_round_as_python_does():
    for a in (-7, -6, -1, 0, 1, 6, 7):
        for b in (-3, -2, 2, 3):
            v = shapes.value(shapes.parse(f"[{0} + k // stride]", SCOPE).parts[0].exprs[0],
                             {}, {"k": a, "stride": b})
            assert v == a // b
            c = shapes.value(shapes.parse("[cdiv(k, stride)]", SCOPE).parts[0].exprs[0],
                             {}, {"k": a, "stride": b})
            assert c == -(-a // b)


@pytest.mark.parametrize("text, inputs, attrs, why", [
    ("[x[2] // stride]", X, {**ATTRS, "stride": 0}, "division by zero"),
    ("[cdiv(x[2], stride)]", X, {**ATTRS, "stride": 0}, "division by zero"),
    ("[x[5]]", X, ATTRS, "x[5] does not exist: x has 3 dims"),
    ("[pooled[2]]", X, ATTRS, "pooled[2] does not exist: pooled has 2 elements"),
    ("[x[0] - 5]", X, ATTRS, "dim x[0] - 5 is -3, below zero"),
    ("[k * k * k]", X, {**ATTRS, "k": 2**62}, "overflows 64 bits"),
    ("x[:] + x[:] + x[:]", X, ATTRS, "9 dims; kernels take at most 8"),
])
def test_reference_errors(text, inputs, attrs, why):
    with pytest.raises(shapes.ShapeRuleError, match=why.replace("[", r"\[").replace("*", r"\*")):
        shape(text, inputs, attrs)


@pytest.mark.parametrize("text, why", [
    ("[x[0] / 2]", "'/' is not an operator here: use // (division rounding down) or cdiv(a, b)"),
    ("[z[0]]", "'z' is neither an input (x, y) nor an int[] attribute (pooled) at column 2"),
    ("[n]", "'n' is not an int attribute (k, stride) at column 2"),
    ("[x]", "'x' is not an int attribute (k, stride); a dim of input 'x' is x[i]"),
    ("[pooled]", "an element of 'pooled' is pooled[i]"),
    ("[x[0]", "expected ']', found the end"),
    ("[x[0]]]", "unexpected ']' at column 7"),
    ("[x[9]]", "index 9 is out of range: kernels take at most 8 dims, so it is from -8 to 7"),
    ("[x[1.5]]", "unexpected '.' at column 5"),
    ("[2147483648]", "size 2147483648 is larger than 2147483647"),
    ("[cdiv(x[0])]", "expected ',', found ')'"),
    ("[pow(x[0], 2)]", "'pow' is not an int attribute"),
    ("x[0]", "expected ':', found ']'"),
    ("like(z)", "expected an input (x, y), found 'z'"),
    ("[1, 1, 1, 1, 1, 1, 1, 1, 1]", "9 dims; kernels take at most 8"),
    ("", "expected [..] or x[a:b], found the end"),
])
def test_parse_errors_name_the_bad_token(text, why):
    with pytest.raises(shapes.ShapeRuleError) as info:
        shapes.parse(text, SCOPE)
    assert why in str(info.value)


@pytest.mark.parametrize("text", [
    "[__import__('os').system('true')]",
    "[x[0]]; system(\"rm -rf /\")",
    "[x[0] /* */]",
    '[x[0]] + ["\\n#include <cstdlib>"]',
    "[x[0]]\n#define k 1",
    "[x[0] + k\u00a0]",  # a no-break space
    "[\u0663]",  # an Arabic-Indic digit 3
    "[\u0445[0]]",  # a Cyrillic x
    "[" * 5000,
    "[" + "(" * 100 + "1" + ")" * 100 + "]",
    "[k" + " + k" * 400 + "]",
])
def test_hostile_text_is_a_parse_error_never_code(text):
    with pytest.raises(shapes.ShapeRuleError):
        shapes.parse(text, SCOPE)


def test_cpp_is_written_from_the_tree_only():
    rule = shapes.parse("x[:-1] + [cdiv(x[2] + pooled[-1], stride), min(k, 3)]", SCOPE)
    assert shapes.cpp_statements(rule, SCOPE) == [
        "m.push_slice(0, opforge::glue::kNoIndex, -1);",
        "m.push(m.op(opforge::glue::DimOp::kCeilDiv, m.op(opforge::glue::DimOp::kAdd, "
        "m.dim(0, 2), m.item(0, -1)), m.attr(1)));",
        "m.push(m.op(opforge::glue::DimOp::kMin, m.attr(0), m.num(3)));"]
    # the text a message or comment shows is rendered from the tree too, whitespace and all
    assert str(shapes.parse("x[ :-1 ]+[ cdiv( x[2],stride ) ]", SCOPE)) == \
        "x[:-1] + [cdiv(x[2], stride)]"


def test_constraints():
    c = shapes.parse_constraint("k <= x[-1]", SCOPE)
    assert str(c) == "k <= x[-1]" and c.inputs() == ("x",)
    assert shapes.holds(c, X, ATTRS) and not shapes.holds(c, X, {**ATTRS, "k": 11})
    for bad, why in (("k", "expected one of < <= == != >= >, found the end"),
                     ("k = 1", "unexpected '='"), ("k < 1 < 2", "unexpected '<'")):
        with pytest.raises(shapes.ShapeRuleError, match=why):
            shapes.parse_constraint(bad, SCOPE)


CXX = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")


@pytest.mark.skipif(CXX is None, reason="no C++ compiler (set CXX or install g++)")
def test_the_cpp_arithmetic_is_the_reference(tmp_path):
    """opforge/glue.h's apply() (what PyTorch, TensorFlow and ONNX Runtime glue run) against
    shapes.value, operator by operator, on signs and edges; errors where the reference has."""
    values = (-(2**63), -7, -6, -2, -1, 0, 1, 2, 6, 7, 2**62, 2**63 - 1)
    ops = list(shapes.CPP_OPS.items())
    source = tmp_path / "apply.cc"
    source.write_text(
        "#include <opforge/glue.h>\n#include <cstdio>\n"
        "using opforge::glue::DimOp;\nint main() {\n"
        f"  const int64_t v[] = {{ {', '.join(f'INT64_C({x})' if x > -(2**63) else 'INT64_MIN' for x in values)} }};\n"
        f"  const DimOp ops[] = {{ {', '.join('DimOp::' + k for _, k in ops)} }};\n"
        "  for (DimOp op : ops) for (int64_t a : v) for (int64_t b : v) {\n"
        "    int64_t out = 0;\n"
        "    if (opforge::glue::apply(op, a, b, &out)) std::printf(\"%lld\\n\", (long long)out);\n"
        "    else std::printf(\"error\\n\");\n  }\n}\n")
    exe = tmp_path / "apply"
    subprocess.run([CXX, "-std=c++17", "-I", str(ROOT / "templates" / "include"), str(source),
                    "-o", str(exe)], check=True)
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    want = []
    for op, _ in ops:
        expr = shapes.BinOp(op, shapes.AttrValue("a"), shapes.AttrValue("b"))
        for a in values:
            for b in values:
                try:
                    want.append(str(shapes.value(expr, {}, {"a": a, "b": b})))
                except shapes.ShapeRuleError:
                    want.append("error")
    assert got == want
