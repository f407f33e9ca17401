"""Recipe validation: a corpus of bad recipes, each with the exact problem reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import opforge
from opforge import recipe
from opforge.core.errors import RecipeError

GOOD = """\
[package]
name = "t-ops"
version = "0.1.0"
namespace = "t"

[target]
release = "24.09"
frameworks = ["pytorch"]

[[ops]]
name = "AddSub"
inputs = [{ name = "a", dtype = "T" }, { name = "b", dtype = "T" }]
outputs = [{ name = "sum", dtype = "T", shape = "like(a)" }]
attrs = [{ name = "alpha", type = "float", default = 1.0 }]
types = { T = ["float32"] }
cpu = "k.cc"

[[ops.tests]]
inputs = { a = [1.0], b = [2.0] }
expect = { sum = [3.0] }
"""


def write(tmp_path: Path, text: str, kernel: bool = True) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(textwrap.dedent(text))
    if kernel:
        (tmp_path / "k.cc").write_text("// kernel\n")
    return path


def problems(tmp_path: Path, text: str, kernel: bool = True) -> list[str]:
    with pytest.raises(RecipeError) as info:
        recipe.load(write(tmp_path, text, kernel))
    return info.value.details


def test_good_recipe_loads(tmp_path):
    loaded = recipe.load(write(tmp_path, GOOD))
    assert loaded.package.namespace == "t"
    assert [op.name for op in loaded.ops] == ["AddSub"]
    assert loaded.kernel_sources("cpu") == [(tmp_path / "k.cc").resolve()]


def test_shipped_example_is_valid():
    loaded = recipe.load(Path(__file__).parents[1] / "recipes/examples/addsub/recipe.toml")
    assert loaded.ops[0].types == {"T": ["float32", "float16"]}


@pytest.mark.parametrize("old,new,expected", [
    # unknown key: nearest valid key suggested, with the line
    ('namespace = "t"', 'namespce = "t"', ["recipe.toml:4: package.namespce: unknown key; "
                                           "did you mean 'namespace'?",
                                           "package.namespace: required key is missing"]),
    # wrong type
    ('version = "0.1.0"', "version = 1", ["recipe.toml:3: package.version: Input should be "
                                          "a valid string"]),
    ('default = 1.0', 'default = "x"', ["ops[0].attrs[0].default: 'x' is not a valid float"]),
    # enumerations
    ('frameworks = ["pytorch"]', 'frameworks = ["pytorh"]',
     ["target.frameworks[0]: 'pytorh' is not allowed; expected 'pytorch', 'tensorflow', "
      "'onnxruntime' or 'tensorrt'"]),
    ('T = ["float32"]', 'T = ["float8"]', ["ops[0].types.T[0]: 'float8' is not allowed"]),
    ('name = "AddSub"', 'name = "addSub"', ["ops[0].name: 'addSub' must be a CamelCase "
                                            "identifier"]),
    # kernel sources: missing, escaping the recipe folder
    ('cpu = "k.cc"', 'cpu = "nope.cc"', ["ops[0].cpu: kernel source 'nope.cc' does not exist"]),
    ('cpu = "k.cc"', 'cpu = "../k.cc"', ["ops[0].cpu: '../k.cc' is outside the recipe's "
                                         "folder"]),
    ('cpu = "k.cc"', '', ["ops[0].cpu: no cpu kernel source, but target.devices includes "
                          "'cpu'"]),
    # shape rules and dtypes
    ('shape = "like(a)"', 'shape = "like(c)"', ["ops[0].outputs[0].shape: op AddSub, output "
                                                "sum: expected an input (a, b), found 'c' at "
                                                "column 6 of 'like(c)'"]),
    ('shape = "like(a)"', 'shape = "a + b"', ["ops[0].outputs[0].shape: op AddSub, output sum: "
                                              "expected a list of dims [..] or a slice of an "
                                              "input's shape such as x[:-1], found 'a' at column 1"]),
    ('shape = "like(a)"', 'shape = "[a[0] / 2]"', ["'/' is not an operator here: use // "
                                                   "(division rounding down) or cdiv(a, b)"]),
    ('shape = "like(a)"', 'shape = "[n]"', ["'n' is not an int attribute (none)"]),
    ('shape = "like(a)"', 'shape = "[a[0] ** 2]"', ["expected a dim, found '*' at column 8"]),
    ('shape = "like(a)"', 'shape = "[__import__(0)]"',
     ["'__import__' is not an int attribute (none) at column 2"]),
    ('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "T", shape = "[a[-1], q]" }',
     ["ops[0].inputs[1].shape: op AddSub, input b: 'q' is not an int attribute (none) at "
      "column 9 of '[a[-1], q]'"]),
    ('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "T", rank = 2, shape = "[a[0]]" }',
     ["ops[0].inputs[1]: op AddSub, input b: rank 2 but shape [a[0]] has 1 dims"]),
    ('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "T", rank = 9 }',
     ["ops[0].inputs[1].rank: Input should be less than or equal to 8"]),
    ('cpu = "k.cc"', 'cpu = "k.cc"\nconstraints = ["a[0] =< 3"]',
     ["ops[0].constraints[0]: op AddSub: unexpected '=' at column 6 of 'a[0] =< 3'"]),
    ('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "U" }',
     ["ops[0].inputs[1].dtype: 'U' is neither a type variable of this op (T) nor one of"]),
    # test vectors
    ('inputs = { a = [1.0], b = [2.0] }', 'inputs = { a = [1.0, [2.0]], b = [2.0], z = 1 }',
     ["ops[0].tests[0].inputs.a: must be a number or a rectangular nested list",
      "ops[0].tests[0].inputs.z: not an input of AddSub (a, b)"]),
    ('expect = { sum = [3.0] }', 'expect = { total = [3.0] }',
     ["ops[0].tests[0].expect.total: not an output of AddSub (sum)"]),
])
def test_bad_recipe(tmp_path, old, new, expected):
    assert old in GOOD
    found = problems(tmp_path, GOOD.replace(old, new))
    for want in expected:
        assert any(want in line for line in found), (want, found)


def test_all_problems_reported_at_once_with_lines(tmp_path):
    text = (GOOD.replace('namespace = "t"', 'namespce = "t"')
                .replace('frameworks = ["pytorch"]', 'frameworks = ["pytorh"]')
                .replace('cpu = "k.cc"', 'cpu = "missing.cc"'))
    found = problems(tmp_path, text)
    assert len(found) == 4, found
    assert [line.split(": ")[0].rsplit(":", 1)[-1] for line in found] == ["1", "4", "8", "16"]


def test_malformed_toml(tmp_path):
    with pytest.raises(RecipeError) as info:
        recipe.load(write(tmp_path, "[package\nname = 1\n"))
    assert "not valid TOML" in info.value.message
    assert "line 1" in info.value.message


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        recipe.load(tmp_path / "nope.toml")


def test_output_type_variable_needs_an_input(tmp_path):
    text = GOOD.replace('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "float32" }') \
               .replace('inputs = [{ name = "a", dtype = "T" }', 'inputs = [{ name = "a", dtype = "float32" }')
    found = problems(tmp_path, text)
    assert any("type variable 'T' is used by no input" in line for line in found), found


def cli_check(tmp_path: Path, text: str) -> str:
    """`opforge test` on the recipe, as a user runs it: a recipe error is exit 2, before
    anything is built or loaded; returns what it printed."""
    result = opforge("test", str(write(tmp_path, text)), "--release", "local")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def nested(depth: int) -> str:
    return "[" * depth + "1.0" + "]" * depth


def test_a_deeply_nested_recipe_is_a_recipe_error_naming_the_key(tmp_path):
    # deeper than tomllib's recursion allows: it was a RecursionError traceback (exit 1)
    err = cli_check(tmp_path, GOOD.replace("a = [1.0]", f"a = {nested(100_000)}"))
    assert "recipe.toml:19: ops[0].tests[0].inputs: arrays or inline tables nested too " \
           "deeply" in err
    # parsed, but deeper than a kernel's dims: never handed to numpy
    err = cli_check(tmp_path, GOOD.replace("a = [1.0]", f"a = {nested(300)}"))
    assert "recipe.toml:19: ops[0].tests[0].inputs.a: must be a number or a rectangular " \
           "nested list of numbers, at most 8 deep" in err


@pytest.mark.parametrize("namespace,why", [
    ("aten", "a namespace of PyTorch's own operators"),
    ("prim", "a namespace of PyTorch's own operators"),
    ("torch", "the C++ namespace of PyTorch"),
    ("onnx", "a namespace of PyTorch's own operators"),
    ("std", "the C++ namespace of the C++ standard library"),
    ("int", "a C++ keyword"),
    # TensorFlow names ops <Namespace>><Op>; its own Namespace>TestStringOutput is one
    ("namespace_", "names TensorFlow ops Namespace><Op>"),
])
def test_a_framework_namespace_is_a_recipe_error(tmp_path, namespace, why):
    err = cli_check(tmp_path, GOOD.replace('namespace = "t"', f'namespace = "{namespace}"'))
    assert f"recipe.toml:4: package.namespace: '{namespace}' " in err and why in err, err


@pytest.mark.parametrize("domain", ["ai.onnx", "com.microsoft", "ai.onnx.ml", ""])
def test_onnx_domains_are_no_namespace(tmp_path, domain):
    found = problems(tmp_path, GOOD.replace('namespace = "t"', f'namespace = "{domain}"'))
    assert any(f"package.namespace: '{domain}' must be a lower-case identifier" in line
               for line in found), found


def test_cpp_keywords_are_no_argument_names(tmp_path):
    found = problems(tmp_path, GOOD.replace('{ name = "b", dtype = "T" }',
                                            '{ name = "class", dtype = "T" }')
                                   .replace("b = [2.0]", "class = [2.0]"))
    assert any("ops[0].inputs[1].name: 'class' is a C++ keyword" in line for line in found)


def test_numbers_outside_int64_or_float32_are_recipe_errors(tmp_path):
    text = GOOD.replace(
        'attrs = [{ name = "alpha", type = "float", default = 1.0 }]',
        'attrs = [{ name = "alpha", type = "float", default = inf },\n'
        '  { name = "n", type = "int", default = 9223372036854775808 },\n'
        '  { name = "sizes", type = "int[]", default = [1, -9223372036854775809] },\n'
        '  { name = "ws", type = "float[]", default = [nan] },\n'
        '  { name = "big", type = "float", default = 1e39 }]'
    ).replace("expect = { sum = [3.0] }",
              "expect = { sum = [3.0] }\nattrs = { n = 18446744073709551616, alpha = 1e400 }")
    err = cli_check(tmp_path, text)
    for want in ("ops[0].attrs[0].default: inf is not a valid float: it must be finite",
                 "ops[0].attrs[1].default: 9223372036854775808 is not a valid int: it is "
                 "outside int64",
                 "ops[0].attrs[2].default: [1, -9223372036854775809] is not a valid int[]: "
                 "element 1 is not a valid int: it is outside int64",
                 "ops[0].attrs[3].default: [nan] is not a valid float[]: element 0",
                 "ops[0].tests[0].attrs.n: 18446744073709551616 is not a valid int: it is "
                 "outside int64",
                 "ops[0].tests[0].attrs.alpha: inf is not a valid float",
                 # float attributes are float32 in every framework: 1e39 would be inf
                 "ops[0].attrs[4].default: 1e+39 is not a valid float: it must be finite and "
                 "within float32"):
        assert want in err, (want, err)
    assert "has 7 problems" in err


def test_explicit_dims_the_glue_cannot_carry_are_recipe_errors(tmp_path):
    # were C++ narrowing errors in TensorFlow's shape function (exit 5), or a kernel refusal
    err = cli_check(tmp_path, GOOD.replace('shape = "like(a)"',
                                           'shape = "[a[8], 99999999999, 1, 1, 1, 1, 1, 1, 1]"'))
    assert ("ops[0].outputs[0].shape: op AddSub, output sum: index 8 is out of range: kernels "
            "take at most 8 dims, so it is from -8 to 7 at column 4") in err
    err = cli_check(tmp_path, GOOD.replace('shape = "like(a)"',
                                           'shape = "[99999999999, 1, 1, 1, 1, 1, 1, 1]"'))
    assert "size 99999999999 is larger than 2147483647" in err
    err = cli_check(tmp_path, GOOD.replace('shape = "like(a)"',
                                           'shape = "[1, 1, 1, 1, 1, 1, 1, 1, a[0]]"'))
    assert "ops[0].outputs[0].shape: op AddSub, output sum: 9 dims; kernels take at most 8" \
        in err
