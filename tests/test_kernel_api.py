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
