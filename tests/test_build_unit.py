"""The build stage against a fake cmake and ninja: exact commands, stamps, diagnostics."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from opforge.build import pipeline as build
from opforge.core.errors import BuildError


def fake_tool(path: Path, log: Path, body: str = "") -> Path:
    path.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {log}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def tools(tmp_path) -> build.BuildTools:
    log = tmp_path / "calls.log"
    # the fake cmake creates what a real configure leaves behind
    cmake = fake_tool(tmp_path / "cmake", log,
                      'while [ $# -gt 0 ]; do [ "$1" = -B ] && mkdir -p "$2" && '
                      'touch "$2/build.ninja" "$2/CMakeCache.txt"; shift; done')
    ninja = fake_tool(tmp_path / "ninja", log, 'echo "[1/2] Building CXX object glue.cc.o"\n'
                                               'echo "[2/2] Linking CXX shared library x.so"')
    return build.BuildTools(cmake, ninja, "cmake version 3.99", Path("/usr/bin/c++"), "g++ 12")


def calls(tmp_path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def test_configure_runs_once_then_only_when_the_stamp_changes(tmp_path, tools):
    src, binary = tmp_path / "src", tmp_path / "bin"
    assert build.configure(tools, src, binary, {"toolchain": "a"}, {"X": "1"}) is True
    assert calls(tmp_path) == [f"{tools.cmake} -S {src} -B {binary} -G Ninja "
                               f"-DCMAKE_MAKE_PROGRAM={tools.ninja} "
                               f"-DCMAKE_CXX_COMPILER=/usr/bin/c++ -DX=1"]
    assert build.configure(tools, src, binary, {"toolchain": "a"}, {"X": "1"}) is False
    assert len(calls(tmp_path)) == 1
    (binary / "CMakeFiles").mkdir()
    (binary / "CMakeCache.txt").write_text("stale")
    assert build.configure(tools, src, binary, {"toolchain": "b"}, {"X": "1"}) is True
    assert (binary / "CMakeCache.txt").read_text() == ""  # wiped, then re-created by cmake
    assert not (binary / "CMakeFiles").exists()
    assert json.loads((binary / build.STAMP).read_text())["toolchain"] == "b"


def test_init_cache_goes_first(tmp_path, tools):
    build.configure(tools, tmp_path / "s", tmp_path / "b", {}, {}, init_cache=tmp_path / "i.cmake")
    assert calls(tmp_path)[0].split()[1:3] == ["-C", str(tmp_path / "i.cmake")]


def test_compile_counts_compiler_runs(tmp_path, tools):
    assert build.compile_project(tools, tmp_path, "pytorch") == 1
    assert calls(tmp_path) == [f"{tools.ninja} -C {tmp_path}"]


def test_compile_failure_shows_file_and_line(tmp_path):
    log = tmp_path / "calls.log"
    ninja = fake_tool(tmp_path / "ninja", log, "\n".join([
        'echo "[1/2] Building CXX object k.cc.o"',
        'echo "FAILED: k.cc.o"',
        "echo \"/src/k.cc:12:5: error: 'oops' was not declared in this scope\"",
        "echo \"/src/k.cc:12:5: error: 'oops' was not declared in this scope\"",
        'echo "ninja: build stopped: subcommand failed."', "exit 1"]))
    tools = build.BuildTools(Path("cmake"), ninja, "", Path("c++"), "")
    with pytest.raises(BuildError) as info:
        build.compile_project(tools, tmp_path, "kernels")
    assert info.value.message == "kernels: compiling failed at /src/k.cc:12:5"
    assert info.value.details == ["FAILED: k.cc.o",
                                  "/src/k.cc:12:5: error: 'oops' was not declared in this scope"]


def test_missing_cmake_is_a_clear_error(tmp_path, monkeypatch):
    from opforge.core import proc
    from opforge.core.errors import ToolchainError

    monkeypatch.setenv("OPFORGE_CMAKE", str(tmp_path / "nope"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(proc, "_bundled_script", lambda name: None)
    monkeypatch.setitem(__import__("sys").modules, "cmake", None)
    with pytest.raises(ToolchainError, match=r"cmake not found; looked at: \$OPFORGE_CMAKE="):
        proc.find_program("cmake", setting="cmake", module="cmake")
