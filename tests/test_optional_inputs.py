"""Optional inputs on the Python side: what `opforge test` hands the frameworks and which
served models `opforge verify` sends a vector to (its config's `optional: true`)."""

from __future__ import annotations

from conftest import ROOT
from opforge import recipe
from opforge.artifacts import vectors
from opforge.deploy import verify

LAYERNORM = ROOT / "recipes" / "examples" / "layernorm" / "recipe.toml"


def layernorm() -> dict:
    return vectors.spec_for(recipe.load(LAYERNORM))["ops"][0]


def vector(op: dict, name: str) -> dict:
    return next(v for v in op["tests"] if v["name"] == name)


def model(*inputs: tuple[str, bool]) -> dict:
    config = {"input": [{"name": n, "data_type": "TYPE_FP32", "dims": [-1, -1] if n == "x"
                         else [-1], **({"optional": True} if optional else {})}
                        for n, optional in inputs],
              "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [-1, -1]}]}
    return {"name": "ln", "op": "LayerNorm", "attrs": {}, "framework": "pytorch",
            "max_batch_size": 0, "inputs": verify._tensors(config["input"]),
            "outputs": verify._tensors(config["output"])}


def test_the_spec_says_which_inputs_are_optional():
    assert [(t["name"], t["optional"]) for t in layernorm()["inputs"]] == [
        ("x", False), ("weight", False), ("bias", True)]


def test_a_vector_without_the_optional_input_goes_to_a_model_that_may_lack_it():
    op = layernorm()
    without, with_bias = vector(op, "without-bias"), vector(op, "with-bias")
    optional_bias = model(("x", False), ("weight", False), ("bias", True))
    assert verify.fits(op, without, optional_bias) == ({"T": "float32"}, "")
    assert verify.fits(op, with_bias, optional_bias) == ({"T": "float32"}, "")
    no_bias = model(("x", False), ("weight", False))
    assert verify.fits(op, without, no_bias) == ({"T": "float32"}, "")
    assert verify.fits(op, with_bias, no_bias) == (
        None, "takes no input bias, which the vector gives")
    required_bias = model(("x", False), ("weight", False), ("bias", False))
    assert verify.fits(op, without, required_bias)[1].startswith(
        "needs input bias, which the vector leaves out")
    assert verify.fits(op, without, model(("x", False)))[0] is None  # weight is required
