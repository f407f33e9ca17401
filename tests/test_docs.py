"""Generated docs must match the recipe model; the runtime loader must stay stdlib-only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from opforge.recipe import docgen
from opforge.artifacts import runtime

ROOT = Path(__file__).resolve().parents[1]


def test_recipe_reference_and_schema_are_current():
    for path, text in docgen.outputs(ROOT / "docs").items():
        assert path.read_text() == text, (f"{path.name} is stale: run "
                                          f"`python -m opforge.recipe.docgen`")


def test_schema_documents_every_field():
    import json

    schema = json.loads((ROOT / "docs/recipe.schema.json").read_text())
    for name, model in schema["$defs"].items():
        for key, prop in model["properties"].items():
            assert prop.get("description"), f"{name}.{key} has no docstring"


def test_runtime_loader_is_stdlib_only():
    tree = ast.parse(Path(runtime.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    frameworks = {"torch", "tensorflow", "onnxruntime", "tensorrt"}  # imported lazily, only for their own artifacts
    assert imported - frameworks <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_settings_table_is_current():
    from opforge.core import settings

    assert (ROOT / "docs/settings.md").read_text() == settings.render_markdown(), (
        "docs/settings.md is stale: run `python -m opforge.core.settings`")
