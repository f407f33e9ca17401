"""TensorFlow models in a Triton model repository: SavedModels and GraphDefs served by
Triton's TensorFlow backend (releases up to 25.02), read for the ops TensorFlow itself does
not register; op libraries are loaded through model_operations in each model's
config.pbtxt."""

from __future__ import annotations

import os
from pathlib import Path

BACKEND = "tensorflow"
PLATFORMS = ("tensorflow_savedmodel", "tensorflow_graphdef")  # older configs' names
MODEL_FILES = ("model.savedmodel", "model.graphdef")  # what Triton looks for, in this order
OP_LOADING = "model_operations"
OP_KIND = "TensorFlow ops"


def model_ops(path: Path) -> dict[str, str]:
    """Op name -> where it is used, for every op of a SavedModel or GraphDef that
    TensorFlow itself does not register (ImportError without TensorFlow)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    if path.is_dir():
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
        graphs = [mg.graph_def for mg in saved.meta_graphs]
    else:
        graph = graph_pb2.GraphDef()
        graph.ParseFromString(path.read_bytes())
        graphs = [graph]
    names = set()
    for graph in graphs:
        names |= {n.op for n in graph.node}
        for fn in graph.library.function:
            names |= {n.op for n in fn.node_def}
    functions = {fn.signature.name for g in graphs for fn in g.library.function}
    return {op: f"{path.name}: op {op}" for op in sorted(names - functions)
            if op_def_registry.get(op) is None}
