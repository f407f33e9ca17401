"""The Python-backend model `opforge serve` puts in front of each model when it runs the
tritonserver bundled in the nvidia-pytriton wheel (Python backend only).

Copied as `model.py` into every version folder of the generated repository, beside
`opforge-serve.json` (framework, the config's platform, model file, op libraries) and `opforge_runner.py`, the
runner of the model's framework (the adapter's `serve_runner`, a file of its
frameworks/<name>/ folder, copied as is). It loads that runner by path and runs the user's
model through it with the op libraries loaded, in the stub process Triton starts for each
model instance, so op libraries of different models never share a process.

Standard library, numpy and `triton_python_backend_utils` only (the runner brings the
framework): it runs inside Triton's stub, where opforge itself is not imported. Tensors move
through DLPack both ways (with numpy 2 the stub's numpy path silently corrupts them), except
numpy outputs under numpy 1, whose DLPack capsules crash the 2.51 stub (see `_to_triton`).

A runner file defines `Runner(spec, config)` with `run(inputs) -> outputs`: Triton tensors
by input name in; numpy arrays, DLPack-capable tensors or DLPack capsules by output name out.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import triton_python_backend_utils as pb_utils

SPEC = "opforge-serve.json"
RUNNER = "opforge_runner.py"  # the runner of the model's framework, copied beside this file


def _load_runner(path: Path):
    """The `Runner` class of a runner file, imported by path (opforge is not importable)."""
    spec = importlib.util.spec_from_file_location("opforge_serve_runner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Runner


def _to_triton(name: str, value):
    """An output as a Triton tensor: through DLPack (a tensor with __dlpack__, a capsule, a
    numpy 2 array), except numpy 1 arrays and object arrays."""
    import numpy as np

    # numpy 1's DLPack capsules crash the 2.51 stub (measured); its numpy path is sound with
    # numpy 1 and corrupts tensors with numpy 2, whose capsules it takes.
    if isinstance(value, np.ndarray) and (value.dtype == object or
                                          int(np.__version__.split(".")[0]) < 2):
        return pb_utils.Tensor(name, value)
    return pb_utils.Tensor.from_dlpack(name, value)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        spec_path = Path(args["model_repository"]) / args["model_version"] / SPEC
        self.spec = json.loads(spec_path.read_text("utf-8"))
        config = json.loads(args["model_config"])
        self.name = config["name"]
        self.input_names = [i["name"] for i in config["input"]]
        self.output_names = [o["name"] for o in config["output"]]
        self.runner = _load_runner(spec_path.with_name(RUNNER))(self.spec, config)

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
