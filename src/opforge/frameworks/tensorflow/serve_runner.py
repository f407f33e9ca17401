"""Runs a TensorFlow SavedModel or GraphDef for `opforge serve`'s Python-backend wrapper
(deploy/serve_model.py).

Copied beside the wrapper into the generated model repository and loaded by path inside
Triton's stub, where opforge is not importable: standard library and TensorFlow only. The
op libraries are loaded first, so the graph's ops resolve."""

from __future__ import annotations

from pathlib import Path


class Runner:
    def __init__(self, spec: dict, config: dict) -> None:
        import tensorflow as tf

        self.tf = tf
        for library in spec["libraries"]:
            tf.load_op_library(library)
        path = Path(spec["model_file"])
        inputs = [i["name"] for i in config["input"]]
        outputs = [o["name"] for o in config["output"]]
        if path.is_dir():  # SavedModel: config names are the signature's keys
            loaded = tf.saved_model.load(str(path))
            self.keep = loaded
            self.fn = loaded.signatures["serving_default"]
            self.by_name = True
        else:  # GraphDef: config names are tensor names
            graph_def = tf.compat.v1.GraphDef()
            graph_def.ParseFromString(path.read_bytes())
            wrapped = tf.compat.v1.wrap_function(
                lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
            graph = wrapped.graph
            self.fn = wrapped.prune([graph.get_tensor_by_name(f"{n}:0") for n in inputs],
                                    [graph.get_tensor_by_name(f"{n}:0") for n in outputs])
            self.by_name = False
        self.inputs, self.outputs = inputs, outputs

    def run(self, inputs: dict) -> dict:
        """Triton tensors by input name -> DLPack capsules by output name (the wrapper
        hands them to Triton as they are)."""
        tf = self.tf
        # an optional input a request left out is None: not fed (a SavedModel signature
        # without it runs; a GraphDef's pruned function takes every input it was cut with)
        feeds = {n: tf.experimental.dlpack.from_dlpack(inputs[n].to_dlpack())
                 for n in self.inputs if inputs[n] is not None}
        if not self.by_name and len(feeds) < len(self.inputs):
            absent = [n for n in self.inputs if n not in feeds]
            raise ValueError(f"input {absent[0]} is absent, but a GraphDef model takes every "
                             f"input of its config; serve it as a SavedModel")
        if self.by_name:
            result = dict(self.fn(**feeds))
        else:
            result = dict(zip(self.outputs, self.fn(*(feeds[n] for n in self.inputs))))
        return {n: tf.experimental.dlpack.to_dlpack(t) for n, t in result.items()}
