"""Runs an ONNX model in ONNX Runtime for `opforge serve`'s Python-backend wrapper
(deploy/serve_model.py).

Copied beside the wrapper into the generated model repository and loaded by path inside
Triton's stub, where opforge is not importable: standard library, numpy and ONNX Runtime
only. The op libraries are registered with the session's options."""

from __future__ import annotations


class Runner:
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
        """Triton tensors by input name -> numpy arrays by output name."""
        np = self.np
        feeds = {n: np.from_dlpack(t) for n, t in inputs.items() if t is not None}
        values = self.session.run(self.outputs, feeds)
        return {n: np.array(v, copy=True) for n, v in zip(self.outputs, values)}
