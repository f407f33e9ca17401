"""ONNX Runtime's part of the runtime loader (opforge.artifacts.runtime is the core).

Appended verbatim to the core in the opforge_runtime.py that ships with every artifact, so:
stdlib only at module level (onnxruntime is imported inside the functions), no
`from __future__`, no opforge imports, names unique across the frameworks' loader files.
Inside opforge the adapter hands register_onnxruntime to the core instead
(opforge.artifacts.loader).
"""


def running_onnxruntime() -> dict:
    import onnxruntime

    return {"version": onnxruntime.__version__}  # C API only: no C++ ABI to match


def load_onnxruntime(library: str, session_options=None):
    """Register the library into SessionOptions (a new one unless given) and return it."""
    import onnxruntime

    options = session_options if session_options is not None else onnxruntime.SessionOptions()
    options.register_custom_ops_library(library)
    return options


def register_onnxruntime(register) -> None:
    register("onnxruntime", running_onnxruntime, load_onnxruntime)


if "register" in globals():  # appended to the core: the shipped opforge_runtime.py
    register_onnxruntime(register)  # noqa: F821 (the core's)
