"""Generate each framework's CMake project and glue from the recipe, with jinja2.

Layout of one release's generated tree (buildable with plain cmake):

    gen/include/opforge/{kernel.h, glue.h}   shipped headers, copied
    gen/include/opforge/{ops.h, shapes.h}    generated from the recipe (framework-neutral)
    gen/kernels/CMakeLists.txt               kernels -> static library, compiled once
    gen/<framework>/{CMakeLists.txt, glue.cc, init-cache.cmake}

Files are written only when their content changed, so a no-op build compiles nothing. Text
from the recipe (docs, string defaults, paths) reaches them only through the escaping
filters below (cpp_string, comment, cmake_path); the environment refuses it otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePath

import jinja2

from opforge import __version__
from opforge.recipe import shapes
from opforge.toolchain.cuda import ArchPlan
from opforge.core.errors import UserError
from opforge.core.files import write_atomic
from opforge.core.settings import cache_dir
from opforge.frameworks import Framework, Toolchain
from opforge.recipe import LoadedRecipe, Op

_TORCH_SCALAR = {"float16": "c10::ScalarType::Half", "float32": "c10::ScalarType::Float",
                 "float64": "c10::ScalarType::Double", "int32": "c10::ScalarType::Int",
                 "int64": "c10::ScalarType::Long"}
_ONNX_ELEM = {"float16": "FLOAT16", "float32": "FLOAT", "float64": "DOUBLE", "int32": "INT32",
              "int64": "INT64"}
_TRT_DTYPE = {"float16": "DataType::kHALF", "float32": "DataType::kFLOAT", "int32": "DataType::kINT32",
              "int64": "DataType::kINT64"}  # TensorRT has no float64 tensors
# attr type -> (plugin field type written, what a field may be, for error messages)
_TRT_FIELDS = {
    "int": ("PluginFieldType::kINT64", "one INT32 or INT64 value"),
    "float": ("PluginFieldType::kFLOAT64", "one FLOAT32 or FLOAT64 value"),
    "bool": ("PluginFieldType::kINT32", "one integer (0 or 1)"),
    "string": ("PluginFieldType::kCHAR", "CHAR data"),
    "int[]": ("PluginFieldType::kINT64", "INT32 or INT64 values"),
    "float[]": ("PluginFieldType::kFLOAT64", "FLOAT32 or FLOAT64 values"),
}
_TF_DTYPE = {"float16": "half", "float32": "float", "float64": "double", "int32": "int32",
             "int64": "int64"}

# attr type -> (kernel Args C++ type, torch schema type, torch C++ type, TF attr type, TF C++ type)
_ATTR_TYPES = {
    "int": ("int64_t", "int", "int64_t", "int", "int64_t"),
    "float": ("double", "float", "double", "float", "float"),
    "bool": ("bool", "bool", "bool", "bool", "bool"),
    "string": ("const char*", "str", "std::string", "string", "std::string"),
    "int[]": ("opforge::Span<int64_t>", "int[]", "c10::ArrayRef<int64_t>", "list(int)",
              "std::vector<int64_t>"),
    "float[]": ("opforge::Span<double>", "float[]", "c10::ArrayRef<double>", "list(float)",
                "std::vector<float>"),
}


def template_root() -> Path:
    """templates/ inside an installed wheel, or the repository's templates/ when editable."""
    packaged = Path(__file__).parents[1] / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


# --- escaping: the one place where text from a recipe (or a path) becomes generated code --
#
# Names that reach the generated code unescaped (namespace, op, input, output, attribute and
# type-variable names, dtypes, shape rules) are identifiers by the recipe's validation. Every
# other text (docs, string defaults, file names, paths) is free: templates receive it as
# RecipeText or a Path, and the environment refuses to emit either unless a filter below has
# turned it into a literal or comment of the target language.


class RecipeText(str):
    """Free text from a recipe; a template must pass it through an escaping filter."""


def _escaped(text: str, also: str) -> str:
    """`text` between double quotes: printable ASCII as is, `"`, `\\` and the characters in
    `also` after a backslash, every other byte of its UTF-8 as a three-digit octal escape
    (unambiguous, unlike hex escapes, whatever follows)."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        if char in '"\\' or char in also:
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def quoted(text: str) -> str:
    """A double-quoted string as torch's schema parser and protobuf's text format (TensorFlow
    attr defaults) read it: both take the backslash and octal escapes used here, while torch
    refuses `\\u` (what JSON writes for non-ASCII) and `\\?`."""
    return _escaped(text, "")


def cpp_string(text: str) -> str:
    """An ordinary (never raw) C++ string literal holding `text`'s UTF-8 bytes; `?` is escaped
    too, so that no `??/` trigraph can form where trigraphs are still read."""
    return _escaped(text, "?")


def comment(text: str) -> str:
    """`text` for the rest of a `//` or `#` line comment: as it is when nothing in it can end
    the comment or splice the next line into it (printable ASCII, no `??` trigraph, no
    backslash at the end), else as a C string literal, which never can."""
    text = str(text)
    if re.fullmatch(r"[ -~]*", text) and "??" not in text and not text.endswith("\\"):
        return text
    return cpp_string(text)


def cmake_path(path: str | PurePath) -> str:
    """A path as one quoted CMake argument: `\\`, `"` and `$` escaped, and `;` as `\\;`, which
    CMake keeps so that list-taking commands (sources, include folders, install) do not
    split the path."""
    text = path.as_posix() if isinstance(path, PurePath) else str(path)
    return '"' + re.sub(r'([\\"$;])', r"\\\1", text) + '"'


def cmake_list(items: list) -> str:
    """A list (paths, definitions) as one quoted CMake argument, e.g. a typed cache value."""
    return '"' + ";".join(cmake_path(item)[1:-1] for item in items) + '"'


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
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_root())),
                             bytecode_cache=jinja2.FileSystemBytecodeCache(str(cache)),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             finalize=_refuse_raw)
    env.filters["torch_scalar"] = _TORCH_SCALAR.__getitem__
    env.filters["tf_dtype"] = _TF_DTYPE.__getitem__
    env.filters.update(cpp_string=cpp_string, comment=comment, cmake_path=cmake_path,
                       cmake_list=cmake_list)
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


def _literal(attr_type: str, value, dialect: str) -> str:
    """An attribute default in torch schema or TF attr syntax."""
    if attr_type == "bool":
        return ("True" if value else "False") if dialect == "torch" else str(value).lower()
    if attr_type == "string":
        return quoted(value)
    if attr_type == "float":
        return repr(float(value))
    if attr_type.endswith("[]"):
        cast = float if attr_type == "float[]" else int
        return "[" + ", ".join(repr(cast(v)) for v in value) + "]"
    return str(value)


def _default_text(attr_type: str, value) -> str:
    """An attribute default as the kernel header's comments show it (C++ for strings)."""
    if value is None:
        return ""
    return cpp_string(value) if attr_type == "string" else _literal(attr_type, value, "tf")


def _ort_default(attr_type: str, value) -> str:
    """An attribute default as the C++ fallback the ONNX Runtime glue passes."""
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


def _trt_default(attr_type: str, value) -> str:
    """An attribute default as the C++ initializer of the TensorRT plugin's field."""
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


def cpp_int(value: int) -> str:
    """An int64 as a C++ expression: INT64_MIN has no literal of its own (its magnitude is
    no int64: `-9223372036854775808` negates an unsigned constant)."""
    value = int(value)
    return ("static_cast<int64_t>(-9223372036854775807LL - 1)" if value == -2**63
            else str(value))


def tf_doc(text: str) -> str:
    """The doc as TensorFlow's Doc() should read it. TensorFlow takes the first line for the
    summary, and any later line that starts `name:` for the documentation of an argument
    called name (an error when the op has none); such lines get one leading space, which
    TensorFlow keeps in the description."""
    first, *rest = text.split("\n")
    argument_doc = re.compile(r"[A-Za-z][A-Za-z0-9_]*[ \t\v\f\r]*:")
    return "\n".join([first, *(" " + line if argument_doc.match(line) else line
                                for line in rest)])


def trt_bindings(op: Op) -> list[list[str]]:
    """Type-variable assignments TensorRT can carry, as DataType per input then output."""
    rows = []
    for b in op.type_bindings():
        dtypes = [b.get(t.dtype, t.dtype) for t in (*op.inputs, *op.outputs)]
        if all(d in _TRT_DTYPE for d in dtypes):
            rows.append([_TRT_DTYPE[d] for d in dtypes])
    return rows


def op_context(recipe: LoadedRecipe, op: Op, devices: list[str]) -> dict:
    from opforge.frameworks.tensorflow import tf_op_name

    ns = recipe.package.namespace
    index = {t.name: i for i, t in enumerate(op.inputs)}

    def tensor(t, is_output: bool) -> dict:
        var = t.dtype if t.dtype in op.types else None
        ctx = {"name": t.name, "dtype": t.dtype, "var": var, "dtypes": op.dtype_options(t.dtype),
               "tf_type": t.dtype if var else _TF_DTYPE[t.dtype]}
        if is_output:
            rule = shapes.parse(t.shape)
            ctx["rule_text"] = str(rule)
            ctx["rule"] = {"kind": rule.kind, "args": list(rule.args),
                           "input_indices": [index[a] for a in rule.args],
                           "dims": [{"input": d.input, "input_index": index[d.input] if d.input
                                     else -1, "index": d.index,
                                     "value": d.index if d.input else d.size}
                                    for d in rule.dims]}
            same_var = [i.name for i in op.inputs if var and i.dtype == var]
            ctx["source_input"] = same_var[0] if same_var else op.inputs[0].name
            ctx["trt_source_input"] = index[same_var[0]] if same_var else -1
            ctx["trt_dtype"] = _TRT_DTYPE.get(t.dtype, "")
        return ctx

    attrs = []
    for a in op.attrs:
        cpp, torch_t, torch_cpp, tf_t, tf_cpp = _ATTR_TYPES[a.type]
        has_default = a.default is not None
        torch_arg = f"{torch_t} {a.name}"
        tf_attr = f"{a.name}: {tf_t}"
        if has_default:
            torch_arg += "=" + _literal(a.type, a.default, "torch")
            tf_attr += " = " + _literal(a.type, a.default, "tf")
        attrs.append({"name": a.name, "type": a.type, "cpp_type": cpp, "torch_cpp_type": torch_cpp,
                      "tf_cpp_type": tf_cpp, "has_default": has_default,
                      "default_text": RecipeText(_default_text(a.type, a.default)),
                      "torch_arg": torch_arg, "tf_attr": RecipeText(tf_attr),
                      "ort_default": _ort_default(a.type, a.default),
                      "trt_default": _trt_default(a.type, a.default),
                      "trt_field_type": _TRT_FIELDS[a.type][0],
                      "trt_field_doc": _TRT_FIELDS[a.type][1]})
    inputs = [tensor(t, False) for t in op.inputs]
    outputs = [tensor(t, True) for t in op.outputs]
    # Attributes are keyword-only in torch (as they are attrs in TensorFlow): the schema
    # then allows a required attribute after one with a default.
    params = [f"Tensor {t['name']}" for t in inputs] + (["*"] if attrs else []) + \
        [a["torch_arg"] for a in attrs]
    if len(outputs) == 1:
        returns, torch_return = "Tensor", "at::Tensor"
    else:
        returns = "(" + ", ".join(f"Tensor {t['name']}" for t in outputs) + ")"
        torch_return = "std::tuple<" + ", ".join("at::Tensor" for _ in outputs) + ">"
    groups: dict[str, list[str]] = {}
    for t in inputs:
        if t["var"]:
            groups.setdefault(t["var"], []).append(t["name"])
    def onnx_elem(dtype: str) -> str:
        return "ONNX_TENSOR_ELEMENT_DATA_TYPE_" + _ONNX_ELEM[dtype]

    ort_bindings = [{"inputs": [onnx_elem(b.get(t.dtype, t.dtype)) for t in op.inputs],
                     "outputs": [onnx_elem(b.get(t.dtype, t.dtype)) for t in op.outputs]}
                    for b in op.type_bindings()]
    return {
        "ort_bindings": ort_bindings,
        "trt_bindings": trt_bindings(op),
        "name": op.name, "doc": RecipeText(op.doc),
        "tf_doc": RecipeText(tf_doc(op.doc or op.name)), "types": op.types, "inputs": inputs,
        "outputs": outputs, "attrs": attrs, "type_groups": groups,
        "devices": [d for d in devices if op.kernel(d)],
        "torch_name": f"{ns}::{op.name}",
        "torch_schema": RecipeText(f"{op.name}({', '.join(params)}) -> {returns}"),
        "torch_return": torch_return,
        "tf_name": tf_op_name(ns, op.name),
    }


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
             cuda: ArchPlan | None = None) -> Generated:
    """Write the generated tree; `cuda` (the architectures) when devices include cuda. Each
    toolchain links what it lists (a device's framework libraries included: the build adds
    them, frameworks.with_libraries)."""
    check_build_folder(root.parent)
    env = environment()
    package = {"name": recipe.package.name, "version": recipe.package.version,
               "ident": library_ident(recipe)}
    ops = [op_context(recipe, op, devices) for op in recipe.ops]
    abis = {toolchains[fw.name].cxx11_abi for fw in frameworks if fw.abi_sensitive}
    base = {"recipe_name": RecipeText(recipe.path.name), "package": package,
            "ns": recipe.package.namespace, "ops": ops,
            "uses_broadcast": any(o["rule"]["kind"] == "broadcast"
                                  for op in ops for o in op["outputs"]),
            "cxx11_abi": abis.pop() if len(abis) == 1 else 1,
            "cuda": {"cmake_archs": cuda.cmake} if cuda and "cuda" in devices else None,
            "devices_used": [d for d in devices if any(d in op["devices"] for op in ops)],
            "has_kernels": bool(ops),
            "kernel_sources": [p for d in devices for p in recipe.kernel_sources(d)]}
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
               "library_target": library_target(recipe, fw),
               "cuda_toolkit": bool(base["cuda"]) or fw.requires_cuda,
               "native_sources": [recipe.source(s) for n in natives for s in n.sources],
               "native_include_dirs": [recipe.source(d) for n in natives
                                       for d in n.include_dirs]}
        out = root / fw.name
        framework_dirs[fw.name] = out
        if ops:
            files[out / "glue.cc"] = env.get_template(fw.glue_template).render(ctx)
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
