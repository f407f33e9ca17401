"""Exit codes are a stable interface (docs/cli.md): every documented code is produced here by
a real command failing in that way (a table of (code, command), one row per code), and the
table covers every code of the docs. Each command's --json output is checked against
docs/cli.schema.json by conftest.opforge, its error kind against the docs' table.

Rows reuse the session's build of the example; only the build failure (5) compiles.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CLI_SCHEMA, EXAMPLE, ROOT, have, opforge
from opforge.core import errors
from opforge.cli.parser import make_parser


def documented_codes() -> dict[int, str]:
    text = (ROOT / "docs" / "cli.md").read_text("utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| [^|]+\| ([^|]*)\|", section, re.M)}


def error_classes() -> list[type[errors.OpforgeError]]:
    return [c for c in vars(errors).values() if isinstance(c, type)
            and issubclass(c, errors.OpforgeError) and c is not errors.OpforgeError]


def test_docs_table_matches_the_error_classes():
    codes = documented_codes()
    assert set(codes) == {c.exit_code for c in error_classes()} | {0, 130, 143}
    for cls in error_classes():
        assert f"`{cls.kind}`" in codes[cls.exit_code], cls
    kinds = CLI_SCHEMA["$defs"]["error"]["properties"]["error"]["properties"]["kind"]["enum"]
    assert set(kinds) == {c.kind for c in error_classes()} | {"error"}


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


# --- one real command per documented exit code ------------------------------------------


def example_with(folder: Path, path: str, old: str, new: str) -> Path:
    """A copy of the example recipe folder with one edit to one of its files; the recipe."""
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    text = (folder / path).read_text()
    assert old in text, (path, old)
    (folder / path).write_text(text.replace(old, new))
    return folder / "recipe.toml"


def needs(*modules: str) -> None:
    for module in modules:
        if not have(module):
            pytest.skip(f"{module} is not installed (pip install 'opforge[all]')")


def releases_show(request, tmp_path):
    return opforge("releases", "show", "24.09", "--json")


def unknown_release(request, tmp_path):
    return opforge("releases", "show", "99.99", "--json")


def framework_not_the_release_pin(request, tmp_path):
    needs("torch")
    recipe = request.getfixturevalue("example_copy") / "recipe.toml"
    return opforge("build", str(recipe), "--release", "24.09", "--framework", "pytorch",
                   "--json")


def sdk_headers_missing(request, tmp_path):
    from opforge.frameworks.onnxruntime import sdk

    if any(sdk.location(Path(p), "") for p in sdk.WELL_KNOWN):
        pytest.skip("ONNX Runtime headers are installed at a well-known path here")
    (tmp_path / "empty").mkdir()
    return opforge("sdk", "where", "onnxruntime", "--json",
                   env={"ONNXRUNTIME_ROOT": str(tmp_path / "empty"),
                        "OPFORGE_CACHE_DIR": str(tmp_path)})


def kernel_does_not_compile(request, tmp_path):
    needs("torch")
    recipe = example_with(tmp_path / "addsub", "kernels/addsub.cc", "sum[i] = T(x + y);",
                          "sum[i] = nope(x);")
    return opforge("build", str(recipe), "--release", "local", "--framework", "pytorch",
                   "--json")


def vector_expects_a_wrong_value(request, tmp_path):
    built = request.getfixturevalue("built_example")
    recipe = example_with(tmp_path / "addsub", "recipe.toml", "sum = [1.5, 2.5, 2.0]",
                          "sum = [1.5, 2.5, 2.5]")
    return opforge("test", str(recipe), "--release", "local", "--framework", "pytorch",
                   "--out", built["out_dir"], "--json")


def library_tampered_with(request, tmp_path):
    recipe = request.getfixturevalue("example_copy") / "recipe.toml"
    return opforge("test", str(recipe), "--release", "local", "--framework", "pytorch",
                   "--out", str(request.getfixturevalue("tampered")), "--json")


def library_without_its_entry_point(request, tmp_path):
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler (apt-get install g++)")
    (tmp_path / "x.cc").write_text('extern "C" int helper() { return 1; }\n')
    subprocess.run([compiler, "-shared", "-fPIC", str(tmp_path / "x.cc"), "-o",
                    str(tmp_path / "libx.so")], check=True)
    (tmp_path / "manifest.json").write_text(json.dumps({
        "schema": "opforge-manifest/1", "library": "libx.so", "release": {"id": "local"},
        "framework": {"name": "onnxruntime", "title": "ONNX Runtime", "version": "1.0"},
        "files": {}}))
    return opforge("check", str(tmp_path), "--no-load", "--json")


def no_server_at_the_url(request, tmp_path):
    if not have("tritonclient"):
        pytest.skip("opforge verify needs tritonclient (pip install 'opforge[verify]')")
    from opforge.deploy.serve import free_port

    return opforge("verify", str(EXAMPLE / "recipe.toml"), "--url",
                   f"127.0.0.1:{free_port()}", "--json")


def interrupted_while_testing(request, tmp_path, sig=signal.SIGINT):
    """SIGINT (a terminal's Ctrl-C) once the test vectors run: opforge hands it on to its
    children and exits 130."""
    built = request.getfixturevalue("built_example")
    child = subprocess.Popen([sys.executable, "-m", "opforge", "test",
                              str(request.getfixturevalue("example_copy") / "recipe.toml"),
                              "--release", "local", "--out", built["out_dir"]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "NO_COLOR": "1"})
    seen = []
    for line in child.stderr:
        seen.append(line)
        if line.startswith("==> test vectors"):
            child.send_signal(sig)
            break
    stdout, rest = child.communicate(timeout=300)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout,
                                       "".join(seen) + rest)


def terminated_while_testing(request, tmp_path):
    """SIGTERM (a CI runner cancelling the job) once the test vectors run: handed on to the
    children as well, exit 143."""
    return interrupted_while_testing(request, tmp_path, signal.SIGTERM)


EXITS = {
    0: releases_show,
    2: unknown_release,
    3: framework_not_the_release_pin,
    4: sdk_headers_missing,
    5: kernel_does_not_compile,
    6: vector_expects_a_wrong_value,
    7: library_tampered_with,
    8: library_without_its_entry_point,
    9: no_server_at_the_url,
    130: interrupted_while_testing,
    143: terminated_while_testing,
}


def test_every_documented_code_has_a_command():
    assert set(EXITS) == set(documented_codes())


@pytest.mark.parametrize("code", list(EXITS), ids=[f"{c}-{f.__name__}" for c, f in
                                                   EXITS.items()])
def test_exit_code(code, request, tmp_path):
    result = EXITS[code](request, tmp_path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    # an error document (the reports of test and check are none): its kind is the one the
    # docs give for the code
    error = json.loads(result.stdout).get("error") if result.stdout.startswith("{") else None
    assert (error is not None) == (code in (2, 3, 4, 5, 9)), result.stdout
    if error is not None:
        assert f"`{error['kind']}`" in documented_codes()[code], error


def test_loader_refusal_says_why(tampered, example_copy, tmp_path):
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
def test_ctrl_c_during_a_build_publishes_nothing(tmp_path):
    if not have("torch"):
        pytest.skip("PyTorch is not installed (pip install 'opforge[pytorch]')")
    folder = tmp_path / "addsub"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    child = subprocess.Popen([sys.executable, "-m", "opforge", "build",
                              str(folder / "recipe.toml"), "--release", "local",
                              "--framework", "pytorch"], stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "NO_COLOR": "1"})
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
