"""What the PyTorch glue template (glue.cc.j2 beside this file) needs beyond the common op
context: the op's schema, its C++ return type, its attributes as schema arguments, and
whether it gets a Meta kernel (what torch.compile and torch.export trace it with)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opforge.build.literals import RecipeText, attr_literal
from opforge.frameworks.base import cpp_namespace_of
from opforge.frameworks.pytorch.types import ATTR_TYPES, SCALAR_TYPES, STABLE_ATTR_TYPES

if TYPE_CHECKING:
    from opforge.recipe import LoadedRecipe, Op

FILTERS = {"torch_scalar": SCALAR_TYPES.__getitem__}

# Namespaces a recipe's ops cannot live in -> what each is (reserved_namespace_problem)
_OWN_OPS = ("a namespace of PyTorch's own operators: ops there would sit beside PyTorch's and "
            "could collide with those of a later release")
RESERVED_NAMESPACES: dict[str, str] = {
    # c10/core/interned_strings.h (FORALL_NS_SYMBOLS); torch.library refuses "prim"
    **dict.fromkeys(("aten", "prim", "prims", "nvprims", "cuda", "onnx", "attr", "scope",
                     "user", "namespaces"), _OWN_OPS),
    # the op libraries torch 2.13 registers itself (torch._C._dispatch_get_all_op_names())
    **dict.fromkeys(("c10d", "debugprims", "debug_mode_ops", "export", "inductor",
                     "inductor_prims", "mkl", "mkldnn", "mkldnn_prepacked", "onednn",
                     "profiler", "quantization", "quantized", "rngprims", "sparse",
                     "static_runtime", "symm_mem"), _OWN_OPS),
    **dict.fromkeys(("torch", "at", "c10", "caffe2"), cpp_namespace_of("PyTorch")),
}


# Output shape rules a Meta kernel computes from the inputs' sizes, symbolic or not (glue.cc.j2,
# SymShapeMath). An output whose size depends on the values of the data has no such rule: its
# Meta kernel needs an unbacked SymInt bounded by the recipe's upper bound, which C++ cannot
# make (only Python's fake-kernel context can: torch.library.get_ctx().new_dynamic_size).
# An op with such an output gets no Meta kernel (meta_problem says why; tracing it then fails
# with PyTorch's "no fake impl" error) until a Python fake kernel is generated for it.
META_RULES = ("like", "broadcast", "expr")


def meta_problem(context: dict) -> str | None:
    """Why the op gets no Meta kernel, or None: it gets one."""
    for t in context["outputs"]:
        if t["dynamic"]:
            return (f"output {t['name']}'s first dim, {t['dynamic']}, is data-dependent "
                    f"(dynamic_dims); a Meta kernel needs an unbacked size bounded by its max "
                    f"for it, which only a Python fake kernel can make")
        if t["rule"]["kind"] not in META_RULES:
            return (f"output {t['name']}'s size is not computed from the inputs' sizes (shape "
                    f"rule {t['rule']['kind']}); a Meta kernel needs an unbacked size for it")
    return None


def op_context(recipe: LoadedRecipe, op: Op, context: dict) -> dict:
    attrs = []
    for attr, a in zip(op.attrs, context["attrs"]):
        schema_type, cpp_type = ATTR_TYPES[attr.type]
        arg = f"{schema_type} {attr.name}"
        if attr.default is not None:
            arg += "=" + attr_literal(attr.type, attr.default, ("False", "True"))
        attrs.append({**a, "torch_cpp_type": cpp_type, "torch_arg": arg,
                      "stable_cpp_type": STABLE_ATTR_TYPES[attr.type]})
    outputs = context["outputs"]
    # Attributes are keyword-only in torch (as they are attrs in TensorFlow): the schema
    # then allows a required attribute after one with a default.
    # An optional input is `Tensor? name=None`: positional, after the required ones.
    params = [f"Tensor? {t['name']}=None" if t["optional"] else f"Tensor {t['name']}"
              for t in context["inputs"]] + (["*"] if attrs else []) + \
        [a["torch_arg"] for a in attrs]
    if len(outputs) == 1:
        returns, cpp_return = "Tensor", "at::Tensor"
    else:
        returns = "(" + ", ".join(f"Tensor {t['name']}" for t in outputs) + ")"
        cpp_return = "std::tuple<" + ", ".join("at::Tensor" for _ in outputs) + ">"
    return {**context, "attrs": attrs,
            "torch_name": f"{recipe.package.namespace}::{op.name}",
            "torch_schema": RecipeText(f"{op.name}({', '.join(params)}) -> {returns}"),
            "torch_return": cpp_return, "meta_problem": meta_problem(context),
            "input_index": {t["name"]: i for i, t in enumerate(context["inputs"])}}
