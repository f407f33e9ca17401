"""ONNX Runtime: a custom-op library over the C API only (headers, nothing linked), loaded
by Triton's ONNX Runtime backend through model_operations { op_library_filename } or by
SessionOptions.register_custom_ops_library. It asks the running ORT for API version
min(compiled, running), so one build also serves newer ONNX Runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from opforge.toolchain.sdk import SdkLocation, SdkMissing, missing_message
from opforge.core.errors import ToolchainError
from opforge.frameworks.base import (CiSetup, CudaSupport, Toolchain, TritonserverImage,
                                     installed_distribution)
from opforge.frameworks.onnxruntime import ci, codegen, loader, repository, types, sdk


class OnnxRuntime(TritonserverImage):
    name = "onnxruntime"
    title = "ONNX Runtime"
    pin_key = "onnxruntime"
    distributions = ("onnxruntime", "onnxruntime-gpu")
    install_hint = "pip install 'opforge[onnxruntime]' (to run tests) and the C headers (see below)"
    backend_libraries = None  # the C API arrives as a table
    triton_loading = "model_operations { op_library_filename } in config.pbtxt (ONNX Runtime backend)"
    abi_sensitive = False  # only the C API crosses the library boundary
    exported_symbols = ("RegisterCustomOps",)
    compatibility = "at-least"
    requires_cuda = False
    untestable = ""

    def op_version_problem(self, op, version: str) -> str | None:
        """Scratch memory and data-dependent outputs come from KernelContext_GetAllocator,
        which C API 15 (ONNX Runtime 1.15) brought."""
        if not (op.scratch or op.dynamic_dims):
            return None
        try:
            older = Version(version).release[:2] < (1, 15)
        except InvalidVersion:
            return None  # a version opforge cannot read: the compiler will say
        if not older:
            return None
        uses = "scratch memory" if op.scratch else "a data-dependent output size"
        return (f"it uses {uses}, which the glue takes from KernelContext_GetAllocator, and "
                f"ONNX Runtime {version} lacks it (C API 15, ONNX Runtime 1.15); build for a "
                f"release whose ONNX Runtime is 1.15 or later, or with newer headers "
                f"(ONNXRUNTIME_ROOT)")
    def detect(self, release=None) -> Toolchain:
        runtime, whose = self._runtime(release)
        found = sdk.find(runtime, whose)
        if isinstance(found, SdkMissing):
            raise ToolchainError(missing_message(found, runtime or "VERSION"))
        return Toolchain("onnxruntime", found.version, str(found.root), [str(found.include_dir)],
                         [], [], 17, 1, {"api_version": found.api_version, "found_by": found.how})

    def _runtime(self, release) -> tuple[str | None, str]:
        """The ONNX Runtime the library will run in, and whose it is: the release's pin, or
        for release local the installed one (where the test vectors run)."""
        if release is None:
            return None, ""
        if release.is_local:
            dist = installed_distribution(self)
            return (dist.version, f"this environment ({dist.metadata['Name']})") if dist \
                else (None, "")
        pin = release.pin(self.pin_key)
        return (pin.value, f"release {release.id}") if pin.known else (None, "")

    def check_release(self, release) -> None:
        return None

    def cuda_support(self, toolchain: Toolchain) -> CudaSupport:
        return CudaSupport()  # the CUDA stream comes through the C API's kernel context

    def link_stub(self, toolchain: Toolchain) -> dict | None:
        return None

    def op_identity(self, recipe, op, native: bool = False) -> str:
        return repository.op_identity(recipe.package.namespace, op.name)

    def call_op(self, handle: Any, recipe: dict, op: dict, inputs: dict, attrs: dict,
                device: str = "cpu") -> dict:
        import onnxruntime as ort
        from onnx import helper

        from opforge.recipe.dtypes import numpy_dtype

        import numpy as np

        def elem(dtype) -> int:
            return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

        def output_dtype(out: dict):
            if out["dtype"] in op["types"]:  # the dtype its type variable has on an input
                source = next(i for i in op["inputs"]
                              if i["dtype"] == out["dtype"] and i["name"] in inputs)
                return inputs[source["name"]].dtype
            return numpy_dtype(out["dtype"])

        node_attrs = {k: (int(v) if isinstance(v, bool) else v) for k, v in attrs.items()}
        # an absent optional input is an empty name in the node, as ONNX writes one
        given = [i for i in op["inputs"] if i["name"] in inputs]
        node = helper.make_node(op["name"], [i["name"] if i in given else ""
                                             for i in op["inputs"]],
                                [o["name"] for o in op["outputs"]], domain=recipe["namespace"],
                                **node_attrs)
        graph = helper.make_graph(
            [node], f"opforge_{op['name']}",
            [helper.make_tensor_value_info(i["name"], elem(inputs[i["name"]].dtype), None)
             for i in given],
            [helper.make_tensor_value_info(o["name"], elem(output_dtype(o)), None)
             for o in op["outputs"]])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid(recipe["namespace"], 1)])
        # ONNX IR 9 (ONNX Runtime 1.16) brought the FP8 types; 8 is what older runtimes read
        fp8 = any(np.dtype(output_dtype(o)).name.startswith("float8") for o in op["outputs"]) or \
            any(a.dtype.name.startswith("float8") for a in inputs.values())
        model.ir_version = 9 if fp8 else 8
        providers = (["CUDAExecutionProvider"] if device == "cuda" else []) + \
            ["CPUExecutionProvider"]
        session = ort.InferenceSession(model.SerializeToString(), handle, providers=providers)
        # through OrtValues on the CPU: ONNX Runtime's numpy conversions know no bfloat16
        # (and give FP8 as uint8), so those cross as bytes
        binding = session.io_binding()
        for i in given:
            binding.bind_ortvalue_input(i["name"], to_ort_value(inputs[i["name"]], elem))
        for o in op["outputs"]:
            binding.bind_output(o["name"], "cpu")
        session.run_with_iobinding(binding)
        return {o["name"]: from_ort_value(v, helper)
                for o, v in zip(op["outputs"], binding.get_outputs())}

    # --- CI image and setup (ci) ---
    def ci_setup(self, release, device: str) -> CiSetup:
        return ci.setup(release, device)

    # --- artifacts (runtime loader, inventory, audit) ---
    framework_libraries = ()  # the C API arrives as a table: nothing to link
    required_entry_points = ("RegisterCustomOps",)
    optional_entry_point_advice = ("", "")  # its one entry point is required

    # --- SDKs (toolchain/sdk) ---
    def find_sdk(self, release=None) -> SdkLocation | SdkMissing:
        return sdk.find(*self._runtime(release))

    def sdk_at(self, root: Path, how: str) -> SdkLocation | None:
        return sdk.location(root, how)


def to_ort_value(array, elem):
    """A numpy array as a CPU OrtValue of its dtype (bfloat16 and FP8, which ONNX Runtime's
    numpy conversion does not know, by their bytes)."""
    import onnxruntime as ort

    if array.dtype.kind != "V":  # ml_dtypes' types are numpy's "void" kind
        return ort.OrtValue.ortvalue_from_numpy(array)
    raw = array.view(f"u{array.dtype.itemsize}")
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(raw, elem(array.dtype))


def from_ort_value(value, helper):
    """A CPU OrtValue as a numpy array of its element type (ml_dtypes' for bfloat16, FP8)."""
    import ctypes

    import numpy as np

    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(value.element_type()))
    if dtype.kind != "V":
        return value.numpy()
    shape = value.shape()
    data = ctypes.string_at(value.data_ptr(), int(np.prod(shape)) * dtype.itemsize)
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


ADAPTER = OnnxRuntime(ci=ci, codegen=codegen, loader=loader, repository=repository,
                      types=types)
