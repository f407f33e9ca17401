"""Runs an ONNX model in ONNX Runtime for `opforge serve`'s Python-backend wrapper
(deploy/serve_model.py).

Copied beside the wrapper into the generated model repository and loaded by path inside
Triton's stub, where opforge is not importable: standard library, numpy and ONNX Runtime
only. The op libraries are registered with the session's options.

Tensors go through numpy, except BF16 ones (numpy has no bfloat16: the stub refuses
`as_numpy` for them, and ONNX Runtime takes no ml_dtypes array): those go through DLPack,
the Triton tensor into `OrtValue.from_dlpack`, the result out as its DLPack capsule."""

from __future__ import annotations

BF16 = "TYPE_BF16"


class Runner:
    def __init__(self, spec: dict, config: dict) -> None:
        import numpy as np
        import onnxruntime as ort

        self.np, self.ort = np, ort
        options = ort.SessionOptions()
        for library in spec["libraries"]:
            options.register_custom_ops_library(library)
        self.session = ort.InferenceSession(spec["model_file"], options,
                                            providers=["CPUExecutionProvider"])
        self.outputs = [o["name"] for o in config["output"]]
        self.bf16 = {t["name"] for t in config["input"] + config["output"]
                     if t.get("data_type") == BF16}
        if self.bf16 and not (hasattr(ort.OrtValue, "from_dlpack") and
                              hasattr(ort.OrtValue, "__dlpack__")):
            raise RuntimeError(
                f"onnxruntime {ort.__version__} cannot carry the BF16 tensors "
                f"{sorted(self.bf16)}: numpy has no bfloat16, and this onnxruntime has no "
                f"OrtValue.from_dlpack / __dlpack__ to take them as DLPack; install a newer "
                f"onnxruntime in the environment opforge serve runs in")

    def _feed(self, name: str, tensor):
        if name in self.bf16:
            return self.ort.OrtValue.from_dlpack(tensor.to_dlpack())
        return self.ort.OrtValue.ortvalue_from_numpy(self.np.from_dlpack(tensor))

    def run(self, inputs: dict) -> dict:
        """Triton tensors by input name -> numpy arrays (BF16: DLPack capsules) by output
        name."""
        feeds = {n: self._feed(n, t) for n, t in inputs.items() if t is not None}
        values = self.session.run_with_ort_values(self.outputs, feeds)
        return {n: v.__dlpack__() if n in self.bf16 else self.np.array(v.numpy(), copy=True)
                for n, v in zip(self.outputs, values)}
