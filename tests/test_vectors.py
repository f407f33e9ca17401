"""How a test vector is judged (`vectors.judge`, shared by `opforge test` and `opforge verify`):
an expected output the op did not return fails, naming it; so does a vector with nothing to
compare. The op and its vectors are the example recipe's, as the test child gets them. Then
reference checks' pieces: the random draws, the tolerances, the worst element of a failed
comparison, what a reference returns."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import EXAMPLE, opforge
from opforge import recipe
from opforge.recipe import dtypes
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


# --- reference checks: random draws, tolerances, the worst element ------------------------


@pytest.mark.parametrize("dtype,value_range,low,high", [
    ("float32", [-3.0, 3.0], -3.0, 3.0),
    ("float64", None, -1.0, 1.0),
    ("bfloat16", [0.0, 4.0], 0.0, 4.0),
    ("float8_e4m3fn", [-2.0, 2.0], -2.0, 2.0),
    ("int8", None, -10, 10),
    ("uint8", None, 0, 10),
    ("int16", [-300, 300], -300, 300),
    ("int64", [2**62, 2**62 + 3], 2**62, 2**62 + 3),
])
def test_draws_are_of_the_dtype_within_the_range_and_seeded(dtype, value_range, low, high):
    def drawn(seed):
        return vectors.draw(np.random.default_rng(seed), [4, 50], dtype, value_range)

    values = drawn(0)
    assert values.dtype == dtypes.numpy_dtype(dtype) and values.shape == (4, 50)
    as_float = values.astype(np.float64) if dtypes.FACTS[dtype].kind == "float" else values
    assert as_float.min() >= low and as_float.max() <= high
    assert np.array_equal(values, drawn(0)) and not np.array_equal(values, drawn(1))


def test_integer_draws_include_both_ends():
    values = vectors.draw(np.random.default_rng(0), [200], "int32", [0, 1])
    assert set(values.tolist()) == {0, 1}


def test_bool_draws_are_bools_with_both_values():
    values = vectors.draw(np.random.default_rng(0), [2, 40], "bool")
    assert values.dtype == np.bool_ and values.any() and not values.all()
    assert vectors.draw(np.random.default_rng(0), [], "bool").shape == ()


def test_tolerances_by_dtype_unless_given():
    assert vectors.tolerances("float16", None, None) == (1e-3, 1e-3)
    assert vectors.tolerances("bfloat16", None, 0.5) == (1e-2, 0.5)
    assert vectors.tolerances("int8", 1.0, None) == (1.0, 0.0)
    # bfloat16: one unit in the last place of 3.0 passes; float32 would not take it
    got = np.array([3.0, 3.015625], dtypes.numpy_dtype("bfloat16"))
    assert vectors.compare(got, [3.0, 3.0], "bfloat16", None, None)["ok"]
    assert not vectors.compare(got.astype(np.float32), [3.0, 3.0], "float32", None, None)["ok"]
    assert vectors.compare(got.astype(np.float32), [3.0, 3.0], "float32", 0.02, None)["ok"]
    assert not vectors.compare(np.array([2, 3], np.int8), [2, 4], "int8", None, None)["ok"]


def test_a_failed_comparison_names_the_worst_element():
    expected = np.array([[1.0, 2.0, 100.0], [0.0, -4.0, 5.0]])
    got = np.array([[1.0, 2.5, 100.6], [0.0, -4.0, 5.0]], np.float32)
    result = vectors.compare(got, expected, "float32", 0.1, 0.0)
    assert not result["ok"] and result["max_error"] == pytest.approx(0.6, abs=1e-5)
    assert result["worst"]["index"] == [0, 2]  # 0.5 over its tolerance: further than 0.4
    assert result["why"] == ("max error 0.6 > atol 0.1 + rtol 0; worst at [0, 2]: got 100.6, "
                             "expected 100 (abs error 0.6, rel error 0.006)")
    # with a relative tolerance the large value is within it, the small one is the worst
    result = vectors.compare(got, expected, "float32", 0.0, 0.01)
    assert result["worst"]["index"] == [0, 1]
    assert result["why"].endswith("worst at [0, 1]: got 2.5, expected 2 (abs error 0.5, "
                                  "rel error 0.25)")


def test_the_worst_element_of_a_nan_or_a_zero_expected():
    result = vectors.compare(np.array([1.0, np.nan, 1.0], np.float32), [1.0, 1.0, 0.5],
                             "float32", None, None)
    assert result["worst"]["index"] == [1] and np.isnan(result["worst"]["got"])
    result = vectors.compare(np.array([0.5], np.float32), [0.0], "float32", None, None)
    assert result["worst"] == {"index": [0], "got": 0.5, "expected": 0.0, "abs_error": 0.5,
                               "rel_error": None}
    assert result["why"].endswith("(abs error 0.5, rel error -)")
    assert "worst" not in vectors.compare(np.array([1.0], np.float32), [1.0], "float32",
                                          None, None)


def test_a_reference_returns_outputs_by_position_or_name():
    assert vectors.reference_outputs(np.ones(2), ["y"])["y"].shape == (2,)
    assert list(vectors.reference_outputs((1, 2), ["sum", "diff"])) == ["sum", "diff"]
    assert vectors.reference_outputs({"diff": 2}, ["sum", "diff"]) == {"diff": 2}
    with pytest.raises(vectors.ReferenceProblem, match=r"must return 2 values \(a tuple in the "
                       r"order sum, diff, or a dict by name\), not tuple of 3"):
        vectors.reference_outputs((1, 2, 3), ["sum", "diff"])
    with pytest.raises(vectors.ReferenceProblem, match="returned total, which are not outputs"):
        vectors.reference_outputs({"total": 1}, ["sum", "diff"])


def test_a_reference_is_imported_by_path_once(tmp_path):
    source = tmp_path / "ref.py"
    source.write_text("import itertools\nCALLS = []\ndef f(x):\n    CALLS.append(x)\n"
                      "    return x * 2\n")
    f = vectors.load_reference(str(source), "f")
    assert f(3) == 6 and vectors.load_reference(str(source), "f") is f
    with pytest.raises(vectors.ReferenceProblem, match="has no function 'itertools'"):
        vectors.load_reference(str(source), "itertools")  # a module, not a function
