"""Generate each framework's CMake project and glue from the recipe, with jinja2.

Layout of one release's generated tree (buildable with plain cmake):

    gen/include/opforge/{kernel.h, glue.h}   shipped headers, copied
    gen/include/opforge/{ops.h, shapes.h}    generated from the recipe (framework-neutral)
    gen/kernels/CMakeLists.txt               kernels -> static library, compiled once
    gen/<framework>/{CMakeLists.txt, glue.cc, init-cache.cmake}

Files are written only when their content changed, so a no-op build compiles nothing. Text
from the recipe (docs, string defaults, paths) reaches them only through the escaping
filters of opforge.build.literals (cpp_string, comment, cmake_path); the environment refuses
it otherwise.

Templates come from templates/ (common, include, new, wheel) and from each framework's
folder, under the framework's name: `pytorch/glue.cc.j2` is
src/opforge/frameworks/pytorch/glue.cc.j2. A framework's glue template gets the common op
context (the one ops.h is made from) as its adapter extends it (glue_op_context), and its
adapter's filters (glue_filters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePath

import jinja2

from opforge import __version__, frameworks
from opforge.recipe import dtypes, shapes
from opforge.toolchain.cuda import ArchPlan
from opforge.core.errors import UserError
from opforge.core.files import write_atomic
from opforge.core.settings import cache_dir
from opforge.build.literals import (RecipeText, attr_literal, cmake_list, cmake_path, comment,
                                    cpp_string)
from opforge.frameworks import Framework, Toolchain
from opforge.recipe import LoadedRecipe, Op

# tensor -> the C++ type a kernel's Args struct holds it in (kernel API): inputs read-only
KERNEL_INPUT_TYPE = "opforge::ConstTensorView"
KERNEL_OPTIONAL_INPUT_TYPE = "opforge::OptionalTensorView"  # has_value() false when absent
KERNEL_OUTPUT_TYPE = "opforge::TensorView"

# attribute type -> the C++ type a kernel's Args struct holds it in (kernel API)
KERNEL_ATTR_TYPES = {"int": "int64_t", "float": "double", "bool": "bool",
                     "string": "const char*", "int[]": "opforge::Span<int64_t>",
                     "float[]": "opforge::Span<double>"}


def template_root() -> Path:
    """templates/ inside an installed wheel, or the repository's templates/ when editable."""
    packaged = Path(__file__).parents[1] / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


def _refuse_raw(value):
    """The environment's finalize: recipe text and paths reach the output only escaped."""
    if isinstance(value, RecipeText | PurePath):
        raise TypeError(f"template bug: {str(value)[:60]!r} would reach generated code "
                        f"unescaped; pass it through cpp_string, comment or cmake_path")
    return value


@cache
def environment() -> jinja2.Environment:
    # compiled templates are cached (keyed by each template's source checksum): compiling
    # them is a fifth of a no-op build
    # (per opforge version: the environment's settings, such as finalize, are compiled in)
    cache = cache_dir() / "jinja" / __version__
    cache.mkdir(parents=True, exist_ok=True)
    adapters = frameworks.registry()
    # a framework's templates sit beside its adapter, in its folder
    folders = {name: jinja2.FileSystemLoader(str(fw.folder)) for name, fw in adapters.items()}
    loader = jinja2.ChoiceLoader([jinja2.PrefixLoader(folders),
                                  jinja2.FileSystemLoader(str(template_root()))])
    env = jinja2.Environment(loader=loader,
                             bytecode_cache=jinja2.FileSystemBytecodeCache(str(cache)),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             finalize=_refuse_raw)
    env.filters.update(cpp_string=cpp_string, comment=comment, cmake_path=cmake_path,
                       cmake_list=cmake_list)
    for fw in adapters.values():
        filters = fw.glue_filters()
        if clash := set(filters) & set(env.filters):
            raise TypeError(f"adapter bug: {fw.name}'s glue filters {sorted(clash)} are "
                            f"already defined; name them after the framework")
        env.filters.update(filters)
    return env


def write_if_changed(path: Path, content: str) -> bool:
    """Write atomically, and only when the content differs; True when written."""
    try:
        if path.read_text("utf-8") == content:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, content)
    return True


def _default_text(attr_type: str, value) -> str:
    """An attribute default as the kernel header's comments show it (C++ for strings)."""
    if value is None:
        return ""
    return cpp_string(value) if attr_type == "string" else attr_literal(attr_type, value)


def _rule_context(rule: shapes.ShapeRule, scope: shapes.Scope) -> dict:
    """A shape rule as templates see it: its kind, the inputs like/broadcast name (and their
    positions), and for an expression the C++ statements that push its dims onto `m`."""
    return {"kind": rule.kind, "args": list(rule.args),
            "input_indices": [scope.inputs.index(a) for a in rule.args],
            "statements": shapes.cpp_statements(rule, scope) if rule.kind == "expr" else [],
            "text": RecipeText(str(rule))}


def _constraint_context(text: str, scope: shapes.Scope, optional: set[str]) -> dict:
    """A constraint; `when`: the optional inputs it names, all of which must be given for it
    to apply (a constraint on an absent input holds)."""
    c = shapes.parse_constraint(text, scope)
    return {"text": RecipeText(str(c)), "left": shapes.cpp(c.left, scope),
            "relation": c.relation, "right": shapes.cpp(c.right, scope),
            "inputs": [scope.inputs.index(n) for n in c.inputs()],
            "when": [n for n in c.inputs() if n in optional]}


def op_context(op: Op, devices: list[str]) -> dict:
    """The op as every template sees it (ops.h, shapes.h; a framework's glue gets it as its
    adapter extends it)."""
    scope = op.shape_scope(dynamic=True)
    dynamic_names = [d.name for d in op.dynamic_dims]

    def tensor(t, is_output: bool) -> dict:
        var = t.dtype if t.dtype in op.types else None
        ctx = {"name": t.name, "dtype": t.dtype, "var": var, "dtypes": op.dtype_options(t.dtype),
               "cpp_type": KERNEL_OUTPUT_TYPE if is_output else KERNEL_INPUT_TYPE}
        if is_output:  # an output, or a scratch buffer
            rule = shapes.parse(t.shape, scope)
            ctx["rule_text"] = str(rule)
            ctx["rule"] = _rule_context(rule, scope)
            same_var = [i.name for i in op.inputs if var and i.dtype == var]
            ctx["source_input"] = same_var[0] if same_var else op.inputs[0].name
            # a concrete dtype's opforge::DType enumerator (a type variable's: source_input's)
            ctx["kernel_dtype"] = None if var else dtypes.FACTS[t.dtype].kernel
            # the C++ expression of its opforge::DType in the glue, once the inputs are viewed
            ctx["dtype_expr"] = (f"args.{ctx['source_input']}.dtype" if var
                                 else f"opforge::DType::{ctx['kernel_dtype']}")
            # the data-dependent dim that is its first dim, and that dim's index
            ctx["dynamic"] = rule.dynamic_dim()
            ctx["dynamic_index"] = (dynamic_names.index(ctx["dynamic"])
                                    if ctx["dynamic"] else None)
        else:
            ctx["optional"] = t.optional
            if t.optional:
                ctx["cpp_type"] = KERNEL_OPTIONAL_INPUT_TYPE
            ctx["rank"] = t.rank
            ctx["shape"] = _rule_context(shapes.parse(t.shape, scope), scope) if t.shape else None
        return ctx

    attrs = [{"name": a.name, "type": a.type, "cpp_type": KERNEL_ATTR_TYPES[a.type],
              "has_default": a.default is not None,
              "default_text": RecipeText(_default_text(a.type, a.default))}
             for a in op.attrs]
    inputs = [tensor(t, False) for t in op.inputs]
    outputs = [tensor(t, True) for t in op.outputs]
    scratch = [tensor(s, True) for s in op.scratch]
    dynamic_dims = []
    for d in op.dynamic_dims:
        bound = shapes.parse_dim(d.max, scope)
        dynamic_dims.append({"name": d.name, "max": shapes.cpp(bound, scope),
                             "max_text": RecipeText(shapes.bare(bound)),
                             "outputs": [i for i, o in enumerate(outputs)
                                         if o["dynamic"] == d.name]})
    optional = {t.name for t in op.inputs if t.optional}
    constraints = [_constraint_context(c, scope, optional) for c in op.constraints]
    groups: dict[str, list[str]] = {}
    for t in inputs:
        if t["var"]:
            groups.setdefault(t["var"], []).append(t["name"])
    kernel_devices = [d for d in devices if op.kernel(d)]
    args_struct = f"{op.name}Args"
    return {"name": op.name, "doc": RecipeText(op.doc), "types": op.types, "inputs": inputs,
            "outputs": outputs, "attrs": attrs, "type_groups": groups,
            "scratch": scratch, "dynamic_dims": dynamic_dims,
            "required_inputs": [t for t in inputs if not t["optional"]],
            "optional_inputs": [t for t in inputs if t["optional"]],
            "devices": kernel_devices, "args_struct": args_struct,
            # the function each device's kernel source defines, in the recipe's namespace
            "kernels": [{"device": d, "function": f"{op.name}_{d}",
                         "source": RecipeText(op.kernel(d)),
                         "signature": f"void {op.name}_{d}(opforge::Context& ctx, "
                                      f"const {args_struct}& args)"}
                        for d in kernel_devices],
            "shape_ints": list(scope.ints), "shape_lists": list(scope.lists),
            "checks_inputs": bool(constraints) or any(t["rank"] is not None or t["shape"]
                                                      for t in inputs),
            "constraints": constraints}


def check_build_folder(folder: Path) -> None:
    """CMake cannot configure a project in a folder whose path has `"` or `;` (its own
    compiler checks fail there), nor can ninja name files with control characters."""
    bad = sorted(set(re.findall(r'[";\x00-\x1f\x7f]', str(folder))))
    if bad:
        raise UserError(f"the build folder {str(folder)!r} has {' and '.join(map(repr, bad))} "
                        f"in its path, where CMake cannot configure a project; choose another "
                        f"with --build-dir (recipes and sources may stay where they are)")


@dataclass(frozen=True)
class Generated:
    root: Path
    kernels_dir: Path
    framework_dirs: dict[str, Path]
    written: list[Path]


def library_ident(recipe: LoadedRecipe) -> str:
    return recipe.package.name.replace("-", "_")


def library_target(recipe: LoadedRecipe, fw: Framework) -> str:
    return f"{library_ident(recipe)}_{fw.name}"


def generate(recipe: LoadedRecipe, frameworks: list[Framework],
             toolchains: dict[str, Toolchain], devices: list[str], root: Path,
             cuda: ArchPlan | None = None, ops: list[Op] | None = None) -> Generated:
    """Write the generated tree; `cuda` (the architectures) when devices include cuda; `ops`:
    the kernel ops to build (default: every op of the recipe; a build leaves out those
    without a kernel for any of its devices). Each toolchain links what it lists (a device's
    framework libraries included: the build adds them, frameworks.with_libraries)."""
    kernel_ops = recipe.ops if ops is None else ops
    check_build_folder(root.parent)
    env = environment()
    package = {"name": recipe.package.name, "version": recipe.package.version,
               "ident": library_ident(recipe)}
    ops = [op_context(op, devices) for op in kernel_ops]
    abis = {toolchains[fw.name].cxx11_abi for fw in frameworks if fw.abi_sensitive}
    base = {"recipe_name": RecipeText(recipe.path.name), "package": package,
            "kernel_dtypes": list(dtypes.FACTS.values()),
            "ns": recipe.package.namespace, "ops": ops,
            "uses_broadcast": any(o["rule"]["kind"] == "broadcast"
                                  for op in ops for o in op["outputs"]),
            "cxx11_abi": abis.pop() if len(abis) == 1 else 1,
            "cuda": {"cmake_archs": cuda.cmake} if cuda and "cuda" in devices else None,
            "devices_used": [d for d in devices if any(d in op["devices"] for op in ops)],
            "has_kernels": bool(ops),
            "kernel_sources": [recipe.source(op.kernel(d)) for d in devices
                               for op in kernel_ops if op.kernel(d)]}
    files: dict[Path, str] = {}
    include = root / "include" / "opforge"
    for name in ("kernel.h", "glue.h", "cuda.h", "cuda_glue.h"):
        files[include / name] = (template_root() / "include" / "opforge" / name).read_text("utf-8")
    if base["cuda"]:
        files[root / "kernels" / "opforge_cuda.cu"] = (
            template_root() / "common" / "opforge_cuda.cu").read_text("utf-8")
    files[include / "ops.h"] = env.get_template("common/ops.h.j2").render(base)
    files[include / "shapes.h"] = env.get_template("common/shapes.h.j2").render(base)
    files[root / "kernels" / "CMakeLists.txt"] = env.get_template(
        "common/kernels.CMakeLists.txt.j2").render(base)
    framework_dirs = {}
    for fw in frameworks:
        toolchain = toolchains[fw.name]
        stub = fw.link_stub(toolchain)
        natives = recipe.native_for(fw.name)
        ctx = {**base, "fw": fw, "toolchain": toolchain, "stub": stub,
               # the dtype switches of its glue: what this version of the framework has
               "kernel_dtypes": [d for d in base["kernel_dtypes"]
                                 if fw.dtype_problem(d.name, toolchain.version) is None],
               "library_target": library_target(recipe, fw),
               "cuda_toolkit": bool(base["cuda"]) or fw.requires_cuda,
               "native_sources": [recipe.source(s) for n in natives for s in n.sources],
               "native_include_dirs": [recipe.source(d) for n in natives
                                       for d in n.include_dirs]}
        out = root / fw.name
        framework_dirs[fw.name] = out
        if ops:
            glue_ops = [fw.glue_op_context(recipe, op, context)
                        for op, context in zip(kernel_ops, ops)]
            template = toolchain.extra.get("glue_template", fw.glue_template)
            files[out / "glue.cc"] = env.get_template(template).render(
                {**ctx, "ops": glue_ops})
        files[out / "CMakeLists.txt"] = env.get_template(
            "common/framework.CMakeLists.txt.j2").render(ctx)
        files[out / "init-cache.cmake"] = env.get_template(
            "common/init-cache.cmake.j2").render(ctx)
        if stub:
            files[out / f"{stub['name']}_stub.cc"] = (
                f"// generated by opforge - a link-time stub with the soname {stub['soname']}; "
                f"never shipped.\n" + stub["source"])
        files[out / "exports.map"] = version_script(fw.exported_symbols)
    written = [path for path, text in files.items() if write_if_changed(path, text)]
    return Generated(root, root / "kernels", framework_dirs, written)


def version_script(entry_points: tuple[str, ...]) -> str:
    """A linker version script exporting only the framework's entry points (none for
    frameworks that find ops through load-time registration: PyTorch, TensorFlow)."""
    exported = "".join(f"    {sym};\n" for sym in entry_points)
    return ("{\n" + (f"  global:\n{exported}" if exported else "") + "  local:\n    *;\n};\n")
