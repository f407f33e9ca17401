"""How a test vector is judged (`vectors.judge`, shared by `opforge test` and `opforge verify`):
an expected output the op did not return fails, naming it; so does a vector with nothing to
compare. The op and its vectors are the example recipe's, as the test child gets them."""

from __future__ import annotations

import shutil

import numpy as np

from conftest import EXAMPLE, opforge
from opforge import recipe
from opforge.artifacts import vectors

SPEC = vectors.spec_for(recipe.load(EXAMPLE / "recipe.toml"))
ADDSUB = SPEC["ops"][0]
VECTOR = ADDSUB["tests"][0]  # a = [1, 2, 3], b = [0.5, 0.5, -1]: sum and diff expected
BINDING = {"T": "float32"}


def judged(vector: dict, got: dict) -> dict:
    row = {"op": ADDSUB["name"], "vector": vector["name"], "types": BINDING, "outputs": {}}
    return vectors.finish(vectors.judge(row, ADDSUB, vector, BINDING, got=got))


def test_all_expected_outputs_returned_and_right():
    row = judged(VECTOR, {"sum": np.array([1.5, 2.5, 2.0], np.float32),
                          "diff": np.array([0.5, 1.5, 4.0], np.float32)})
    assert row["ok"] and row["why"] == "" and set(row["outputs"]) == {"sum", "diff"}


def test_an_expected_output_the_op_did_not_return_fails_by_name():
    row = judged(VECTOR, {"sum": np.array([1.5, 2.5, 2.0], np.float32)})
    assert not row["ok"]
    assert row["why"] == "diff: not returned (it returned sum)"
    assert row["outputs"]["sum"]["ok"] and not row["outputs"]["diff"]["ok"]


def test_none_of_the_expected_outputs_returned():
    row = judged(VECTOR, {})
    assert not row["ok"]
    assert row["why"] == ("sum: not returned (it returned no output); "
                          "diff: not returned (it returned no output)")


def test_a_vector_with_nothing_to_compare_fails():
    """The recipe refuses such a vector (expect or error is required); a judge handed one
    anyway does not pass it."""
    row = judged({**VECTOR, "expect": {}}, {"sum": np.array([1.5, 2.5, 2.0], np.float32)})
    assert not row["ok"]
    assert row["why"] == "nothing to compare: the vector expects no output of AddSub (sum, diff)"


def test_the_recipe_refuses_a_vector_with_nothing_to_compare(tmp_path):
    """Where it is clearest: before anything is built or run, as a recipe error (exit 2)."""
    folder = tmp_path / "addsub"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    recipe_file = folder / "recipe.toml"
    text = recipe_file.read_text()
    expect = "expect = { sum = [1.5, 2.5, 2.0], diff = [0.5, 1.5, 4.0] }\n"
    assert expect in text
    recipe_file.write_text(text.replace(expect, ""))
    result = opforge("test", str(recipe_file), "--release", "local")
    assert result.returncode == 2
    assert "ops[0].tests[0]: give `expect` (output values) or `error`" in result.stderr
