"""Sample models that use the example's AddSub op, for `opforge package` tests.

TorchScript needs the op library loaded and its source on disk, so it is made by running
this file in a child:  python tests/sample_models.py torchscript OUT.pt LIBRARY
"""

from __future__ import annotations

import sys
from pathlib import Path


def onnx_addsub(path: Path, domain: str = "acme") -> Path:
    """a, b -> (sum, diff) through one AddSub node of `domain`, inside an If branch too (so
    subgraphs are read), beside built-in nodes."""
    import onnx
    from onnx import TensorProto, helper

    def addsub(suffix: str):
        return helper.make_node("AddSub", ["a", "b"], [f"sum{suffix}", f"diff{suffix}"],
                                domain=domain, alpha=0.5)

    branch = helper.make_graph(
        [addsub("_b"), helper.make_node("Identity", ["sum_b"], ["out_b"])], "branch", [],
        [helper.make_tensor_value_info("out_b", TensorProto.FLOAT, None)])
    graph = helper.make_graph(
        [addsub(""), helper.make_node("Relu", ["sum"], ["relu"]),
         helper.make_node("Constant", [], ["cond"], value=helper.make_tensor(
             "c", TensorProto.BOOL, [], [True])),
         helper.make_node("If", ["cond"], ["branch_out"], then_branch=branch,
                          else_branch=branch)],
        "addsub", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None])
                   for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
         for n in ("relu", "diff", "branch_out")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid(domain, 1)])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def torchscript_addsub(path: Path, library: str) -> Path:
    import torch

    torch.ops.load_library(library)

    class AddSubModel(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor):
            total, diff = torch.ops.acme.AddSub(a, b, alpha=0.5)
            return torch.relu(total), diff

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(AddSubModel()).save(str(path))
    return path


def torchscript_boom(path: Path, library: str) -> Path:
    """x -> y through tests/data/crashy's Boom, which aborts the process on 13."""
    import torch

    torch.ops.load_library(library)

    class BoomModel(torch.nn.Module):
        def forward(self, x: torch.Tensor):
            return torch.ops.crashy.Boom(x)

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(BoomModel()).save(str(path))
    return path


def exported_addsub(path: Path, library: str) -> Path:
    """A torch.export.save archive (.pt2, no AOTInductor models): not a torch_aoti model."""
    import torch

    torch.ops.load_library(library)

    class AddSubModel(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor):
            return torch.ops.acme.AddSub(a, b, alpha=0.5)

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(torch.export.export(AddSubModel(), (torch.ones(3), torch.ones(3))),
                      str(path))
    return path


def savedmodel_addsub(path: Path, library: str) -> Path:
    import tensorflow as tf

    ops = tf.load_op_library(library)

    class AddSubModel(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32),
                                      tf.TensorSpec([None], tf.float32)])
        def serve(self, a, b):
            total, diff = ops.acme_add_sub(a=a, b=b, alpha=0.5)
            return {"relu": tf.nn.relu(total), "diff": diff}

    model = AddSubModel()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})
    return path


if __name__ == "__main__":
    kind, out, *rest = sys.argv[1:]
    makers = {"torchscript": torchscript_addsub, "savedmodel": savedmodel_addsub,
              "torchscript-boom": torchscript_boom, "exported": exported_addsub}
    makers[kind](Path(out), *rest)
