"""The runtime loader as it ships: the framework-neutral core (artifacts/runtime.py) followed
by each framework's loader.py, one standalone file; inside opforge the same functions are
registered into the core."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opforge import frameworks
from opforge.artifacts import loader, runtime


def test_the_shipped_loader_is_the_core_then_each_framework_loader_verbatim():
    source = loader.shipped_source()
    parts = [Path(runtime.__file__)] + [fw.loader_source for fw in
                                        frameworks.registry().values()]
    texts = [p.read_text("utf-8").rstrip("\n") for p in parts]
    assert source.startswith(texts[0])  # the core's docstring and __future__ import lead
    position = 0
    for text in texts:
        position = source.index(text, position) + len(text)
    assert source[position:] == "\n"
    for fw in frameworks.registry().values():
        assert fw.loader_source.parent.name == fw.name
        assert fw.loader_source.name == "loader.py"


def standalone(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    """Run `code` with only the shipped loader importable: no site-packages (so neither
    opforge nor a framework), nothing from the environment."""
    folder = tmp_path / "shipped"  # alone on the path: nothing else there to import
    folder.mkdir()
    (folder / "opforge_runtime.py").write_text(loader.shipped_source(), "utf-8")
    prelude = f"import sys; sys.path.insert(0, {str(folder)!r})\n"
    return subprocess.run([sys.executable, "-I", "-S", "-c", prelude + code],
                          capture_output=True, text=True, cwd=folder)


def artifact(folder: Path, framework: dict) -> Path:
    folder.mkdir()
    (folder / "libops.so").write_bytes(b"not really a library")
    manifest = {"schema": runtime.SCHEMA, "library": "libops.so", "framework": framework,
                "files": {"libops.so": runtime.sha256_file(folder / "libops.so")}}
    (folder / runtime.MANIFEST).write_text(json.dumps(manifest), "utf-8")
    return folder


def test_the_shipped_loader_runs_without_opforge(tmp_path):
    unknown = artifact(tmp_path / "unknown", {"name": "nosuch", "title": "No Such",
                                              "version": "1.0"})
    refusing = artifact(tmp_path / "refusing", {"name": "refusing", "title": "Refusing",
                                                "version": "1.0"})
    result = standalone(tmp_path, f"""
import json
try:
    import opforge
    raise SystemExit("opforge is importable: the test does not prove the loader standalone")
except ModuleNotFoundError:
    pass
import opforge_runtime as rt
out = {{"frameworks": sorted(rt.FRAMEWORKS)}}
try:
    rt.load({str(unknown)!r})
except rt.LoadRefused as exc:
    out["unknown"] = str(exc)
# a framework that signals a refusal by returning None: the core raises LoadRefused
rt.register("refusing", lambda: {{"version": "1.0"}}, lambda library: None,
            refused="the registry refused {{library}}")
try:
    rt.load({str(refusing)!r})
except rt.LoadRefused as exc:
    out["refused"] = str(exc)
print(json.dumps(out))
""")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["frameworks"] == sorted(frameworks.registry())
    assert out["unknown"] == "this loader does not know framework 'nosuch'"
    assert out["refused"] == f"the registry refused {(refusing / 'libops.so').resolve()}"


@pytest.mark.parametrize("name", sorted(frameworks.registry()))
def test_a_framework_that_is_not_importable_is_an_import_error(tmp_path, name):
    """Standalone, with no site-packages, each framework's running_<name> imports its
    framework inside the function: the loader itself imports fine, a check fails there."""
    fw = frameworks.get(name)
    folder = artifact(tmp_path / "artifact", {"name": name, "title": fw.title, "version": "1.0"})
    result = standalone(tmp_path, f"""
import opforge_runtime as rt
try:
    rt.load({str(folder)!r})
except ImportError as exc:
    print("import error:", exc.name)
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("import error: "), result.stdout


def test_opforge_registers_the_same_loader_functions():
    loader.register_frameworks()
    for fw in frameworks.registry().values():
        registered = []
        fw.register_loader(lambda name, running, load_library, refused="", loaded=None:
                           registered.append((name, running, load_library, refused, loaded)))
        assert registered and registered[0][0] == fw.name
        assert runtime.FRAMEWORKS[fw.name] == registered[0][1:4]
        assert runtime.LOADED.get(fw.name) == registered[0][4]
