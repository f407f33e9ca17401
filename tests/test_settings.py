"""The settings layer: one precedence rule (flag > OPFORGE_* variable > recipe > default) for
every setting, the only place that reads OPFORGE_* variables, and every command that reads
the release table honouring --releases-file and $OPFORGE_RELEASES_FILE alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, opforge
from opforge.cli.parser import make_parser
from opforge.core import settings


def test_a_flag_beats_the_environment_beats_the_recipe_beats_the_default():
    env = {"OPFORGE_COMPILER_LAUNCHER": "ccache"}
    flag = {"compiler_launcher": "sccache"}
    recipe = {"compiler_launcher": "none"}
    chosen = [settings.read(flag, recipe, env), settings.read({}, recipe, env),
              settings.read({}, recipe, {}), settings.read({}, {}, {})]
    assert [s.compiler_launcher for s in chosen] == ["sccache", "ccache", "none", "auto"]
    assert [s.origin("compiler_launcher") for s in chosen] == [
        "--compiler-launcher", "$OPFORGE_COMPILER_LAUNCHER",
        "build.compiler_launcher of the recipe", "default"]


def test_variables_become_typed_values_and_empty_ones_count_as_unset(tmp_path):
    read = settings.read(environ={"OPFORGE_RELEASES_FILE": str(tmp_path / "r.toml"),
                                  "OPFORGE_CI": "GitLab", "OPFORGE_NVCC": "",
                                  "OPFORGE_CACHE_DIR": str(tmp_path)})
    assert read.releases_file == tmp_path / "r.toml"
    assert read.ci == "gitlab"
    assert read.nvcc is None and read.origin("nvcc") == "default"
    assert read.cache_dir == tmp_path
    assert settings.read(environ={"XDG_CACHE_HOME": "/x"}).cache_dir != tmp_path


def test_a_setting_without_a_flag_or_recipe_key_ignores_them():
    read = settings.read(flags={"cache_dir": Path("/flag")}, recipe={"nvcc": Path("/r")},
                         environ={})
    assert read.origin("cache_dir") == "default" and read.nvcc is None


def test_every_setting_has_a_docstring_and_a_documented_default():
    docs = settings.docstrings()
    for f in settings.fields():
        assert docs.get(f.name), f"setting {f.name} has no docstring"
        assert f.metadata["env"].startswith("OPFORGE_")
        assert f.metadata["default_doc"] or f.default is not None, f.name


def test_only_the_settings_layer_reads_opforge_variables():
    reads = re.compile(r"""environ(\.get)?\s*[\[(]\s*f?["']OPFORGE_""")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "src" / "opforge").rglob("*.py")
             if p.name != "settings.py" or p.parent.name != "core"
             for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
             if reads.search(line)]
    assert not found, "read OPFORGE_* through opforge.core.settings instead: " + ", ".join(found)


# --- the releases file, the same way for every command ----------------------------------

RECIPE = str((EXAMPLE / "recipe.toml").relative_to(ROOT))
# every command that reads the release table, with arguments that get it that far
READS_THE_TABLE = {
    "releases": [], "doctor": [], "check": ["."],
    "build": [RECIPE, "--release", "24.09"], "test": [RECIPE, "--release", "24.09"],
    "wheel": [RECIPE, "--release", "24.09"], "matrix": [RECIPE, "--releases", "24.09"],
    "package": [RECIPE, "--release", "24.09", "--model-repository", ".", "--dry-run"],
}
# these take the common flags but never read the table
NO_TABLE = {"serve", "verify", "new", "sdk", "describe"}


def test_the_commands_that_take_a_releases_file_are_all_known():
    sub = next(a for a in make_parser()._actions if a.dest == "command")
    taking = {name for name, p in sub.choices.items()
              if any("--releases-file" in a.option_strings for a in p._actions)}
    assert taking == set(READS_THE_TABLE) | NO_TABLE


@pytest.mark.parametrize("command", sorted(READS_THE_TABLE))
def test_every_command_honours_the_releases_file_variable_and_the_flag_beats_it(
        command, tmp_path):
    by_env, by_flag = tmp_path / "from-env.toml", tmp_path / "from-flag.toml"
    env = {"OPFORGE_RELEASES_FILE": str(by_env)}
    result = opforge(command, *READS_THE_TABLE[command], cwd=ROOT, env=env)
    assert result.returncode == 2, result.stderr
    assert f"releases file {by_env} does not exist" in result.stderr
    result = opforge(command, *READS_THE_TABLE[command], "--releases-file", str(by_flag),
                     cwd=ROOT, env=env)
    assert result.returncode == 2, result.stderr
    assert f"releases file {by_flag} does not exist" in result.stderr
