"""What the TensorFlow glue template (glue.cc.j2 beside this file) needs beyond the common
op context: the op's registered name, its Doc() text, its attrs and argument types."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from opforge.build.literals import RecipeText, attr_literal
from opforge.frameworks.base import cpp_namespace_of
from opforge.frameworks.tensorflow.types import ATTR_TYPES, attr_dtype, data_type

if TYPE_CHECKING:
    from opforge.recipe import LoadedRecipe, Op

FILTERS = {"tf_dtype": attr_dtype, "tf_data_type": data_type}

# Namespaces a recipe's ops cannot live in -> what each is (reserved_namespace_problem)
RESERVED_NAMESPACES = dict.fromkeys(("tensorflow", "tsl", "xla"), cpp_namespace_of("TensorFlow"))

# Op names are <Namespace>><Op>; of TensorFlow's own ops (2.21) only
# Namespace>TestStringOutput has a '>'.
RESERVED_PREFIXES = ("Namespace>",)


def tf_op_name(namespace: str, op: str) -> str:
    """The name an op registers under: <Namespace>><Op> (acme, AddSub -> Acme>AddSub)."""
    return "".join(p.capitalize() for p in namespace.split("_")) + ">" + op


def op_doc(text: str) -> str:
    """The doc as TensorFlow's Doc() should read it. TensorFlow takes the first line for the
    summary, and any later line that starts `name:` for the documentation of an argument
    called name (an error when the op has none); such lines get one leading space, which
    TensorFlow keeps in the description."""
    first, *rest = text.split("\n")
    argument_doc = re.compile(r"[A-Za-z][A-Za-z0-9_]*[ \t\v\f\r]*:")
    return "\n".join([first, *(" " + line if argument_doc.match(line) else line
                                for line in rest)])


def op_context(recipe: LoadedRecipe, op: Op, context: dict) -> dict:
    def tensor(t: dict) -> dict:
        # an optional input is a list of N_<name> (0 or 1) tensors: REGISTER_OP has no
        # optional inputs, and the attr's capital N cannot clash with a recipe's attrs
        count = {"tf_count": f"N_{t['name']}"} if t.get("optional") else {}
        return {**t, **count, "tf_type": t["dtype"] if t["var"] else attr_dtype(t["dtype"])}

    attrs = []
    for attr, a in zip(op.attrs, context["attrs"]):
        attr_type, cpp_type = ATTR_TYPES[attr.type]
        declared = f"{attr.name}: {attr_type}"
        if attr.default is not None:
            declared += " = " + attr_literal(attr.type, attr.default)
        attrs.append({**a, "tf_cpp_type": cpp_type, "tf_attr": RecipeText(declared)})
    return {**context, "attrs": attrs,
            "inputs": [tensor(t) for t in context["inputs"]],
            "required_inputs": [tensor(t) for t in context["required_inputs"]],
            "optional_inputs": [tensor(t) for t in context["optional_inputs"]],
            "outputs": [tensor(t) for t in context["outputs"]],
            "tf_doc": RecipeText(op_doc(op.doc or op.name)),
            "tf_name": tf_op_name(recipe.package.namespace, op.name)}
