"""The command line: help, exit codes, --json errors, scaffolding."""

from __future__ import annotations

import json

from conftest import EXAMPLE, opforge


def test_help_teaches_the_commands():
    result = opforge("--help")
    assert result.returncode == 0
    for word in ("releases", "build", "test", "new", "exit codes", "--release local"):
        assert word in result.stdout


def test_no_command_prints_help_and_fails():
    result = opforge()
    assert result.returncode == 2
    assert "usage: opforge" in result.stdout


def test_bad_flag_is_exit_2_without_traceback():
    result = opforge("build", "--frobnicate")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr or "required" in result.stderr
    assert "Traceback" not in result.stderr


def test_recipe_errors_as_json(tmp_path):
    bad = tmp_path / "recipe.toml"
    bad.write_text('[package]\nname = "x"\nversion = "1"\nnamespace = "x"\nfoo = 1\n')
    result = opforge("build", str(bad), "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "recipe-error" and error["exit_code"] == 2
    assert f"{bad}:5: package.foo: unknown key" in "\n".join(error["details"])
    assert not (tmp_path / "build").exists() and not (tmp_path / "dist").exists()


def test_test_before_build_says_what_to_do(tmp_path):
    import shutil

    shutil.copytree(EXAMPLE, tmp_path / "ex", ignore=shutil.ignore_patterns("build", "dist"))
    result = opforge("test", str(tmp_path / "ex/recipe.toml"), "--release", "local")
    assert result.returncode == 2
    assert "no pytorch artifact for release local" in result.stderr
    assert "run `opforge build`" in result.stderr


def test_framework_flag_must_be_in_the_recipe(tmp_path):
    result = opforge("build", str(EXAMPLE / "recipe.toml"), "--release", "local",
                     "--framework", "tensorrt")
    assert result.returncode == 2
    assert "--framework tensorrt: not in target.frameworks" in result.stderr


def test_new_refuses_bad_names_and_existing_folders(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    result = opforge("new", str(tmp_path / "full"))
    assert result.returncode == 2 and "exists and is not empty" in result.stderr
    result = opforge("new", str(tmp_path / "9ops"))
    assert result.returncode == 2 and "--namespace" in result.stderr
    # a namespace a framework keeps: refused here, not by the first build
    result = opforge("new", str(tmp_path / "torch"))
    assert result.returncode == 2 and "namespace 'torch'" in result.stderr, result.stderr
    assert "--namespace" in result.stderr and not (tmp_path / "torch").exists()
    result = opforge("new", str(tmp_path / "my-ops"), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["created"] == [str(tmp_path / "my-ops/recipe.toml"),
                                                    str(tmp_path / "my-ops/kernels/scale.cc")]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


SHAPES = EXAMPLE.parent / "shapes" / "recipe.toml"

TOPK_DESCRIBED = """\
TopK: shapes::TopKArgs (#include <opforge/ops.h>)
  namespace shapes {

  // TopK: The k largest values along the last axis, any rank, and their indices (first wins ties).
  struct TopKArgs {
    opforge::ConstTensorView x;  // input 0, dtype T in float32|float64
    opforge::TensorView values;  // output 0, dtype T, shape x[:-1] + [k]
    opforge::TensorView indices;  // output 1, dtype int64, shape x[:-1] + [k]
    int64_t k;  // attribute int
  };
  void TopK_cpu(opforge::Context& ctx, const TopKArgs& args);
  void TopK_cuda(opforge::Context& ctx, const TopKArgs& args);

  }  // namespace shapes
  kernels to define:
    cpu   shapes::TopK_cpu in kernels/topk.cc
    cuda  shapes::TopK_cuda in kernels/topk.cu  (not built: target.devices leaves it out)
  type variables (the tensor's dtype field says which one it is):
    T: float32, float64
  shapes (checked or allocated by the glue before the kernel runs):
    input x: any
    output values: x[:-1] + [k]
    output indices: x[:-1] + [k]
  constraints (checked before the kernel runs):
    k >= 0
    k <= x[-1]

"""


def test_describe_prints_each_ops_args_struct_and_kernels():
    result = opforge("describe", str(SHAPES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(TOPK_DESCRIBED)
    assert "    input x: rank 3\n    input scale: [x[1]]\n" in result.stdout
    assert "    opforge::Span<int64_t> strides;  // attribute int[], default [2]\n" in result.stdout


def test_describe_json_is_what_ops_h_declares(tmp_path):
    """The same declarations as the generated header (conftest checks the JSON schema)."""
    from opforge import recipe
    from opforge.build import codegen

    result = opforge("describe", str(SHAPES), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    topk, downsample = data["ops"]
    assert (data["namespace"], data["header"]) == ("shapes", "opforge/ops.h")
    assert topk["args_struct"] == "shapes::TopKArgs"
    assert topk["inputs"] == [{"name": "x", "cpp_type": "opforge::ConstTensorView",
                               "dtype": "T", "dtypes": ["float32", "float64"], "rank": None,
                               "shape": None}]
    assert [o["cpp_type"] for o in topk["outputs"]] == ["opforge::TensorView"] * 2
    assert topk["attrs"] == [{"name": "k", "type": "int", "cpp_type": "int64_t",
                              "default": None}]
    # every kernel the op declares; `built`: whether target.devices builds it
    assert topk["kernels"] == [{"device": "cpu", "function": "shapes::TopK_cpu",
                                "signature": "void TopK_cpu(opforge::Context& ctx, "
                                             "const TopKArgs& args)",
                                "source": "kernels/topk.cc", "built": True},
                               {"device": "cuda", "function": "shapes::TopK_cuda",
                                "signature": "void TopK_cuda(opforge::Context& ctx, "
                                             "const TopKArgs& args)",
                                "source": "kernels/topk.cu", "built": False}]
    assert (topk["dynamic_dims"], topk["scratch"]) == ([], [])
    assert downsample["constraints"] == ["strides[0] >= 1"]
    assert downsample["attrs"][0]["default"] == [2]
    # each op's declaration is a piece of the ops.h the build writes
    loaded = recipe.load(SHAPES)
    header = codegen.environment().get_template("common/ops.h.j2").render(
        recipe_name="recipe.toml", package={"name": "shape-ops", "version": "0.1.0"},
        ns="shapes", ops=[codegen.op_context(op, ["cpu", "cuda"]) for op in loaded.ops])
    for op in data["ops"]:
        body = [line for line in op["declaration"].splitlines()[1:-1]]
        assert "\n".join(body) in header, op["name"]


def test_describe_a_bad_recipe_is_exit_2(tmp_path):
    bad = tmp_path / "recipe.toml"
    bad.write_text(SHAPES.read_text().replace('name = "TopK"', 'name = "topk"'))
    result = opforge("describe", str(bad), "--json")
    assert result.returncode == 2
    assert "ops[0].name: 'topk' must be a CamelCase identifier" in "".join(
        json.loads(result.stdout)["error"]["details"])
