"""Exit codes are a stable interface (docs/cli.md): each documented code is produced by the
CLI in some test, and the codes 7 (loader refused) and 130 (interrupted) are exercised here.
Each command's --json output is checked against docs/cli.schema.json by conftest.opforge."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import CLI_SCHEMA, EXAMPLE, ROOT, have, opforge
from opforge import errors
from opforge.cli import make_parser

TESTS = ROOT / "tests"


def documented_codes() -> dict[int, str]:
    text = (ROOT / "docs" / "cli.md").read_text("utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| [^|]+\| ([^|]*)\|", section, re.M)}


def error_classes() -> list[type[errors.OpforgeError]]:
    return [c for c in vars(errors).values() if isinstance(c, type)
            and issubclass(c, errors.OpforgeError) and c is not errors.OpforgeError]


def test_docs_table_matches_the_error_classes():
    codes = documented_codes()
    assert set(codes) == {c.exit_code for c in error_classes()} | {0, 130}
    for cls in error_classes():
        assert f"`{cls.kind}`" in codes[cls.exit_code], cls
    kinds = CLI_SCHEMA["$defs"]["error"]["properties"]["error"]["properties"]["kind"]["enum"]
    assert set(kinds) == {c.kind for c in error_classes()} | {"error"}


def test_every_documented_code_is_asserted_by_a_test():
    text = "\n".join(p.read_text("utf-8") for p in TESTS.glob("test_*.py"))
    for code in documented_codes():
        pattern = rf"(returncode|code|\)) == {code}\b|expect={code}\b"
        assert re.search(pattern, text), f"no test asserts exit code {code}"


def test_every_command_has_json_and_a_documented_schema():
    sub = next(a for a in make_parser()._actions if a.dest == "command")
    docs = (ROOT / "docs" / "cli.md").read_text("utf-8")
    defs = CLI_SCHEMA["$defs"]
    names = {"releases": ["releases-list", "releases-show"], "serve": ["serve-event"],
             "matrix": ["matrix", "matrix-github"]}
    for command, parser in sub.choices.items():
        assert "--json" in parser.format_help(), command
        for name in names.get(command, [command]):
            assert name in defs and defs[name].get("description"), name
            assert f"#/$defs/{name}" in docs, f"docs/cli.md does not point at {name}"
        assert f"## `opforge {command}" in docs, command


@pytest.fixture(scope="module")
def tampered(built_example, tmp_path_factory):
    """The example's artifacts with one byte of the PyTorch library changed."""
    dist = tmp_path_factory.mktemp("tampered") / "dist"
    shutil.copytree(built_example["out_dir"], dist)
    library = next((dist / "local" / "pytorch").glob("*.so"))
    data = bytearray(library.read_bytes())
    data[-1] ^= 0xFF
    library.write_bytes(bytes(data))
    return dist


def test_loader_refusal_is_exit_7(tampered, example_copy, tmp_path):
    result = opforge("test", str(example_copy / "recipe.toml"), "--release", "local",
                     "--framework", "pytorch", "--out", str(tampered), "--json")
    assert result.returncode == 7, result.stderr
    report = json.loads(result.stdout)
    assert "the loader refused it" in report["errors"][0] and "sha256" in report["errors"][0]
    repo = tmp_path / "models"
    (repo / "passthrough").mkdir(parents=True)
    (repo / "passthrough" / "config.pbtxt").write_text('backend: "python"\n')
    result = opforge("package", str(example_copy / "recipe.toml"), "--release", "local",
                     "--out", str(tampered), "--model-repository", str(repo), "--json")
    assert result.returncode == 7, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "loader-error" and "sha256" in error["message"]
    assert "Traceback" not in result.stderr
    assert [p.name for p in repo.rglob("*")] == ["passthrough", "config.pbtxt"]


@pytest.mark.integration
def test_ctrl_c_is_exit_130_and_publishes_nothing(tmp_path):
    if not have("torch"):
        pytest.skip("PyTorch is not installed (pip install 'opforge[pytorch]')")
    folder = tmp_path / "addsub"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    child = subprocess.Popen([sys.executable, "-m", "opforge", "build",
                              str(folder / "recipe.toml"), "--release", "local",
                              "--framework", "pytorch"], stderr=subprocess.PIPE, text=True,
                             env={**__import__("os").environ, "NO_COLOR": "1"})
    seen = []
    for line in child.stderr:
        seen.append(line)
        if line.startswith("==> compile"):
            child.send_signal(signal.SIGINT)
            break
    rest = child.stderr.read()
    assert child.wait(timeout=120) == 130, "".join(seen) + rest
    assert "error: interrupted" in rest and "Traceback" not in rest
    assert not (folder / "dist").exists()
