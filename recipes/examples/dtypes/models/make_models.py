"""Tiny Triton models that call the dtypes example's ops, for `opforge serve` and
`opforge verify`: TorchScript and ONNX models, one per op and distinct (type binding,
attribute values, input ranks) of the recipe's test vectors, so that every vector has a
model to go through - BF16 tensors (Silu, MaskedFill) among them.

    opforge build recipes/examples/dtypes/recipe.toml --release local
    python recipes/examples/dtypes/models/make_models.py /tmp/dtypes-models --release local
    opforge package recipes/examples/dtypes/recipe.toml --release local \\
        --model-repository /tmp/dtypes-models
    opforge serve /tmp/dtypes-models --http-port 8000 --grpc-port 8001
    opforge verify recipes/examples/dtypes/recipe.toml --url 127.0.0.1:8000

A vector that names no type binding gets bfloat16 where the op allows it, else the op's first
type. Each config.pbtxt says which op its model runs and with which attributes
(`opforge.op`, `opforge.attrs`); inputs and outputs carry the op's names. Models are made
only for frameworks whose library was built (`--formats` picks among them); each model is
made in a child.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from opforge.core import toml  # tomllib on 3.11+, tomli on 3.10
from opforge.recipe import dtypes

HERE = Path(__file__).resolve().parent
RECIPE = HERE.parent / "recipe.toml"
FORMATS = {"torchscript": ("pytorch", 'platform: "pytorch_libtorch"'),
           "onnx": ("onnxruntime", 'platform: "onnxruntime_onnx"')}
PREFERRED = "bfloat16"  # the binding of a vector that names none, where the op allows it


def groups(recipe: dict) -> list[dict]:
    """One entry per op and distinct (binding, attributes, input ranks) of its vectors."""
    found = {}
    for op in recipe["ops"]:
        defaults = {a["name"]: a["default"] for a in op.get("attrs", []) if "default" in a}
        for vector in op.get("tests", []):
            binding = {var: vector.get("types", {}).get(
                var, PREFERRED if PREFERRED in allowed else allowed[0])
                for var, allowed in op.get("types", {}).items()}
            attrs = {**defaults, **vector.get("attrs", {})}
            ranks = {name: _rank(value) for name, value in vector["inputs"].items()}
            key = json.dumps([op["name"], binding, attrs, ranks], sort_keys=True)
            found.setdefault(key, {"op": op, "binding": binding, "attrs": attrs,
                                   "ranks": ranks, "defaults": defaults})
    return list(found.values())


def _rank(value) -> int:
    return 1 + _rank(value[0]) if isinstance(value, list) else 0


def _dtype(tensor: dict, group: dict) -> str:
    return group["binding"].get(tensor["dtype"], tensor["dtype"])


def model_name(kind: str, group: dict) -> str:
    op = re.sub(r"(?<!^)(?=[A-Z])", "_", group["op"]["name"]).lower().replace("int_8", "int8")
    name = "_".join([op, kind, *group["binding"].values()])
    changed = {k: v for k, v in group["attrs"].items() if group["defaults"].get(k) != v}
    for attr, value in sorted(changed.items()):
        name += f"_{attr}{value:g}".replace(".", "p").replace("-", "m")
    ranks = set(group["ranks"].values())
    return name + ("" if ranks == {1} else "_rank" + "_".join(map(str, sorted(ranks))))


def config(name: str, kind: str, group: dict) -> str:
    op = group["op"]

    def tensors(items, ranks):
        return ",\n".join(
            f'  {{ name: "{t["name"]}" data_type: {dtypes.FACTS[_dtype(t, group)].triton} '
            f'dims: [ {", ".join(["-1"] * ranks[t["name"]])} ] }}' for t in items)
    in_ranks = group["ranks"]
    # every output of these ops has the shape of its first input
    out_ranks = {t["name"]: in_ranks[op["inputs"][0]["name"]] for t in op["outputs"]}
    attrs = json.dumps(group["attrs"]).replace('"', '\\"')
    return (f'name: "{name}"\n{FORMATS[kind][1]}\nmax_batch_size: 0\n'
            f'input [\n{tensors(op["inputs"], in_ranks)}\n]\n'
            f'output [\n{tensors(op["outputs"], out_ranks)}\n]\n'
            f'instance_group [ {{ kind: KIND_CPU count: 1 }} ]\n'
            f'parameters {{ key: "opforge.op" value: {{ string_value: "{op["name"]}" }} }}\n'
            f'parameters {{ key: "opforge.attrs" value: {{ string_value: "{attrs}" }} }}\n')


# --- one maker per format; each runs in a child with only its framework imported --------


def make_torchscript(path: Path, library: str, group: dict) -> None:
    import torch

    torch.ops.load_library(library)
    attrs = group["attrs"]

    class Silu(torch.nn.Module):
        def forward(self, x: torch.Tensor):
            return torch.ops.narrow.Silu(x)

    class QuantizeInt8(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale, self.zero_point = float(attrs["scale"]), int(attrs["zero_point"])

        def forward(self, x: torch.Tensor):
            return torch.ops.narrow.QuantizeInt8(x, scale=self.scale,
                                                 zero_point=self.zero_point)

    class Dequantize(QuantizeInt8):
        def forward(self, q: torch.Tensor):
            return torch.ops.narrow.Dequantize(q, scale=self.scale,
                                               zero_point=self.zero_point)

    class MaskedFill(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.value = float(attrs["value"])

        def forward(self, x: torch.Tensor, mask: torch.Tensor):
            return torch.ops.narrow.MaskedFill(x, mask, value=self.value)

    module = {"Silu": Silu, "QuantizeInt8": QuantizeInt8, "Dequantize": Dequantize,
              "MaskedFill": MaskedFill}[group["op"]["name"]]()
    torch.jit.script(module).save(str(path / "model.pt"))


def make_onnx(path: Path, library: str, group: dict) -> None:
    import onnx
    from onnx import TensorProto, helper

    types = {"float32": TensorProto.FLOAT, "bfloat16": TensorProto.BFLOAT16,
             "int8": TensorProto.INT8, "uint8": TensorProto.UINT8,
             "int16": TensorProto.INT16, "int32": TensorProto.INT32, "bool": TensorProto.BOOL}
    op, ranks = group["op"], group["ranks"]
    first = ranks[op["inputs"][0]["name"]]

    def value(tensor, rank):
        return helper.make_tensor_value_info(tensor["name"], types[_dtype(tensor, group)],
                                             [None] * rank)
    kinds = {a["name"]: a["type"] for a in op.get("attrs", [])}
    attrs = {k: float(v) if kinds[k] == "float" else int(v) for k, v in group["attrs"].items()}
    node = helper.make_node(op["name"], [t["name"] for t in op["inputs"]],
                            [t["name"] for t in op["outputs"]], domain="narrow", **attrs)
    graph = helper.make_graph([node], op["name"],
                              [value(t, ranks[t["name"]]) for t in op["inputs"]],
                              [value(t, first) for t in op["outputs"]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("narrow", 1)])
    onnx.save(model, str(path / "model.onnx"))


MAKERS = {"torchscript": make_torchscript, "onnx": make_onnx}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repository", type=Path, help="model repository to write into")
    parser.add_argument("--release", default="local",
                        help="whose built libraries to use (dist/<release>/)")
    parser.add_argument("--dist", type=Path, default=HERE.parent / "dist",
                        help="the artifact folder `opforge build` wrote")
    parser.add_argument("--formats", nargs="+", choices=sorted(FORMATS), default=list(FORMATS),
                        help="the model formats to make (default: all)")
    args = parser.parse_args()
    recipe = toml.loads(RECIPE.read_text("utf-8"))
    made = []
    for kind in args.formats:
        framework = FORMATS[kind][0]
        manifest = args.dist / args.release / framework / "manifest.json"
        if not manifest.is_file():
            print(f"skipping {kind} models: no {framework} library in {manifest.parent} "
                  f"(build it first)", file=sys.stderr)
            continue
        library = str(manifest.parent / json.loads(manifest.read_text())["library"])
        for group in groups(recipe):
            made.append(make_one(args.repository, kind, library, group))
    print("\n".join(made))
    return 0 if made else 1


def make_one(repository: Path, kind: str, library: str, group: dict) -> str:
    """One model, made in a child; its folder removed when the child fails."""
    name = model_name(kind, group)
    folder = repository / name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    child = subprocess.run([sys.executable, __file__, "--make", kind, str(folder / "1"),
                            library, json.dumps(group)],
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                           stderr=subprocess.PIPE, text=True)
    sys.stderr.write(child.stderr)
    if child.returncode != 0:
        shutil.rmtree(folder)
        raise SystemExit(f"making {name} failed (exit {child.returncode})")
    (folder / "config.pbtxt").write_text(config(name, kind, group))
    return name


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make"]:
        kind, out, library, group = sys.argv[2:]
        MAKERS[kind](Path(out), library, json.loads(group))
    else:
        sys.exit(main())
