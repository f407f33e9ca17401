"""The build stage against a fake cmake and ninja: exact commands, stamps, diagnostics."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from opforge.build import cmake, file_api
from opforge.build.plan import BuildTools
from opforge.core.errors import BuildError, ToolchainError


def fake_tool(path: Path, log: Path, body: str = "") -> Path:
    path.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {log}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def tools(tmp_path) -> BuildTools:
    log = tmp_path / "calls.log"
    # the fake cmake creates what a real configure leaves behind, the File API reply to
    # opforge's query included
    cmake = fake_tool(tmp_path / "cmake", log,
                      'while [ $# -gt 0 ]; do [ "$1" = -B ] && mkdir -p "$2" && '
                      'touch "$2/build.ninja" "$2/CMakeCache.txt" && '
                      '[ -f "$2/.cmake/api/v1/query/client-opforge/codemodel-v2" ] && '
                      'mkdir -p "$2/.cmake/api/v1/reply" && '
                      'touch "$2/.cmake/api/v1/reply/index-1.json"; shift; done')
    ninja = fake_tool(tmp_path / "ninja", log, 'echo "[1/2] Building CXX object glue.cc.o"\n'
                                               'echo "[2/2] Linking CXX shared library x.so"')
    return BuildTools(cmake, ninja, "cmake version 3.99", Path("/usr/bin/c++"), "g++ 12")


def calls(tmp_path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def test_configure_runs_once_then_only_when_the_stamp_changes(tmp_path, tools):
    src, binary = tmp_path / "src", tmp_path / "bin"
    assert cmake.configure(tools, src, binary, {"toolchain": "a"}, {"X": "1"}) is True
    assert calls(tmp_path) == [f"{tools.cmake} -S {src} -B {binary} -G Ninja "
                               f"-DCMAKE_MAKE_PROGRAM={tools.ninja} "
                               f"-DCMAKE_CXX_COMPILER=/usr/bin/c++ -DX=1"]
    assert cmake.configure(tools, src, binary, {"toolchain": "a"}, {"X": "1"}) is False
    assert len(calls(tmp_path)) == 1
    (binary / "CMakeFiles").mkdir()
    (binary / "CMakeCache.txt").write_text("stale")
    assert cmake.configure(tools, src, binary, {"toolchain": "b"}, {"X": "1"}) is True
    assert (binary / "CMakeCache.txt").read_text() == ""  # wiped, then re-created by cmake
    assert not (binary / "CMakeFiles").exists()
    assert json.loads((binary / cmake.STAMP).read_text())["toolchain"] == "b"


def test_configure_runs_again_without_a_file_api_reply(tmp_path, tools):
    """A binary folder configured before opforge asked CMake's File API (same stamp, no
    reply) is configured again, so that the manifest can be read from the reply."""
    src, binary = tmp_path / "src", tmp_path / "bin"
    assert cmake.configure(tools, src, binary, {"toolchain": "a"}, {}) is True
    assert (binary / ".cmake/api/v1/query/client-opforge/codemodel-v2").is_file()
    shutil.rmtree(binary / ".cmake/api/v1/reply")
    assert cmake.configure(tools, src, binary, {"toolchain": "a"}, {}) is True
    assert cmake.configure(tools, src, binary, {"toolchain": "a"}, {}) is False


def test_init_cache_goes_first(tmp_path, tools):
    cmake.configure(tools, tmp_path / "s", tmp_path / "b", {}, {}, init_cache=tmp_path / "i.cmake")
    assert calls(tmp_path)[0].split()[1:3] == ["-C", str(tmp_path / "i.cmake")]


def test_compile_counts_compiler_runs(tmp_path, tools):
    assert cmake.compile_project(tools, tmp_path, "pytorch") == 1
    assert calls(tmp_path) == [f"{tools.ninja} -C {tmp_path}"]


def test_compile_failure_shows_file_and_line(tmp_path):
    log = tmp_path / "calls.log"
    ninja = fake_tool(tmp_path / "ninja", log, "\n".join([
        'echo "[1/2] Building CXX object k.cc.o"',
        'echo "FAILED: k.cc.o"',
        "echo \"/src/k.cc:12:5: error: 'oops' was not declared in this scope\"",
        "echo \"/src/k.cc:12:5: error: 'oops' was not declared in this scope\"",
        'echo "ninja: build stopped: subcommand failed."', "exit 1"]))
    tools = BuildTools(Path("cmake"), ninja, "", Path("c++"), "")
    with pytest.raises(BuildError) as info:
        cmake.compile_project(tools, tmp_path, "kernels")
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


# --- the CMake File API, on a real reply -----------------------------------------------

TINY_PROJECT = """cmake_minimum_required(VERSION 3.18)
project(tiny LANGUAGES CXX)
add_library(own_stub SHARED stub.cc)
add_library(base STATIC base.cc)
add_library(ops SHARED ops.cc)
target_include_directories(ops PRIVATE "${CMAKE_CURRENT_LIST_DIR}/include")
target_compile_definitions(ops PRIVATE _GLIBCXX_USE_CXX11_ABI=1 TINY_FLAG=2)
set_target_properties(ops PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
  CXX_EXTENSIONS OFF CXX_VISIBILITY_PRESET hidden)
target_link_libraries(ops PRIVATE own_stub base "${EXTERNAL}")
"""


@pytest.fixture(scope="module")
def tiny_reply(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny project configured by the bundled cmake: (binary folder, external library)."""
    tmp = tmp_path_factory.mktemp("file-api")
    try:
        tools = cmake.find_build_tools()
    except ToolchainError as exc:
        pytest.skip(f"no build tools: {exc.message}")
    src = tmp / "src"
    (src / "include").mkdir(parents=True)
    (src / "CMakeLists.txt").write_text(TINY_PROJECT)
    for name in ("stub.cc", "base.cc", "ops.cc"):
        (src / name).write_text("int f_%s() { return 1; }\n" % name[:-3])
    # a framework library with a soname, linked by its path as toolchains give them (CMake
    # turns a library without a soname into -l)
    external = tmp / "framework" / "libframework.so.2"
    external.parent.mkdir()
    (tmp / "framework.cc").write_text("int framework_thing() { return 2; }\n")
    subprocess.run([str(tools.compiler), "-shared", "-fPIC", "-Wl,-soname,libframework.so.2",
                    "-o", str(external), str(tmp / "framework.cc")], check=True)
    binary = tmp / "bin"
    cmake.configure(tools, src, binary, {}, {"CMAKE_BUILD_TYPE": "Release",
                                             "EXTERNAL": str(external)})
    return binary, external


def test_file_api_reader_reads_what_cmake_configured(tiny_reply):
    binary, external = tiny_reply
    target = file_api.read_target(binary, "ops")
    assert target.artifacts == [binary / "libops.so"]
    group = target.compile_group("CXX")
    assert group.standard == "17"
    assert {"_GLIBCXX_USE_CXX11_ABI=1", "TINY_FLAG=2"} <= set(group.defines)
    assert str(binary.parent / "src" / "include") in group.includes
    flags = target.cxx_flags().split()
    assert flags[0] == "-std=c++17" and "-fvisibility=hidden" in flags and "-O3" in flags
    # the project's own stub and static library are not "linked libraries" of the manifest
    assert target.linked_shared_libraries() == [str(external)]
    assert binary / "libown_stub.so" in target.dependency_artifacts


def test_file_api_missing_or_malformed_reply_names_the_folder(tiny_reply, tmp_path):
    binary, _ = tiny_reply
    with pytest.raises(BuildError) as info:
        file_api.read_target(binary, "no_such_target")
    assert str(binary) in info.value.message and "'no_such_target'" in info.value.message
    with pytest.raises(BuildError) as info:
        file_api.read_target(tmp_path, "ops")
    assert f"reply in {tmp_path} is missing or malformed" in info.value.message
    broken = tmp_path / "broken"
    shutil.copytree(binary / ".cmake", broken / ".cmake")
    index = max((broken / ".cmake/api/v1/reply").glob("index-*.json"))
    index.write_text("{ not json")
    with pytest.raises(BuildError) as info:
        file_api.read_target(broken, "ops")
    assert f"reply in {broken} is missing or malformed" in info.value.message
