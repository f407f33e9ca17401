"""`opforge describe`: the kernel API of a recipe's ops, as a kernel author needs it: each op's
Args struct, the kernel functions to define per device, the dtypes of its type variables,
its shapes and constraints.

Everything comes from the codegen context ops.h is generated from (codegen.op_context), and
the struct is ops.h's own text for the op (the same template, rendered for that op alone), so
what this prints is what the kernel compiles against.
"""

from __future__ import annotations

from opforge.build import codegen
from opforge.build.literals import RecipeText
from opforge.recipe import LoadedRecipe

HEADER = "opforge/ops.h"


def declaration(recipe: LoadedRecipe, context: dict) -> str:
    """ops.h's declarations of one op (its Args struct and kernel functions), inside the
    recipe's namespace."""
    text = codegen.environment().get_template("common/ops.h.j2").render(
        recipe_name=RecipeText(recipe.path.name),
        package={"name": recipe.package.name, "version": recipe.package.version},
        ns=recipe.package.namespace, ops=[context])
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("namespace "))
    return "\n".join(lines[start:]).strip() + "\n"


def describe(recipe: LoadedRecipe) -> dict:
    """The kernel API of every kernel op, as data (`opforge describe --json`)."""
    targeted = list(recipe.model.target.devices)
    ns = recipe.package.namespace
    ops = []
    for op in recipe.ops:
        # every kernel the op declares (a build makes those of its devices)
        ctx = codegen.op_context(op, ["cpu", "cuda"])
        ops.append({
            "name": op.name, "doc": op.doc, "args_struct": f"{ns}::{ctx['args_struct']}",
            "declaration": declaration(recipe, ctx),
            "inputs": [{"name": t["name"], "cpp_type": t["cpp_type"], "dtype": t["dtype"],
                        "dtypes": t["dtypes"], "rank": t["rank"],
                        "shape": str(t["shape"]["text"]) if t["shape"] else None}
                       for t in ctx["inputs"]],
            "outputs": [{"name": t["name"], "cpp_type": t["cpp_type"], "dtype": t["dtype"],
                         "dtypes": t["dtypes"], "shape": t["rule_text"]}
                        for t in ctx["outputs"]],
            "dynamic_dims": [{"name": d["name"], "cpp_type": "opforge::DynamicDim",
                              "max": str(d["max_text"]),
                              "outputs": [ctx["outputs"][i]["name"] for i in d["outputs"]]}
                             for d in ctx["dynamic_dims"]],
            "scratch": [{"name": t["name"], "cpp_type": t["cpp_type"], "dtype": t["dtype"],
                         "dtypes": t["dtypes"], "shape": t["rule_text"]}
                        for t in ctx["scratch"]],
            "attrs": [{"name": a["name"], "type": a["type"], "cpp_type": a["cpp_type"],
                       "default": attr.default}
                      for a, attr in zip(ctx["attrs"], op.attrs)],
            "types": {var: list(options) for var, options in ctx["types"].items()},
            "constraints": [str(c["text"]) for c in ctx["constraints"]],
            "kernels": [{"device": k["device"], "function": f"{ns}::{k['function']}",
                         "signature": k["signature"], "source": str(k["source"]),
                         "built": k["device"] in targeted}
                        for k in ctx["kernels"]]})
    return {"recipe": str(recipe.path), "namespace": ns, "header": HEADER, "ops": ops}


def text(data: dict) -> list[str]:
    """`opforge describe`'s lines for people."""
    out: list[str] = []
    for op in data["ops"]:
        out.append(f"{op['name']}: {op['args_struct']} (#include <{data['header']}>)")
        out += [f"  {line}" if line else "" for line in op["declaration"].splitlines()]
        out.append("  kernels to define:")
        out += [f"    {k['device']:<5} {k['function']} in {k['source']}"
                + ("" if k["built"] else "  (not built: target.devices leaves it out)")
                for k in op["kernels"]]
        if len(op["kernels"]) == 1:
            only = op["kernels"][0]["device"]
            out.append(f"    (no {'cpu' if only == 'cuda' else 'cuda'} kernel: the op runs on "
                       f"{only} only; tests elsewhere are skipped)")
        if op["types"]:
            out.append("  type variables (the tensor's dtype field says which one it is):")
            out += [f"    {var}: {', '.join(options)}" for var, options in op["types"].items()]
        out.append("  shapes (checked or allocated by the glue before the kernel runs):")
        for t in op["inputs"]:
            shape = t["shape"] or (f"rank {t['rank']}" if t["rank"] is not None else "any")
            out.append(f"    input {t['name']}: {shape}")
        out += [f"    output {t['name']}: {t['shape']}" for t in op["outputs"]]
        out += [f"    scratch {t['name']}: {t['shape']} (uninitialised, freed after the call)"
                for t in op["scratch"]]
        if op["dynamic_dims"]:
            out.append("  data-dependent dims (outputs are allocated at the bound; the kernel "
                       "writes the real size to *args.<dim>.value, device memory for CUDA):")
            out += [f"    {d['name']} <= {d['max']}: first dim of {', '.join(d['outputs'])}"
                    for d in op["dynamic_dims"]]
        if op["constraints"]:
            out.append("  constraints (checked before the kernel runs):")
            out += [f"    {c}" for c in op["constraints"]]
        out.append("")
    return out
