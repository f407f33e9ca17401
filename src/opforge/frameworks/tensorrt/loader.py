"""TensorRT's part of the runtime loader (opforge.artifacts.runtime is the core).

Appended verbatim to the core in the opforge_runtime.py that ships with every artifact, so:
stdlib only at module level (tensorrt is imported inside the functions), no `from __future__`,
no opforge imports, names unique across the frameworks' loader files. Inside opforge the
adapter hands register_tensorrt to the core instead (opforge.artifacts.loader).
"""


def running_tensorrt() -> dict:
    import tensorrt

    return {"version": tensorrt.__version__}  # interfaces are abstract classes: no C++ ABI


def load_tensorrt(library: str):
    """Load through the plugin registry (which calls the library's getCreators); returns the
    registry, whose creators now include the library's plugins, or None when the registry
    refuses the library (the core raises LoadRefused with the message registered below)."""
    import tensorrt

    registry = tensorrt.get_plugin_registry()
    if registry.load_library(library) is None:
        return None
    return registry


def register_tensorrt(register) -> None:
    register("tensorrt", running_tensorrt, load_tensorrt,
             refused="TensorRT's plugin registry refused {library}; see TensorRT's log")


if "register" in globals():  # appended to the core: the shipped opforge_runtime.py
    register_tensorrt(register)  # noqa: F821 (the core's)
