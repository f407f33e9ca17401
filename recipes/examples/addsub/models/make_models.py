"""Tiny Triton models that call the example's AddSub op, for `opforge serve` and
`opforge verify`: one per framework (TorchScript, ONNX, TensorFlow SavedModel) and per
distinct (alpha, input rank) of the recipe's test vectors, so that every vector has a model
to go through.

    opforge build recipes/examples/addsub/recipe.toml --release local
    python recipes/examples/addsub/models/make_models.py /tmp/addsub-models --release local
    opforge package recipes/examples/addsub/recipe.toml --release local \\
        --model-repository /tmp/addsub-models
    opforge serve /tmp/addsub-models --http-port 8000 --grpc-port 8001
    opforge verify recipes/examples/addsub/recipe.toml --url 127.0.0.1:8000

Each model's config.pbtxt says which op it runs and with which attributes
(`parameters { key: "opforge.op" ... }`, `"opforge.attrs"`): that is how `opforge verify`
finds it. Inputs and outputs carry the op's names (a, b -> sum, diff).
Models are made only for frameworks whose library was built (the TorchScript and
SavedModel makers load it; ONNX needs it to be served). Each framework runs in a child.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from opforge.core import toml  # tomllib on 3.11+, tomli on 3.10

HERE = Path(__file__).resolve().parent
RECIPE = HERE.parent / "recipe.toml"
KINDS = {"pytorch": "torchscript", "onnxruntime": "onnx", "tensorflow": "savedmodel"}


def groups(recipe: dict) -> list[dict]:
    """The distinct (alpha, rank) pairs of AddSub's test vectors."""
    op = next(op for op in recipe["ops"] if op["name"] == "AddSub")
    default = next(a["default"] for a in op["attrs"] if a["name"] == "alpha")
    found = {}
    for vector in op["tests"]:
        alpha = float(vector.get("attrs", {}).get("alpha", default))
        rank = _rank(vector["inputs"]["a"])
        found[(alpha, rank)] = {"alpha": alpha, "rank": rank,
                                "default": alpha == default}
    return list(found.values())


def _rank(value) -> int:
    return 1 + _rank(value[0]) if isinstance(value, list) else 0


def model_name(kind: str, group: dict) -> str:
    name = f"addsub_{kind}"
    if not group["default"]:
        name += "_alpha" + f"{group['alpha']:g}".replace(".", "p").replace("-", "m")
    return name + ("" if group["rank"] == 1 else f"_rank{group['rank']}")


def config(name: str, kind: str, group: dict) -> str:
    platform = {"torchscript": 'platform: "pytorch_libtorch"',
                "onnx": 'platform: "onnxruntime_onnx"',
                "savedmodel": 'platform: "tensorflow_savedmodel"'}[kind]
    dims = ", ".join(["-1"] * group["rank"])

    def tensors(names):
        return ",\n".join(f'  {{ name: "{n}" data_type: TYPE_FP32 dims: [ {dims} ] }}'
                          for n in names)
    attrs = json.dumps({"alpha": group["alpha"]}).replace('"', '\\"')
    return (f'name: "{name}"\n{platform}\nmax_batch_size: 0\n'
            f"input [\n{tensors(['a', 'b'])}\n]\noutput [\n{tensors(['sum', 'diff'])}\n]\n"
            f'instance_group [ {{ kind: KIND_CPU count: 1 }} ]\n'
            f'parameters {{ key: "opforge.op" value: {{ string_value: "AddSub" }} }}\n'
            f'parameters {{ key: "opforge.attrs" value: {{ string_value: "{attrs}" }} }}\n')


# --- one maker per framework; each runs in a child with only its framework imported ------


def make_torchscript(path: Path, library: str, alpha: float, rank: int) -> None:
    import torch

    torch.ops.load_library(library)

    class AddSub(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.alpha = alpha

        def forward(self, a: torch.Tensor, b: torch.Tensor):
            return torch.ops.acme.AddSub(a, b, alpha=self.alpha)

    torch.jit.script(AddSub()).save(str(path / "model.pt"))


def make_onnx(path: Path, library: str, alpha: float, rank: int) -> None:
    import onnx
    from onnx import TensorProto, helper

    def value(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * rank)

    node = helper.make_node("AddSub", ["a", "b"], ["sum", "diff"], domain="acme", alpha=alpha)
    graph = helper.make_graph([node], "addsub", [value("a"), value("b")],
                              [value("sum"), value("diff")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("acme", 1)])
    onnx.save(model, str(path / "model.onnx"))


def make_savedmodel(path: Path, library: str, alpha: float, rank: int) -> None:
    import tensorflow as tf

    ops = tf.load_op_library(library)
    spec = tf.TensorSpec([None] * rank, tf.float32)

    class AddSub(tf.Module):
        @tf.function(input_signature=[spec, spec])
        def serve(self, a, b):
            total, diff = ops.acme_add_sub(a=a, b=b, alpha=alpha)
            return {"sum": total, "diff": diff}

    model = AddSub()
    tf.saved_model.save(model, str(path / "model.savedmodel"),
                        signatures={"serving_default": model.serve})


MAKERS = {"torchscript": make_torchscript, "onnx": make_onnx, "savedmodel": make_savedmodel}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repository", type=Path, help="model repository to write into")
    parser.add_argument("--release", default="local",
                        help="whose built libraries to use (dist/<release>/)")
    parser.add_argument("--dist", type=Path, default=HERE.parent / "dist",
                        help="the artifact folder `opforge build` wrote")
    args = parser.parse_args()
    recipe = toml.loads(RECIPE.read_text("utf-8"))
    made = []
    for framework, kind in KINDS.items():
        manifest = args.dist / args.release / framework / "manifest.json"
        if not manifest.is_file():
            print(f"skipping {kind} models: no {framework} library in {manifest.parent} "
                  f"(build it first)", file=sys.stderr)
            continue
        library = str(manifest.parent / json.loads(manifest.read_text())["library"])
        for group in groups(recipe):
            name = model_name(kind, group)
            folder = args.repository / name
            (folder / "1").mkdir(parents=True, exist_ok=True)
            (folder / "config.pbtxt").write_text(config(name, kind, group))
            subprocess.run([sys.executable, __file__, "--make", kind, str(folder / "1"),
                            library, repr(group["alpha"]), str(group["rank"])], check=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            made.append(name)
    print("\n".join(made))
    return 0 if made else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make"]:
        kind, out, library, alpha, rank = sys.argv[2:]
        MAKERS[kind](Path(out), library, float(alpha), int(rank))
    else:
        sys.exit(main())
