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
