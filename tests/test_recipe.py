"""Recipe validation: a corpus of bad recipes, each with the exact problem reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import opforge
from opforge import recipe
from opforge.core.errors import RecipeError

GOOD = """\
[package]
name = "t-ops"
version = "0.1.0"
namespace = "t"

[target]
release = "24.09"
frameworks = ["pytorch"]

[[ops]]
name = "AddSub"
inputs = [{ name = "a", dtype = "T" }, { name = "b", dtype = "T" }]
outputs = [{ name = "sum", dtype = "T", shape = "like(a)" }]
attrs = [{ name = "alpha", type = "float", default = 1.0 }]
types = { T = ["float32"] }
cpu = "k.cc"

[[ops.tests]]
inputs = { a = [1.0], b = [2.0] }
expect = { sum = [3.0] }
"""


OUTPUTS = 'outputs = [{ name = "sum", dtype = "T", shape = "like(a)" }]'


def write(tmp_path: Path, text: str, kernel: bool = True) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(textwrap.dedent(text))
    if kernel:
        (tmp_path / "k.cc").write_text("// kernel\n")
    return path


def problems(tmp_path: Path, text: str, kernel: bool = True) -> list[str]:
    with pytest.raises(RecipeError) as info:
        recipe.load(write(tmp_path, text, kernel))
    return info.value.details


def test_good_recipe_loads(tmp_path):
    loaded = recipe.load(write(tmp_path, GOOD))
    assert loaded.package.namespace == "t"
    assert [op.name for op in loaded.ops] == ["AddSub"]
    assert loaded.source(loaded.ops[0].cpu) == (tmp_path / "k.cc").resolve()


def test_shipped_example_is_valid():
    loaded = recipe.load(Path(__file__).parents[1] / "recipes/examples/addsub/recipe.toml")
    assert loaded.ops[0].types == {"T": ["float32", "float16"]}


@pytest.mark.parametrize("old,new,expected", [
    # unknown key: nearest valid key suggested, with the line
    ('namespace = "t"', 'namespce = "t"', ["recipe.toml:4: package.namespce: unknown key; "
                                           "did you mean 'namespace'?",
                                           "package.namespace: required key is missing"]),
    # wrong type
    ('version = "0.1.0"', "version = 1", ["recipe.toml:3: package.version: Input should be "
                                          "a valid string"]),
    ('default = 1.0', 'default = "x"', ["ops[0].attrs[0].default: 'x' is not a valid float"]),
    # enumerations
    ('frameworks = ["pytorch"]', 'frameworks = ["pytorh"]',
     ["target.frameworks[0]: 'pytorh' is not allowed; expected 'pytorch', 'tensorflow', "
      "'onnxruntime' or 'tensorrt'"]),
    ('T = ["float32"]', 'T = ["float8"]', ["ops[0].types.T[0]: 'float8' is not allowed"]),
    ('name = "AddSub"', 'name = "addSub"', ["ops[0].name: 'addSub' must be a CamelCase "
                                            "identifier"]),
    # kernel sources: missing, escaping the recipe folder
    ('cpu = "k.cc"', 'cpu = "nope.cc"', ["ops[0].cpu: kernel source 'nope.cc' does not exist"]),
    ('cpu = "k.cc"', 'cpu = "../k.cc"', ["ops[0].cpu: '../k.cc' is outside the recipe's "
                                         "folder"]),
    ('cpu = "k.cc"', '', ['ops[0]: op AddSub has no kernel: give cpu = "kernels/....cc", '
                          'cuda = "kernels/....cu" or both']),
    ('cpu = "k.cc"', 'cuda = "missing.cu"', ["ops[0].cuda: kernel source 'missing.cu' does "
                                             "not exist"]),
    # data-dependent dims and scratch buffers
    (OUTPUTS, 'outputs = [{ name = "sum", dtype = "T", shape = "[a[0], n]" }]\ndynamic_dims = [{ name = "n", max = "a[0]" }]',
     ["ops[0].outputs[0].shape: op AddSub, output sum: the data-dependent dim 'n' may only be "
      "the whole first dim of an output (\"[n, ...]\")",
      "ops[0].dynamic_dims[0]: op AddSub: the data-dependent dim 'n' is the first dim of no "
      "output"]),
    (OUTPUTS, 'outputs = [{ name = "sum", dtype = "T", shape = "[n + 1]" }]\ndynamic_dims = [{ name = "n", max = "a[0]" }]',
     ["output sum: the data-dependent dim 'n' may only be the whole first dim"]),
    (OUTPUTS, 'outputs = [{ name = "sum", dtype = "T", shape = "[n]" }]\ndynamic_dims = [{ name = "n", max = "a[0] + m" }]',
     ["ops[0].dynamic_dims[0].max: op AddSub, dynamic dim n: 'm' is not an int attribute "
      "(none)"]),
    (OUTPUTS, 'outputs = [{ name = "sum", dtype = "T", shape = "[n]" }]\ndynamic_dims = [{ name = "a", max = "a[0]" }]',
     ["ops[0].dynamic_dims[0].name: op AddSub: 'a' is already an input, output or attribute "
      "of the op"]),
    ('inputs = [{ name = "a", dtype = "T" }, { name = "b", dtype = "T" }]\n' + OUTPUTS,
     'inputs = [{ name = "a", dtype = "T", shape = "[n]" }, { name = "b", dtype = "T" }]\n'
     'outputs = [{ name = "sum", dtype = "T", shape = "[n]" }]\n'
     'dynamic_dims = [{ name = "n", max = "b[0]" }]',
     ["ops[0].inputs[0].shape: op AddSub, input a: 'n' is not an int attribute (none) at "
      "column 2 of '[n]'; a data-dependent dim (dynamic_dims) may only be an output's first "
      "dim"]),
    ('cpu = "k.cc"', 'scratch = [{ name = "tmp", dtype = "U", shape = "like(a)" }]\ncpu = "k.cc"',
     ["ops[0].scratch[0].dtype: 'U' is neither a type variable of this op (T) nor one of"]),
    ('cpu = "k.cc"', 'scratch = [{ name = "tmp", dtype = "T", shape = "[q[0]]" }]\ncpu = "k.cc"',
     ["ops[0].scratch[0].shape: op AddSub, scratch tmp: 'q' is neither an input (a, b) nor an "
      "int[] attribute (none)"]),
    (OUTPUTS, 'outputs = [{ name = "sum", dtype = "T", shape = "[n]" }]\n'
              'dynamic_dims = [{ name = "n", max = "a[0]" }]\nconstraints = ["n <= 3"]',
     ["ops[0].constraints[0]: op AddSub: 'n' is not an int attribute (none) at column 1 of "
      "'n <= 3'; a data-dependent dim (dynamic_dims) may only be an output's first dim"]),
    # names the generated glue uses for itself
    ('{ name = "b", dtype = "T" }', '{ name = "args", dtype = "T" }',
     ["ops[0].inputs[1].name: 'args' is a name the generated glue uses for its own variables"]),
    ('cpu = "k.cc"', 'scratch = [{ name = "opforge_tmp", dtype = "T", shape = "like(a)" }]\n'
                     'cpu = "k.cc"',
     ["ops[0].scratch[0].name: 'opforge_tmp' is a name the generated glue uses"]),
    # shape rules and dtypes
    ('shape = "like(a)"', 'shape = "like(c)"', ["ops[0].outputs[0].shape: op AddSub, output "
                                                "sum: expected an input (a, b), found 'c' at "
                                                "column 6 of 'like(c)'"]),
    ('shape = "like(a)"', 'shape = "a + b"', ["ops[0].outputs[0].shape: op AddSub, output sum: "
                                              "expected a list of dims [..] or a slice of an "
                                              "input's shape such as x[:-1], found 'a' at column 1"]),
    ('shape = "like(a)"', 'shape = "[a[0] / 2]"', ["'/' is not an operator here: use // "
                                                   "(division rounding down) or cdiv(a, b)"]),
    ('shape = "like(a)"', 'shape = "[n]"', ["'n' is not an int attribute (none)"]),
    ('shape = "like(a)"', 'shape = "[a[0] ** 2]"', ["expected a dim, found '*' at column 8"]),
    ('shape = "like(a)"', 'shape = "[__import__(0)]"',
     ["'__import__' is not an int attribute (none) at column 2"]),
    ('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "T", shape = "[a[-1], q]" }',
     ["ops[0].inputs[1].shape: op AddSub, input b: 'q' is not an int attribute (none) at "
      "column 9 of '[a[-1], q]'"]),
    ('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "T", rank = 2, shape = "[a[0]]" }',
     ["ops[0].inputs[1]: op AddSub, input b: rank 2 but shape [a[0]] has 1 dims"]),
    ('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "T", rank = 9 }',
     ["ops[0].inputs[1].rank: Input should be less than or equal to 8"]),
    ('cpu = "k.cc"', 'cpu = "k.cc"\nconstraints = ["a[0] =< 3"]',
     ["ops[0].constraints[0]: op AddSub: unexpected '=' at column 6 of 'a[0] =< 3'"]),
    ('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "U" }',
     ["ops[0].inputs[1].dtype: 'U' is neither a type variable of this op (T) nor one of"]),
    # test vectors
    ('inputs = { a = [1.0], b = [2.0] }', 'inputs = { a = [1.0, [2.0]], b = [2.0], z = 1 }',
     ["ops[0].tests[0].inputs.a: must be a number or a rectangular nested list",
      "ops[0].tests[0].inputs.z: not an input of AddSub (a, b)"]),
    ('expect = { sum = [3.0] }', 'expect = { total = [3.0] }',
     ["ops[0].tests[0].expect.total: not an output of AddSub (sum)"]),
])
def test_bad_recipe(tmp_path, old, new, expected):
    assert old in GOOD
    found = problems(tmp_path, GOOD.replace(old, new))
    for want in expected:
        assert any(want in line for line in found), (want, found)


def test_all_problems_reported_at_once_with_lines(tmp_path):
    text = (GOOD.replace('namespace = "t"', 'namespce = "t"')
                .replace('frameworks = ["pytorch"]', 'frameworks = ["pytorh"]')
                .replace('cpu = "k.cc"', 'cpu = "missing.cc"'))
    found = problems(tmp_path, text)
    assert len(found) == 4, found
    assert [line.split(": ")[0].rsplit(":", 1)[-1] for line in found] == ["1", "4", "8", "16"]


def test_malformed_toml(tmp_path):
    with pytest.raises(RecipeError) as info:
        recipe.load(write(tmp_path, "[package\nname = 1\n"))
    assert "not valid TOML" in info.value.message
    assert "line 1" in info.value.message


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        recipe.load(tmp_path / "nope.toml")


def test_output_type_variable_needs_an_input(tmp_path):
    text = GOOD.replace('{ name = "b", dtype = "T" }', '{ name = "b", dtype = "float32" }') \
               .replace('inputs = [{ name = "a", dtype = "T" }', 'inputs = [{ name = "a", dtype = "float32" }')
    found = problems(tmp_path, text)
    assert any("type variable 'T' is used by no input" in line for line in found), found


def cli_check(tmp_path: Path, text: str) -> str:
    """`opforge test` on the recipe, as a user runs it: a recipe error is exit 2, before
    anything is built or loaded; returns what it printed."""
    result = opforge("test", str(write(tmp_path, text)), "--release", "local")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def nested(depth: int) -> str:
    return "[" * depth + "1.0" + "]" * depth


def test_a_deeply_nested_recipe_is_a_recipe_error_naming_the_key(tmp_path):
    # deeper than tomllib's recursion allows: it was a RecursionError traceback (exit 1)
    err = cli_check(tmp_path, GOOD.replace("a = [1.0]", f"a = {nested(100_000)}"))
    assert "recipe.toml:19: ops[0].tests[0].inputs: arrays or inline tables nested too " \
           "deeply" in err
    # parsed, but deeper than a kernel's dims: never handed to numpy
    err = cli_check(tmp_path, GOOD.replace("a = [1.0]", f"a = {nested(300)}"))
    assert "recipe.toml:19: ops[0].tests[0].inputs.a: must be a number or a rectangular " \
           "nested list of numbers, at most 8 deep" in err


@pytest.mark.parametrize("namespace,why", [
    ("aten", "a namespace of PyTorch's own operators"),
    ("prim", "a namespace of PyTorch's own operators"),
    ("torch", "the C++ namespace of PyTorch"),
    ("onnx", "a namespace of PyTorch's own operators"),
    ("std", "the C++ namespace of the C++ standard library"),
    ("int", "a C++ keyword"),
    # TensorFlow names ops <Namespace>><Op>; its own Namespace>TestStringOutput is one
    ("namespace_", "names TensorFlow ops Namespace><Op>"),
])
def test_a_framework_namespace_is_a_recipe_error(tmp_path, namespace, why):
    err = cli_check(tmp_path, GOOD.replace('namespace = "t"', f'namespace = "{namespace}"'))
    assert f"recipe.toml:4: package.namespace: '{namespace}' " in err and why in err, err


@pytest.mark.parametrize("domain", ["ai.onnx", "com.microsoft", "ai.onnx.ml", ""])
def test_onnx_domains_are_no_namespace(tmp_path, domain):
    found = problems(tmp_path, GOOD.replace('namespace = "t"', f'namespace = "{domain}"'))
    assert any(f"package.namespace: '{domain}' must be a lower-case identifier" in line
               for line in found), found


def test_cpp_keywords_are_no_argument_names(tmp_path):
    found = problems(tmp_path, GOOD.replace('{ name = "b", dtype = "T" }',
                                            '{ name = "class", dtype = "T" }')
                                   .replace("b = [2.0]", "class = [2.0]"))
    assert any("ops[0].inputs[1].name: 'class' is a C++ keyword" in line for line in found)


def test_numbers_outside_int64_or_float32_are_recipe_errors(tmp_path):
    text = GOOD.replace(
        'attrs = [{ name = "alpha", type = "float", default = 1.0 }]',
        'attrs = [{ name = "alpha", type = "float", default = inf },\n'
        '  { name = "n", type = "int", default = 9223372036854775808 },\n'
        '  { name = "sizes", type = "int[]", default = [1, -9223372036854775809] },\n'
        '  { name = "ws", type = "float[]", default = [nan] },\n'
        '  { name = "big", type = "float", default = 1e39 }]'
    ).replace("expect = { sum = [3.0] }",
              "expect = { sum = [3.0] }\nattrs = { n = 18446744073709551616, alpha = 1e400 }")
    err = cli_check(tmp_path, text)
    for want in ("ops[0].attrs[0].default: inf is not a valid float: it must be finite",
                 "ops[0].attrs[1].default: 9223372036854775808 is not a valid int: it is "
                 "outside int64",
                 "ops[0].attrs[2].default: [1, -9223372036854775809] is not a valid int[]: "
                 "element 1 is not a valid int: it is outside int64",
                 "ops[0].attrs[3].default: [nan] is not a valid float[]: element 0",
                 "ops[0].tests[0].attrs.n: 18446744073709551616 is not a valid int: it is "
                 "outside int64",
                 "ops[0].tests[0].attrs.alpha: inf is not a valid float",
                 # float attributes are float32 in every framework: 1e39 would be inf
                 "ops[0].attrs[4].default: 1e+39 is not a valid float: it must be finite and "
                 "within float32"):
        assert want in err, (want, err)
    assert "has 7 problems" in err


def test_explicit_dims_the_glue_cannot_carry_are_recipe_errors(tmp_path):
    # were C++ narrowing errors in TensorFlow's shape function (exit 5), or a kernel refusal
    err = cli_check(tmp_path, GOOD.replace('shape = "like(a)"',
                                           'shape = "[a[8], 99999999999, 1, 1, 1, 1, 1, 1, 1]"'))
    assert ("ops[0].outputs[0].shape: op AddSub, output sum: index 8 is out of range: kernels "
            "take at most 8 dims, so it is from -8 to 7 at column 4") in err
    err = cli_check(tmp_path, GOOD.replace('shape = "like(a)"',
                                           'shape = "[99999999999, 1, 1, 1, 1, 1, 1, 1]"'))
    assert "size 99999999999 is larger than 2147483647" in err
    err = cli_check(tmp_path, GOOD.replace('shape = "like(a)"',
                                           'shape = "[1, 1, 1, 1, 1, 1, 1, 1, a[0]]"'))
    assert "ops[0].outputs[0].shape: op AddSub, output sum: 9 dims; kernels take at most 8" \
        in err


# --- dtypes -------------------------------------------------------------------------------

def test_every_dtype_has_a_row_in_every_framework_or_a_reason_it_has_none():
    """Each recipe dtype is in a framework's type map, or in its MISSING with why; a kernel
    enumerator exists for each (opforge::DType in kernel.h)."""
    from opforge import frameworks
    from opforge.build.codegen import template_root
    from opforge.recipe import dtypes

    kernel_h = (template_root() / "include/opforge/kernel.h").read_text()
    maps = {"pytorch": "SCALAR_TYPES", "tensorflow": "DTYPES", "onnxruntime": "ELEMENT_TYPES",
            "tensorrt": "DATA_TYPES"}
    for name, table in maps.items():
        types = frameworks.get(name).types
        for dtype in dtypes.NAMES:
            assert (dtype in getattr(types, table)) != (dtype in types.MISSING), (name, dtype)
    for facts in dtypes.FACTS.values():
        assert f" {facts.kernel} = " in kernel_h and f'return "{facts.name}"' in kernel_h
    assert frameworks.get("tensorrt").types.MISSING.keys() == {"float64", "int16",
                                                               "float8_e5m2"}


def test_dtype_facts_for_triton_and_numpy():
    np = pytest.importorskip("numpy")
    pytest.importorskip("ml_dtypes")
    from opforge.recipe import dtypes

    assert dtypes.by_triton("TYPE_BF16").name == "bfloat16"
    assert dtypes.by_triton("TYPE_BOOL").wire == "BOOL"
    assert [dtypes.FACTS[d].triton for d in ("int8", "uint8", "int16")] == [
        "TYPE_INT8", "TYPE_UINT8", "TYPE_INT16"]
    assert dtypes.FACTS["float8_e4m3fn"].triton is None  # Triton has no FP8 datatype
    assert dtypes.numpy_dtype("bfloat16").itemsize == 2
    assert dtypes.numpy_dtype("float8_e5m2").name == "float8_e5m2"
    assert dtypes.numpy_dtype("bool") == np.dtype(bool)
    assert (dtypes.FACTS["bfloat16"].rtol, dtypes.FACTS["int8"].atol) == (1e-2, 0.0)


@pytest.mark.parametrize("edit,expected", [
    # TOML booleans for bool, and only there
    (('T = ["float32"]', 'T = ["bool"]'),
     "ops[0].tests[0].inputs.a: 1.0 is not a boolean: bool values are true or false"),
    (('inputs = { a = [1.0], b = [2.0] }', 'inputs = { a = [true], b = [2.0] }'),
     "ops[0].tests[0].inputs.a: True is a boolean, but the tensor is float32"),
    # integers within their dtype
    (('T = ["float32"]', 'T = ["int8"]'),
     None),
    (('T = ["float32"]', 'T = ["uint8", "int8"]'), None),
])
def test_vector_values_fit_their_dtype(tmp_path, edit, expected):
    text = GOOD.replace(*edit)
    if expected is None:  # ints: 1.0 and 2.0 are integers, so these load; 300 does not
        recipe.load(write(tmp_path, text))
        found = problems(tmp_path, text.replace("a = [1.0]", "a = [300]"))
        assert any("ops[0].tests[0].inputs.a: 300 is not a " in f and "an integer from" in f
                   for f in found), found
        return
    assert any(expected in line for line in problems(tmp_path, text)), expected


def test_bool_values_load(tmp_path):
    text = GOOD.replace('T = ["float32"]', 'T = ["bool"]').replace(
        "a = [1.0], b = [2.0]", "a = [[true, false]], b = [[false, false]]").replace(
        "sum = [3.0]", "sum = [[true, false]]")
    assert recipe.load(write(tmp_path, text)).ops[0].tests[0].inputs["a"] == [[True, False]]


TRT = GOOD.replace('frameworks = ["pytorch"]', 'frameworks = ["tensorrt"]\ndevices = ["cuda"]'
                   ).replace('cpu = "k.cc"', 'cuda = "k.cu"')


def trt_problems(tmp_path, text):
    (tmp_path / "k.cu").write_text("// kernel\n")
    return problems(tmp_path, text, kernel=False)


@pytest.mark.parametrize("dtype,why", [
    ("int16", "TensorRT has no int16 tensors"),
    ("float8_e5m2", "TensorRT's only FP8 type, kFP8, is e4m3 (float8_e4m3fn); it has no e5m2"),
    ("float64", "TensorRT has no float64 tensors"),
])
def test_tensorrt_refuses_the_dtypes_it_has_no_tensors_of(tmp_path, dtype, why):
    concrete = TRT.replace('{ name = "b", dtype = "T" }', f'{{ name = "b", dtype = "{dtype}" }}')
    found = trt_problems(tmp_path, concrete)
    assert any(f"ops[0].inputs[1].dtype: {why}" in f and "TensorRT (in target.frameworks) "
               "cannot run op AddSub" in f for f in found), found
    only = TRT.replace('T = ["float32"]', f'T = ["{dtype}"]')
    assert any(f"ops[0].types: op AddSub: {why}" in f and "no type assignment" in f
               for f in trt_problems(tmp_path, only))


def test_tensorrt_leaves_out_only_the_assignments_it_cannot_carry(tmp_path):
    from opforge import frameworks
    from opforge.frameworks.tensorrt.codegen import bindings

    (tmp_path / "k.cu").write_text("// kernel\n")
    loaded = recipe.load(write(tmp_path, TRT.replace('T = ["float32"]',
                                                      'T = ["int16", "int8", "bfloat16"]'),
                               kernel=False))
    op = loaded.ops[0]
    assert [row[0] for row in bindings(op)] == ["DataType::kINT8", "DataType::kBF16"]
    assert frameworks.get("tensorrt").dtype_problem("float8_e4m3fn") is None


def test_tensorflow_refuses_fp8_in_a_type_variable(tmp_path):
    text = GOOD.replace('frameworks = ["pytorch"]', 'frameworks = ["tensorflow"]').replace(
        'T = ["float32"]', 'T = ["float32", "float8_e4m3fn"]')
    assert any("ops[0].types.T: TensorFlow's op registry cannot list float8_e4m3fn in a type "
               "variable" in f for f in problems(tmp_path, text))
    concrete = GOOD.replace('frameworks = ["pytorch"]', 'frameworks = ["tensorflow"]').replace(
        '{ name = "b", dtype = "T" }', '{ name = "b", dtype = "float8_e4m3fn" }')
    recipe.load(write(tmp_path, concrete))


@pytest.mark.parametrize("framework,old,new", [
    ("onnxruntime", "1.15.1", "1.16"), ("tensorflow", "2.11.0", "2.12"),
    ("pytorch", "2.0.1", "2.1")])
def test_a_framework_too_old_for_fp8_is_refused_naming_the_versions(tmp_path, framework, old,
                                                                   new):
    from opforge import frameworks

    fw = frameworks.get(framework)
    text = GOOD.replace('frameworks = ["pytorch"]', f'frameworks = ["{framework}"]').replace(
        '{ name = "b", dtype = "T" }', '{ name = "b", dtype = "float8_e4m3fn" }')
    loaded = recipe.load(write(tmp_path, text))
    found = recipe.version_dtype_problems(loaded, fw, old)
    assert found == [f"{loaded.path}: ops[0] (AddSub) uses float8_e4m3fn, but {fw.title} {old} "
                     f"has no float8_e4m3fn tensors: they came in {fw.title} {new}; build for a "
                     f"release whose {fw.title} has it, or leave float8_e4m3fn out of AddSub"]
    assert recipe.version_dtype_problems(loaded, fw, new) == []
    assert fw.dtype_problem("bfloat16", old) is None


OPTIONAL = GOOD.replace('{ name = "b", dtype = "T" }]',
                        '{ name = "b", dtype = "T" }, { name = "bias", dtype = "T", '
                        'shape = "[a[-1]]", optional = true }]')


def test_an_optional_input_may_be_left_out_of_a_vector_and_a_required_one_may_not(tmp_path):
    loaded = recipe.load(write(tmp_path, OPTIONAL))
    assert [t.name for t in loaded.ops[0].required_inputs()] == ["a", "b"]
    without_b = OPTIONAL.replace("inputs = { a = [1.0], b = [2.0] }", "inputs = { a = [1.0] }")
    assert any("ops[0].tests[0].inputs: no value for input 'b'" in p
               for p in problems(tmp_path, without_b))


@pytest.mark.parametrize("edit,expected", [
    # optional before a required input: a torch schema takes no required argument after a
    # defaulted one
    (lambda t: t.replace('inputs = [{ name = "a", dtype = "T" }, { name = "b", dtype = "T" },'
                         ' { name = "bias", dtype = "T", shape = "[a[-1]]", optional = true }]',
                         'inputs = [{ name = "a", dtype = "T" }, { name = "bias", dtype = "T", '
                         'optional = true }, { name = "b", dtype = "T" }]'),
     "ops[0].inputs[2]: op AddSub: required input 'b' follows the optional input 'bias'"),
    (lambda t: t.replace('{ name = "a", dtype = "T" }, { name = "b", dtype = "T" }, ',
                         '{ name = "a", dtype = "T", optional = true }, '
                         '{ name = "b", dtype = "T", optional = true }, ')
     .replace("inputs = { a = [1.0], b = [2.0] }", "inputs = {}"),
     "ops[0].inputs: op AddSub: every input is optional"),
    (lambda t: t.replace('{ name = "bias", dtype = "T", shape = "[a[-1]]", optional = true }',
                         '{ name = "bias", dtype = "U", optional = true }')
     .replace('T = ["float32"]', 'T = ["float32"], U = ["float32", "float64"]'),
     "ops[0].inputs[2].dtype: op AddSub: optional input 'bias' is the only kind of input of "
     "type variable 'U'"),
    (lambda t: t.replace('shape = "like(a)"', 'shape = "like(bias)"'),
     "ops[0].outputs[0].shape: op AddSub, output sum: its shape like(bias) names the optional "
     "input 'bias', which may be absent"),
    (lambda t: t.replace('{ name = "b", dtype = "T" },', '{ name = "b", dtype = "T", '
                                                           'shape = "[bias[0]]" },'),
     "ops[0].inputs[1].shape: op AddSub, required input b: its shape [bias[0]] names the "
     "optional input 'bias'"),
    (lambda t: t.replace('optional = true }]', 'optional = true }, { name = "mask", '
                         'dtype = "T", shape = "like(bias)", optional = true }]'),
     "ops[0].inputs[3].shape: op AddSub, optional input mask: its shape like(bias) names "
     "another optional input, 'bias'"),
])
def test_where_optional_inputs_may_stand(tmp_path, edit, expected):
    found = problems(tmp_path, edit(OPTIONAL))
    assert any(expected in p for p in found), found


def test_a_constraint_on_an_optional_input_is_allowed(tmp_path):
    """It applies only when the input is given (the glue guards it with has_value())."""
    text = OPTIONAL.replace('cpu = "k.cc"', 'constraints = ["bias[0] >= 1"]\ncpu = "k.cc"')
    assert recipe.load(write(tmp_path, text)).ops[0].constraints == ["bias[0] >= 1"]


def test_tensorrt_refuses_an_optional_input_saying_why(tmp_path):
    text = TRT.replace('{ name = "b", dtype = "T" }]',
                       '{ name = "b", dtype = "T" }, { name = "bias", dtype = "T", '
                       'optional = true }]')
    found = trt_problems(tmp_path, text)
    assert any("ops[0].inputs[2].optional: TensorRT cannot run op AddSub with its input "
               "'bias' absent: a plugin (IPluginV3) has a fixed number of inputs" in p
               for p in found), found


# --- reference checks ([[ops.checks]]) --------------------------------------------------

CHECK = GOOD + """
[[ops.checks]]
name = "random"
reference = "ref.py:addsub"
inputs = { a = { shape = [2, 3], range = [-3, 3] }, b = { shape = [2, 3] } }
samples = 3
seed = 7
"""


def with_reference(tmp_path: Path, text: str = "def addsub(a, b, alpha):\n    return a + b\n"):
    (tmp_path / "ref.py").write_text(text)


def test_a_reference_check_loads(tmp_path):
    with_reference(tmp_path)
    check = recipe.load(write(tmp_path, CHECK)).ops[0].checks[0]
    assert (check.label(0), check.samples, check.seed) == ("random", 3, 7)
    assert check.reference_parts() == ("ref.py", "addsub")
    assert check.inputs["a"].shape == [2, 3] and check.inputs["a"].range == [-3.0, 3.0]
    assert check.inputs["b"].range is None and check.atol is None


@pytest.mark.parametrize("old,new,expected", [
    ('reference = "ref.py:addsub"', 'reference = "ref.py"',
     "ops[0].checks[0].reference: 'ref.py' must be FILE.py:FUNCTION (a Python file beside "
     "the recipe and a function in it, e.g. \"reference.py:topk\")"),
    ('reference = "ref.py:addsub"', 'reference = "nope.py:addsub"',
     "ops[0].checks[0].reference: 'nope.py' does not exist (looked for"),
    ('reference = "ref.py:addsub"', 'reference = "../ref.py:addsub"',
     "ops[0].checks[0].reference: '../ref.py' is outside the recipe's folder"),
    (", b = { shape = [2, 3] }", "",
     "ops[0].checks[0].inputs: no shape for input 'b': give b = { shape = [...] }"),
    ("b = { shape = [2, 3] }", "b = { shape = [2, 3] }, c = { shape = [1] }",
     "ops[0].checks[0].inputs.c: not an input of AddSub (a, b)"),
    ("range = [-3, 3]", "range = [3, -3]",
     "ops[0].checks[0].inputs.a.range: [3, -3] is not a range: give [low, high] with low <= high"),
    ("samples = 3", "sample = 3", "ops[0].checks[0].sample: unknown key; did you mean 'samples'?"),
    ("samples = 3", "samples = 0", "ops[0].checks[0].samples: Input should be greater than or "
                                   "equal to 1"),
    ("seed = 7", 'types = { T = "float64" }',
     "ops[0].checks[0].types.T: float64 is not one of T's dtypes (float32)"),
    ("seed = 7", "attrs = { beta = 1 }", "ops[0].checks[0].attrs.beta: not an attribute of AddSub"),
    ("shape = [2, 3], range", "shape = [2, 3, 1, 1, 1, 1, 1, 1, 1], range",
     "ops[0].checks[0].inputs.a.shape: List should have at most 8 items"),
])
def test_bad_reference_check(tmp_path, old, new, expected):
    with_reference(tmp_path)
    assert old in CHECK
    found = problems(tmp_path, CHECK.replace(old, new))
    assert any(expected in p for p in found), found


@pytest.mark.parametrize("dtype,value_range,why", [
    ("int8", "[-200, 0]", "[-200, 0] is outside int8 (-128 to 127)"),
    ("int32", "[0.5, 2]", "[0.5, 2]: an integer (int32) range takes integers"),
    ("bool", "[0, 1]", "bool inputs take no range (they are drawn true or false)"),
])
def test_a_check_range_must_fit_the_dtype(tmp_path, dtype, value_range, why):
    with_reference(tmp_path)
    text = (CHECK.replace('types = { T = ["float32"] }', f'types = {{ T = ["{dtype}"] }}')
            .replace("range = [-3, 3]", f"range = {value_range}")
            .replace("expect = { sum = [3.0] }", "error = \"x\"")
            .replace("inputs = { a = [1.0], b = [2.0] }", "inputs = { a = [1], b = [2] }"
                     if dtype != "bool" else "inputs = { a = [true], b = [false] }"))
    assert problems(tmp_path, text) == [f"{tmp_path / 'recipe.toml'}:25: ops[0].checks[0]."
                                        f"inputs.a.range: {why}"]


@pytest.mark.parametrize("source,why", [
    ("def other(a, b, alpha):\n    return a\n", "has no function 'addsub'"),
    ("import not_a_module_anywhere\n", "failed to import: ModuleNotFoundError: No module "
                                       "named 'not_a_module_anywhere'"),
    ("def addsub(a, b:\n", "failed to import: SyntaxError"),
])
def test_a_reference_that_cannot_be_had_is_a_recipe_error_naming_the_key(tmp_path, source, why):
    """`opforge test` imports every reference (by path) before it starts a child."""
    from opforge.artifacts import vectors

    with_reference(tmp_path, source)
    loaded = recipe.load(write(tmp_path, CHECK))
    with pytest.raises(RecipeError) as info:
        vectors.check_references(loaded, vectors.spec_for(loaded))
    [detail] = info.value.details
    assert detail.startswith(f"{loaded.path}: ops[0].checks[0].reference: "
                             f"{tmp_path.resolve() / 'ref.py'} ")
    assert why in detail


def test_tensorrt_refuses_scratch_that_shrinks_as_inputs_grow(tmp_path):
    """TensorRT sizes scratch once, at the profile's largest shapes: a shape with an input dim
    after '-' or in a divisor could need more at smaller shapes, so it is a recipe error there
    (and fine for the frameworks that allocate per call)."""
    text = GOOD.replace('frameworks = ["pytorch"]', 'frameworks = ["pytorch", "tensorrt"]\n'
                        'devices = ["cuda"]').replace(
        'cpu = "k.cc"', 'scratch = [{ name = "tmp", dtype = "T", shape = "[a[0], 8 - b[0]]" },'
                        ' { name = "ok", dtype = "T", shape = "[cdiv(a[0], 2) + b[0]]" }]\n'
                        'cuda = "k.cu"')
    (tmp_path / "k.cu").write_text("// kernel\n")
    found = problems(tmp_path, text)
    assert [line.split(": ", 1)[1] for line in found] == [
        "ops[0].scratch[0].shape: TensorRT sizes op AddSub's scratch once, at the largest input "
        "shapes of the optimisation profile, so a scratch shape must not shrink as inputs grow, "
        "and 8 - b[0] does (an input dim after '-' or in a divisor); size 'tmp' by an "
        "expression that only grows (an upper bound is fine)"]
    recipe.load(write(tmp_path, text.replace('"pytorch", "tensorrt"', '"pytorch"')))
