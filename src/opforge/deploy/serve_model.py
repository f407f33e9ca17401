"""The Python-backend model `opforge serve` puts in front of each model when it runs the
tritonserver bundled in the nvidia-pytriton wheel (Python backend only).

Copied as `model.py` into every version folder of the generated repository, beside
`opforge-serve.json` (framework, model file, op libraries). It runs the user's model in its
own framework with the op libraries loaded, in the stub process Triton starts for each model
instance, so op libraries of different models never share a process.

Standard library, the model's framework, numpy and `triton_python_backend_utils` only: it
runs inside Triton's stub, where opforge itself is not imported. Tensors move through
DLPack both ways (with numpy 2 the stub's numpy path silently corrupts them), except numpy
outputs under numpy 1, whose DLPack capsules crash the 2.51 stub (see `_to_triton`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import triton_python_backend_utils as pb_utils

SPEC = "opforge-serve.json"
_INDEXED = re.compile(r"__(\d+)$")  # Triton's INPUT__0 / OUTPUT__1 naming


def _ordered(names: list[str]) -> list[str]:
    """Names in positional order: by their __N suffix when all have one, else as given."""
    if names and all(_INDEXED.search(n) for n in names):
        return sorted(names, key=lambda n: int(_INDEXED.search(n).group(1)))
    return list(names)


class _Torch:
    def __init__(self, spec: dict, config: dict) -> None:
        import torch

        self.torch = torch
        for library in spec["libraries"]:
            torch.ops.load_library(library)
        self.module = torch.jit.load(spec["model_file"], map_location="cpu")
        self.module.eval()
        names = [i["name"] for i in config["input"]]
        if names and all(_INDEXED.search(n) for n in names):
            self.order = _ordered(names)
        else:  # by the forward method's argument names
            args = [a.name for a in self.module.forward.schema.arguments][1:]
            unknown = [n for n in names if n not in args]
            if unknown:
                raise ValueError(f"config inputs {unknown} are not arguments of the "
                                 f"TorchScript forward({', '.join(args)}); name them after "
                                 f"the arguments or INPUT__0, INPUT__1, ...")
            self.order = [a for a in args if a in names]
        self.outputs = _ordered([o["name"] for o in config["output"]])

    def run(self, inputs: dict) -> dict:
        torch = self.torch
        args = [None if inputs[n] is None else torch.from_dlpack(inputs[n]) for n in self.order]
        with torch.inference_mode():
            result = self.module(*args)
        if isinstance(result, dict):
            return {k: v.contiguous() for k, v in result.items()}
        if isinstance(result, torch.Tensor):
            result = (result,)
        return {name: t.contiguous() for name, t in zip(self.outputs, result)}


class _TensorFlow:
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
        tf = self.tf
        feeds = {n: tf.experimental.dlpack.from_dlpack(inputs[n].to_dlpack())
                 for n in self.inputs}
        if self.by_name:
            return dict(self.fn(**feeds))
        return dict(zip(self.outputs, self.fn(*(feeds[n] for n in self.inputs))))


class _OnnxRuntime:
    def __init__(self, spec: dict, config: dict) -> None:
        import numpy as np
        import onnxruntime as ort

        self.np = np
        options = ort.SessionOptions()
        for library in spec["libraries"]:
            options.register_custom_ops_library(library)
        self.session = ort.InferenceSession(spec["model_file"], options,
                                            providers=["CPUExecutionProvider"])
        self.outputs = [o["name"] for o in config["output"]]

    def run(self, inputs: dict) -> dict:
        np = self.np
        feeds = {n: np.from_dlpack(t) for n, t in inputs.items() if t is not None}
        values = self.session.run(self.outputs, feeds)
        return {n: np.array(v, copy=True) for n, v in zip(self.outputs, values)}


_RUNNERS = {"pytorch": _Torch, "tensorflow": _TensorFlow, "onnxruntime": _OnnxRuntime}


def _to_triton(name: str, value):
    import numpy as np

    if isinstance(value, np.ndarray):
        # numpy 1's DLPack capsules crash the 2.51 stub (measured); its numpy path is sound
        # with numpy 1 and corrupts tensors with numpy 2, whose capsules it takes.
        if value.dtype == object or int(np.__version__.split(".")[0]) < 2:
            return pb_utils.Tensor(name, value)
        return pb_utils.Tensor.from_dlpack(name, value)
    if hasattr(value, "__dlpack__"):  # torch
        return pb_utils.Tensor.from_dlpack(name, value)
    return pb_utils.Tensor.from_dlpack(name, __import__("tensorflow").experimental.dlpack
                                       .to_dlpack(value))


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        spec_path = Path(args["model_repository"]) / args["model_version"] / SPEC
        self.spec = json.loads(spec_path.read_text("utf-8"))
        config = json.loads(args["model_config"])
        self.name = config["name"]
        self.input_names = [i["name"] for i in config["input"]]
        self.output_names = [o["name"] for o in config["output"]]
        self.runner = _RUNNERS[self.spec["framework"]](self.spec, config)

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                inputs = {n: pb_utils.get_input_tensor_by_name(request, n)
                          for n in self.input_names}
                outputs = self.runner.run(inputs)
                missing = [n for n in self.output_names if n not in outputs]
                if missing:
                    raise ValueError(f"the {self.spec['framework']} model returned "
                                     f"{sorted(outputs)}, not the configured outputs {missing}")
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[_to_triton(n, outputs[n]) for n in self.output_names]))
            except Exception as exc:  # the model's or op's error goes back to the client
                # first and last line: TorchScript puts the op's own message at the end
                lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [""]
                message = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                    f"{self.name} ({self.spec['framework']}): {type(exc).__name__}: {message}",
                    pb_utils.TritonError.INVALID_ARG)))
        return responses

    def finalize(self) -> None:
        self.runner = None
