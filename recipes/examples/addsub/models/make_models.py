"""Tiny Triton models that call the example's AddSub op, for `opforge serve` and
`opforge verify`: one per model format (TorchScript, an AOTInductor package, ONNX,
TensorFlow SavedModel) and per distinct (alpha, input rank) of the recipe's test vectors, so
that every vector has a model to go through.

    opforge build recipes/examples/addsub/recipe.toml --release local
    python recipes/examples/addsub/models/make_models.py /tmp/addsub-models --release local
    opforge package recipes/examples/addsub/recipe.toml --release local \\
        --model-repository /tmp/addsub-models
    opforge serve /tmp/addsub-models --http-port 8000 --grpc-port 8001
    opforge verify recipes/examples/addsub/recipe.toml --url 127.0.0.1:8000

Each model's config.pbtxt says which op it runs and with which attributes
(`parameters { key: "opforge.op" ... }`, `"opforge.attrs"`): that is how `opforge verify`
finds it. Inputs and outputs carry the op's names (a, b -> sum, diff).
Models are made only for frameworks whose library was built (the PyTorch and SavedModel
makers load it; ONNX needs it to be served). Each model is made in a child.

The AOTInductor package (`model.pt2`, `platform: "torch_aoti"`: Triton's PyTorch backend
from 26.03) is made with torch.export and torch._inductor.aoti_compile_and_package, for CPU:
a package runs only on the device it was compiled for. It needs PyTorch 2.6 or newer (older
ones are skipped, saying so) and a C++ compiler, and takes a while (tens of seconds each).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from opforge.core import toml  # tomllib on 3.11+, tomli on 3.10

HERE = Path(__file__).resolve().parent
RECIPE = HERE.parent / "recipe.toml"
KINDS = {"pytorch": ("torchscript", "torch_aoti"), "onnxruntime": ("onnx",),
         "tensorflow": ("savedmodel",)}
AOTI_TORCH = (2, 6)  # torch._inductor.aoti_compile_and_package / aoti_load_package
SKIPPED = 3  # a maker's exit code for "this format cannot be made here" (reason on stderr)


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
                "torch_aoti": 'platform: "torch_aoti"',
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


def make_torch_aoti(path: Path, library: str, alpha: float, rank: int) -> None:
    import torch

    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    if version < AOTI_TORCH or not hasattr(torch._inductor, "aoti_compile_and_package"):
        print(f"PyTorch {torch.__version__} cannot make AOTInductor packages: "
              f"torch._inductor.aoti_compile_and_package needs PyTorch "
              f"{'.'.join(map(str, AOTI_TORCH))} or newer", file=sys.stderr)
        sys.exit(SKIPPED)
    torch.ops.load_library(library)  # the op's Meta kernel lets torch.export trace it

    class AddSub(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor):
            return torch.ops.acme.AddSub(a, b, alpha=alpha)

    dims = {i: torch.export.Dim(f"d{i}") for i in range(rank)}  # every size dynamic
    example = (torch.randn([3] * rank), torch.randn([3] * rank))
    program = torch.export.export(AddSub(), example, dynamic_shapes={"a": dims, "b": dims})
    # the wrapper only calls the op (an extern kernel, compiled with the library): -O0
    # compiles it in a third of the time and runs no slower
    torch._inductor.aoti_compile_and_package(
        program, package_path=str(path / "model.pt2"),
        inductor_configs={"aot_inductor.compile_wrapper_opt_level": "O0"})


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


MAKERS = {"torchscript": make_torchscript, "torch_aoti": make_torch_aoti, "onnx": make_onnx,
          "savedmodel": make_savedmodel}


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
    for framework, kinds in KINDS.items():
        manifest = args.dist / args.release / framework / "manifest.json"
        if not manifest.is_file():
            print(f"skipping {' and '.join(kinds)} models: no {framework} library in "
                  f"{manifest.parent} (build it first)", file=sys.stderr)
            continue
        library = str(manifest.parent / json.loads(manifest.read_text())["library"])
        for kind in kinds:
            made += make_kind(args.repository, kind, library, groups(recipe))
    print("\n".join(made))
    return 0 if made else 1


def make_kind(repository: Path, kind: str, library: str, found: list[dict]) -> list[str]:
    """The models of one format, one per group, each made in a child; none (and a note)
    when the maker says the format cannot be made here."""
    made = []
    for group in found:
        name = model_name(kind, group)
        folder = repository / name
        (folder / "1").mkdir(parents=True, exist_ok=True)
        child = subprocess.run([sys.executable, __file__, "--make", kind, str(folder / "1"),
                                library, repr(group["alpha"]), str(group["rank"])],
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                               stderr=subprocess.PIPE, text=True)
        if child.returncode == SKIPPED:
            shutil.rmtree(folder)
            print(f"skipping {kind} models: {child.stderr.strip()}", file=sys.stderr)
            return made
        sys.stderr.write(child.stderr)
        if child.returncode != 0:
            shutil.rmtree(folder)
            raise SystemExit(f"making {name} failed (exit {child.returncode})")
        (folder / "config.pbtxt").write_text(config(name, kind, group))
        made.append(name)
    return made


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make"]:
        kind, out, library, alpha, rank = sys.argv[2:]
        MAKERS[kind](Path(out), library, float(alpha), int(rank))
    else:
        sys.exit(main())
