"""Recipe validation: a corpus of bad recipes, each with the exact problem reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from opforge import recipe
from opforge.errors import RecipeError

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
    ('shape = "like(a)"', 'shape = "like(c)"', ["ops[0].outputs[0].shape: refers to 'c', "
                                                "which is not an input (a, b)"]),
    ('shape = "like(a)"', 'shape = "a + b"', ["ops[0].outputs[0].shape: 'a + b' is not a "
                                              "shape rule"]),
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
