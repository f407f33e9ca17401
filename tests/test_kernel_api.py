"""The kernel API as a kernel sees it (opforge/kernel.h and the generated ops.h), put to the
C++ compiler: inputs are read-only views, outputs writable ones, and the compiler is what
says so."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from opforge.build import codegen
from opforge import frameworks, recipe
from opforge.frameworks import Toolchain

from conftest import EXAMPLE

CXX = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
needs_cxx = pytest.mark.skipif(CXX is None, reason="no C++ compiler (set CXX or install g++)")


@pytest.fixture(scope="module")
def include_dir(tmp_path_factory) -> Path:
    """gen/include of the example recipe: kernel.h as shipped, ops.h as generated."""
    root = tmp_path_factory.mktemp("gen")
    tc = Toolchain("pytorch", "1.0", "/fw", ["/fw/include"], [], [], 17, 1)
    codegen.generate(recipe.load(EXAMPLE / "recipe.toml"), [frameworks.get("pytorch")],
                     {"pytorch": tc}, ["cpu"], root)
    return root / "include"


def compile_kernel(include_dir: Path, tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """Compile an AddSub CPU kernel whose body is `body` (syntax and types only)."""
    source = tmp_path / "kernel.cc"
    source.write_text("#include <opforge/ops.h>\n\n"
                      "void acme::AddSub_cpu(opforge::Context& ctx, const AddSubArgs& args) {\n"
                      f"  (void)ctx;\n  {body}\n}}\n")
    return subprocess.run([CXX, "-std=c++17", "-fsyntax-only", "-I", str(include_dir),
                           str(source)], capture_output=True, text=True)


@needs_cxx
def test_writing_through_an_input_does_not_compile(include_dir, tmp_path):
    result = compile_kernel(include_dir, tmp_path, "args.a.ptr<float>()[0] = 1.0f;")
    assert result.returncode != 0
    assert "read-only" in result.stderr, result.stderr


@needs_cxx
def test_an_input_gives_no_writable_pointer(include_dir, tmp_path):
    result = compile_kernel(include_dir, tmp_path, "float* a = args.a.ptr<float>(); (void)a;")
    assert result.returncode != 0
    assert "const float*" in result.stderr, result.stderr


@needs_cxx
def test_an_input_view_does_not_become_a_writable_one(include_dir, tmp_path):
    result = compile_kernel(include_dir, tmp_path, "opforge::TensorView v = args.a; (void)v;")
    assert result.returncode != 0, "a ConstTensorView converted to a TensorView"


@needs_cxx
def test_kernels_read_inputs_and_write_outputs(include_dir, tmp_path):
    """What the errors above are measured against: the same kernel doing what it should,
    an output passed on where a read-only view is taken."""
    result = compile_kernel(include_dir, tmp_path, "\n  ".join([
        "const float* a = args.a.ptr<float>();",
        "args.sum.ptr<float>()[0] = a[0] + static_cast<float>(args.alpha);",
        "const opforge::ConstTensorView done = args.sum;",
        "if (!done.same_shape(args.a) || !args.a.same_shape(args.diff)) ctx.fail(\"shape\");",
    ]))
    assert result.returncode == 0, result.stderr


@needs_cxx
def test_bfloat16_and_float8_helpers_convert_as_ml_dtypes(tmp_path):
    """bfloat16 and FP8 from float round to nearest even and overflow as ml_dtypes does
    (the test vectors' reference); back to float is exact."""
    np = pytest.importorskip("numpy")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    source = tmp_path / "convert.cc"
    source.write_text("""#include <opforge/kernel.h>
#include <cstdio>
#include <cstring>
int main() {
  unsigned x;
  while (std::scanf("%x", &x) == 1) {
    float f;
    std::memcpy(&f, &x, sizeof f);
    const float back[3] = {opforge::bfloat16(f), opforge::float8_e4m3fn(f),
                           opforge::float8_e5m2(f)};
    unsigned bits[3];
    std::memcpy(bits, back, sizeof bits);
    std::printf("%u %u %u %x %x %x\\n", opforge::bfloat16::from_float(f),
                opforge::float8_e4m3fn::from_float(f), opforge::float8_e5m2::from_float(f),
                bits[0], bits[1], bits[2]);
  }
}
""")
    binary = tmp_path / "convert"
    subprocess.run([CXX, "-std=c++17", "-O1", "-I", str(codegen.template_root() / "include"),
                    str(source), "-o", str(binary)], check=True)
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(5000) * 10.0 ** rng.integers(-9, 6, 5000),
              np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 448, 464, 465, 57344,
                        61440, 61441, 2.0 ** -10, 2.0 ** -17, 1e-30], np.float32)]
    for fp8 in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2):
        grid = np.arange(256, dtype=np.uint8).view(fp8).astype(np.float64)
        grid = np.unique(grid[np.isfinite(grid)])
        values += [grid.astype(np.float32), ((grid[1:] + grid[:-1]) / 2).astype(np.float32)]
    values = np.concatenate(values).astype(np.float32)
    out = subprocess.run([str(binary)], input="\n".join(f"{b:x}" for b in values.view(np.uint32)),
                         capture_output=True, text=True, check=True).stdout.split("\n")
    wrong = []
    for v, line in zip(values, out):
        fields = line.split()
        want = [v.astype(ml_dtypes.bfloat16).view(np.uint16),
                v.astype(ml_dtypes.float8_e4m3fn).view(np.uint8),
                v.astype(ml_dtypes.float8_e5m2).view(np.uint8)]
        got = [int(f) for f in fields[:3]]
        if got != [int(w) for w in want]:
            wrong.append((float(v), got, want))
        for field, kind in zip(fields[3:], (ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn,
                                            ml_dtypes.float8_e5m2)):
            back = np.uint32(int(field, 16)).view(np.float32)
            expect = v.astype(kind).astype(np.float32)
            if not (back == expect or (np.isnan(back) and np.isnan(expect))):
                wrong.append((float(v), "back", float(back), float(expect)))
    assert len(values) > 5000 and not wrong, wrong[:10]


@needs_cxx
def test_an_optional_input_says_whether_it_was_given(tmp_path):
    """Absent: has_value() false, no data, no dims; given (from an input's view or an
    output's): has_value() true, read-only like every input."""
    source = tmp_path / "optional.cc"
    source.write_text("""
#include <opforge/kernel.h>
#include <cstdio>
int main() {
  float data[3] = {1, 2, 3};
  opforge::TensorView out;
  out.data = data;
  out.ndim = 1;
  out.shape[0] = 3;
  opforge::OptionalTensorView absent, given;
  given = out;
  const opforge::ConstTensorView& base = given;  // ShapeMath takes inputs as these
  std::printf("%d %d %d %d %g %lld\\n", absent.has_value(), absent.data == nullptr, absent.ndim,
              given.has_value(), double(given.ptr<float>()[2]), (long long)base.numel());
}
""")
    exe = tmp_path / "optional"
    built = subprocess.run([CXX, "-std=c++17", "-I", str(ROOT_INCLUDE), str(source), "-o",
                            str(exe)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert subprocess.run([str(exe)], capture_output=True, text=True).stdout == "0 1 0 1 3 3\n"
    write = compile_kernel_with(tmp_path, "opforge::OptionalTensorView v; "
                                          "v.ptr<float>()[0] = 1.0f;")
    assert write.returncode != 0 and "read-only" in write.stderr, write.stderr


ROOT_INCLUDE = Path(__file__).resolve().parents[1] / "templates" / "include"


def compile_kernel_with(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    source = tmp_path / "body.cc"
    source.write_text(f"#include <opforge/kernel.h>\nvoid f() {{ {body} }}\n")
    return subprocess.run([CXX, "-std=c++17", "-fsyntax-only", "-I", str(ROOT_INCLUDE),
                           str(source)], capture_output=True, text=True)
