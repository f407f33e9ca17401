"""TensorFlow's part of the runtime loader (opforge.artifacts.runtime is the core).

Appended verbatim to the core in the opforge_runtime.py that ships with every artifact, so:
stdlib only at module level (tensorflow is imported inside the functions), no
`from __future__`, no opforge imports, names unique across the frameworks' loader files.
Inside opforge the adapter hands register_tensorflow to the core instead
(opforge.artifacts.loader).
"""


def running_tensorflow() -> dict:
    import tensorflow as tf

    return {"version": tf.__version__, "cxx11_abi": int(tf.sysconfig.CXX11_ABI_FLAG)}


def load_tensorflow(library: str):
    import tensorflow as tf

    return tf.load_op_library(library)


def register_tensorflow(register) -> None:
    register("tensorflow", running_tensorflow, load_tensorflow)


if "register" in globals():  # appended to the core: the shipped opforge_runtime.py
    register_tensorflow(register)  # noqa: F821 (the core's)
