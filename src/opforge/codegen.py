"""Generate each framework's CMake project and glue from the recipe, with jinja2.

Layout of one release's generated tree (buildable with plain cmake):

    gen/include/opforge/{kernel.h, glue.h}   shipped headers, copied
    gen/include/opforge/{ops.h, shapes.h}    generated from the recipe (framework-neutral)
    gen/kernels/CMakeLists.txt               kernels -> static library, compiled once
    gen/<framework>/{CMakeLists.txt, glue.cc, init-cache.cmake}

Files are written only when their content changed, so a no-op build compiles nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import jinja2

from . import shapes
from .files import write_atomic
from .cuda import ArchPlan
from .frameworks import Framework, Toolchain
from .recipe import LoadedRecipe, Op

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
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_root())),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["torch_scalar"] = _TORCH_SCALAR.__getitem__
    env.filters["tf_dtype"] = _TF_DTYPE.__getitem__
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
        return json.dumps(value)
    if attr_type == "float":
        return repr(float(value))
    if attr_type.endswith("[]"):
        cast = float if attr_type == "float[]" else int
        return "[" + ", ".join(repr(cast(v)) for v in value) + "]"
    return str(value)


def _ort_default(attr_type: str, value) -> str:
    """An attribute default as the C++ fallback the ONNX Runtime glue passes."""
    if attr_type == "string":
        return "nullptr" if value is None else json.dumps(value)
    if attr_type == "float":
        return f"{float(value or 0.0)!r}f"
    if attr_type == "bool":
        return "1" if value else "0"
    if attr_type == "int[]":
        return "std::vector<int64_t>{" + ", ".join(str(int(v)) for v in value or []) + "}"
    if attr_type == "float[]":
        return "std::vector<float>{" + ", ".join(f"{float(v)!r}f" for v in value or []) + "}"
    return str(int(value or 0))


def _trt_default(attr_type: str, value) -> str:
    """An attribute default as the C++ initializer of the TensorRT plugin's field."""
    if attr_type == "string":
        return json.dumps(value or "")
    if attr_type == "int[]":
        return "{" + ", ".join(str(int(v)) for v in value or []) + "}"
    if attr_type == "float[]":
        return "{" + ", ".join(repr(float(v)) for v in value or []) + "}"
    if attr_type == "float":
        return repr(float(value or 0.0))
    if attr_type == "bool":
        return "1" if value else "0"
    return str(int(value or 0))


def trt_bindings(op: Op) -> list[list[str]]:
    """Type-variable assignments TensorRT can carry, as DataType per input then output."""
    rows = []
    for b in op.type_bindings():
        dtypes = [b.get(t.dtype, t.dtype) for t in (*op.inputs, *op.outputs)]
        if all(d in _TRT_DTYPE for d in dtypes):
            rows.append([_TRT_DTYPE[d] for d in dtypes])
    return rows


def _c_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def op_context(recipe: LoadedRecipe, op: Op, devices: list[str]) -> dict:
    from .frameworks.tensorflow import tf_op_name

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
                      "default_text": _literal(a.type, a.default, "tf") if has_default else "",
                      "torch_arg": torch_arg, "tf_attr": _c_string(tf_attr),
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
        "name": op.name, "doc": op.doc, "types": op.types, "inputs": inputs,
        "outputs": outputs, "attrs": attrs, "type_groups": groups,
        "devices": [d for d in devices if op.kernel(d)],
        "torch_name": f"{ns}::{op.name}",
        "torch_schema": _c_string(f"{op.name}({', '.join(params)}) -> {returns}"),
        "torch_return": torch_return,
        "tf_name": tf_op_name(ns, op.name),
    }


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
             cuda: ArchPlan | None = None,
             extra_libraries: dict[str, list[str]] | None = None) -> Generated:
    """Write the generated tree; `cuda` (the architectures) when devices include cuda,
    `extra_libraries` per framework (e.g. libc10_cuda.so for PyTorch's CUDA glue)."""
    env = environment()
    package = {"name": recipe.package.name, "version": recipe.package.version,
               "ident": library_ident(recipe)}
    ops = [op_context(recipe, op, devices) for op in recipe.ops]
    abis = {toolchains[fw.name].cxx11_abi for fw in frameworks if fw.abi_sensitive}
    base = {"recipe_name": recipe.path.name, "package": package, "ns": recipe.package.namespace,
            "ops": ops, "uses_broadcast": any(o["rule"]["kind"] == "broadcast"
                                              for op in ops for o in op["outputs"]),
            "cxx11_abi": abis.pop() if len(abis) == 1 else 1,
            "cuda": {"cmake_archs": cuda.cmake} if cuda and "cuda" in devices else None,
            "devices_used": [d for d in devices if any(d in op["devices"] for op in ops)],
            "has_kernels": bool(ops),
            "kernel_sources": [p.as_posix() for d in devices for p in recipe.kernel_sources(d)]}
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
        extra = (extra_libraries or {}).get(fw.name, [])
        if extra:
            toolchain = replace(toolchain, link_libraries=[*toolchain.link_libraries, *extra])
        stub = fw.link_stub(toolchain)
        natives = recipe.native_for(fw.name)
        ctx = {**base, "fw": fw, "toolchain": toolchain, "stub": stub,
               "library_target": library_target(recipe, fw),
               "cuda_toolkit": bool(base["cuda"]) or fw.requires_cuda,
               "native_sources": [recipe.source(s).as_posix() for n in natives for s in n.sources],
               "native_include_dirs": [recipe.source(d).as_posix() for n in natives
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
