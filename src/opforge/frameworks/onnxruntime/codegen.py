"""What the ONNX Runtime glue template (glue.cc.j2 beside this file) needs beyond the common
op context: one registration per assignment of the type variables (ONNX Runtime merges
same-named ops into one schema), and each attribute's C++ fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opforge.build.literals import cpp_int, cpp_string
from opforge.frameworks.base import cpp_namespace_of
from opforge.frameworks.onnxruntime.types import ELEMENT_TYPES

if TYPE_CHECKING:
    from opforge.recipe import LoadedRecipe, Op

FILTERS = {"ort_element_type": ELEMENT_TYPES.__getitem__}

# Namespaces a recipe's ops cannot live in -> what each is (reserved_namespace_problem)
RESERVED_NAMESPACES = {"onnxruntime": cpp_namespace_of("ONNX Runtime")}

def attr_default(attr_type: str, value) -> str:
    """An attribute default as the C++ fallback the glue passes."""
    if attr_type == "string":
        return "nullptr" if value is None else cpp_string(value)
    if attr_type == "float":
        return f"{float(value or 0.0)!r}f"
    if attr_type == "bool":
        return "1" if value else "0"
    if attr_type == "int[]":
        return "std::vector<int64_t>{" + ", ".join(cpp_int(v) for v in value or []) + "}"
    if attr_type == "float[]":
        return "std::vector<float>{" + ", ".join(f"{float(v)!r}f" for v in value or []) + "}"
    return cpp_int(value or 0)


def op_context(recipe: LoadedRecipe, op: Op, context: dict) -> dict:
    bindings = [{"inputs": [ELEMENT_TYPES[b.get(t.dtype, t.dtype)] for t in op.inputs],
                 "outputs": [ELEMENT_TYPES[b.get(t.dtype, t.dtype)] for t in op.outputs]}
                for b in op.type_bindings()]
    return {**context, "ort_bindings": bindings,
            "attrs": [{**a, "ort_default": attr_default(attr.type, attr.default)}
                      for attr, a in zip(op.attrs, context["attrs"])]}
