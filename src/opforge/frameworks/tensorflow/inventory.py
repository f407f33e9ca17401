"""TensorFlow's op inventory taker: runs in the inventory's child process
(opforge.artifacts.inventory), which imports it by the adapter's `inventory_taker`."""

from __future__ import annotations


def take(library: str, declared: list[str]) -> tuple[list[dict], list[dict]]:
    """The OpList that loading the library gives; a declared op TensorFlow's registry already
    has is a clash. Raises when TensorFlow refuses the library."""
    __import__("tensorflow")  # initializes the op registry
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session as py_tf
    from tensorflow.python.framework import op_def_registry

    # TensorFlow drops an op whose name it already has, silently: look before loading
    builtin = [{"identity": name, "with": f"TensorFlow's own op {name}"}
               for name in declared if op_def_registry.get(name) is not None]
    handle = py_tf.TF_LoadLibrary(library)  # what tf.load_op_library does first
    op_list = op_def_pb2.OpList()
    op_list.ParseFromString(py_tf.TF_GetOpList(handle))
    ops = [{"identity": op.name, "name": op.name,
            "inputs": [a.name for a in op.input_arg], "outputs": [a.name for a in op.output_arg],
            "attrs": [a.name for a in op.attr]} for op in op_list.op]
    return ops, builtin
