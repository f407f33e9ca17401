"""What the TensorRT glue template (glue.cc.j2 beside this file) needs beyond the common op
context: the type combinations a plugin supports, each output's type rule, and each
attribute's plugin field."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opforge.build.literals import cpp_int, cpp_string
from opforge.frameworks.base import cpp_namespace_of
from opforge.frameworks.tensorrt.types import DATA_TYPES, PLUGIN_FIELDS

if TYPE_CHECKING:
    from opforge.recipe import LoadedRecipe, Op

# None for a dtype TensorRT has no tensors of
FILTERS = {"trt_data_type": DATA_TYPES.get}

# Namespaces a recipe's ops cannot live in -> what each is (reserved_namespace_problem)
RESERVED_NAMESPACES = {"nvinfer1": cpp_namespace_of("TensorRT")}

def attr_default(attr_type: str, value) -> str:
    """An attribute default as the C++ initializer of the plugin's field."""
    if attr_type == "string":
        return cpp_string(value or "")
    if attr_type == "int[]":
        return "{" + ", ".join(cpp_int(v) for v in value or []) + "}"
    if attr_type == "float[]":
        return "{" + ", ".join(repr(float(v)) for v in value or []) + "}"
    if attr_type == "float":
        return repr(float(value or 0.0))
    if attr_type == "bool":
        return "1" if value else "0"
    return cpp_int(value or 0)


def bindings(op: Op) -> list[list[str]]:
    """Type-variable assignments TensorRT can carry, as DataType per input then output."""
    rows = []
    for b in op.type_bindings():
        dtypes = [b.get(t.dtype, t.dtype) for t in (*op.inputs, *op.outputs)]
        if all(d in DATA_TYPES for d in dtypes):
            rows.append([DATA_TYPES[d] for d in dtypes])
    return rows


def op_context(recipe: LoadedRecipe, op: Op, context: dict) -> dict:
    index = {t.name: i for i, t in enumerate(op.inputs)}

    def output(t: dict) -> dict:
        same_var = [i.name for i in op.inputs if t["var"] and i.dtype == t["var"]]
        return {**t, "trt_source_input": index[same_var[0]] if same_var else -1,
                "trt_dtype": DATA_TYPES.get(t["dtype"], "")}

    return {**context, "trt_bindings": bindings(op),
            "outputs": [output(t) for t in context["outputs"]],
            "attrs": [{**a, "trt_default": attr_default(attr.type, attr.default),
                       "trt_field_type": PLUGIN_FIELDS[attr.type][0],
                       "trt_field_doc": PLUGIN_FIELDS[attr.type][1]}
                      for attr, a in zip(op.attrs, context["attrs"])]}
