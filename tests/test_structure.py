"""The architecture, checked: each framework lives in its own folder under
src/opforge/frameworks/ and nothing outside it knows one framework from another; the modules
import each other without cycles; the runtime loader stays one stdlib-only file."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "opforge"
FRAMEWORKS = SRC / "frameworks"

# what a framework is called in code: registry keys, import names, common abbreviations
NAMES = ("pytorch", "torch", "tensorflow", "onnxruntime", "onnx", "tensorrt")
WORD = re.compile(r"(?<![a-z0-9])(" + "|".join(NAMES) + r")(?![a-z0-9])")
IDENTIFIER = re.compile("|".join(NAMES) + r"|(^|_)(tf|ort|trt)(_|$)", re.I)
# prose: keyword arguments that only explain (argparse help), docstrings
PROSE_KEYWORDS = {"help", "description", "epilog"}


def outside_frameworks() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if FRAMEWORKS not in p.parents)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
        if isinstance(node, ast.ClassDef):  # attribute docstrings (pydantic reads them)
            for before, stmt in zip(node.body, node.body[1:]):
                if isinstance(before, ast.Assign | ast.AnnAssign) and isinstance(
                        stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    ids.add(id(stmt.value))
    return ids


def _prose(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in PROSE_KEYWORDS:
            ids.update(id(n) for n in ast.walk(node.value))
    return ids


def framework_names_in(path: Path) -> list[str]:
    """Places in a module's code (not its docstrings, comments or help text) that name a
    framework: imports of one, identifiers and string literals that spell its name."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    exempt = _docstrings(tree) | _prose(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(SRC.parent)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in NAMES:
                    found.append(f"{where}: imports {module}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in exempt and WORD.search(node.value):
                found.append(f"{where}: string {node.value[:60]!r}")
        else:
            name = (node.id if isinstance(node, ast.Name) else node.attr
                    if isinstance(node, ast.Attribute) else node.name
                    if isinstance(node, ast.FunctionDef | ast.ClassDef) else node.arg
                    if isinstance(node, ast.arg) else None)
            if name and IDENTIFIER.search(name):
                found.append(f"{where}: identifier {name}")
    return sorted(found, key=lambda hit: int(hit.split(":")[1]))


def test_no_module_outside_frameworks_names_a_framework():
    found = [hit for path in outside_frameworks() for hit in framework_names_in(path)]
    assert not found, ("framework knowledge outside src/opforge/frameworks/ (ask the adapter "
                       "instead):\n  " + "\n  ".join(found))


def test_the_scanner_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""About PyTorch and pytorch, in a docstring."""\n'
                      'import torch\n'
                      'def f(fw, parser):\n'
                      '    parser.add_argument("--x", help="pytorch or tensorflow")\n'
                      '    if fw == "onnxruntime":\n'
                      '        return run_trt_engine()\n'
                      '    return {"tensorrt,plugins=": 1}\n'
                      'class Model:\n'
                      '    name: str\n'
                      '    """The torch namespace, in an attribute docstring."""\n'
                      '    "tensorflow"\n')
    global SRC
    saved, SRC = SRC, tmp_path
    try:
        hits = framework_names_in(sample)
    finally:
        SRC = saved
    assert [h.split(": ", 1)[1] for h in hits] == [
        "imports torch", "string 'onnxruntime'", "identifier run_trt_engine",
        "string 'tensorrt,plugins='", "string 'tensorflow'"], hits


# --- import cycles --------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The opforge modules a module imports, wherever in it (function-level imports too),
    except those only under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text("utf-8"))
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != me and target != "opforge":
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in SRC.rglob("*.py")}
    return {name: imports_of(path, set(paths)) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_modules_import_each_other_without_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# --- the runtime loader ---------------------------------------------------------------


def test_the_runtime_loader_is_one_stdlib_only_file():
    path = SRC / "artifacts" / "runtime.py"
    tree = ast.parse(path.read_text("utf-8"))
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"runtime.py line {node.lineno}: a relative import"
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in stdlib, f"runtime.py line {node.lineno}: imports {name}"



# --- the serve wrapper and the frameworks' runners ------------------------------------


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name} line {node.lineno}: a relative import"
            names.add((node.module or "").split(".")[0])
    return names


def test_the_serve_wrapper_and_runners_run_without_opforge():
    """Inside Triton's Python-backend stub opforge is not importable: the wrapper takes the
    standard library, numpy and the backend's utilities; each framework's runner (a file of
    its folder, loaded by path) adds only its framework."""
    from opforge import frameworks

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    wrapper = _imported(SRC / "deploy" / "serve_model.py")
    assert wrapper - stdlib == {"numpy", "triton_python_backend_utils"}, wrapper - stdlib
    runners = {name: fw.serve_runner for name, fw in frameworks.registry().items()
               if fw.serve_runner is not None}
    assert runners, "no framework can be served by the bundled server"
    for name, path in runners.items():
        assert path.parent == FRAMEWORKS / name and path.is_file(), path
        extra = _imported(path) - stdlib - {"numpy"}
        assert extra and extra <= set(NAMES), f"{path}: imports {sorted(extra)}"
        classes = {node.name: node for node in ast.parse(path.read_text("utf-8")).body
                   if isinstance(node, ast.ClassDef)}
        assert "Runner" in classes and any(
            isinstance(f, ast.FunctionDef) and f.name == "run" for f in classes["Runner"].body
        ), f"{path}: no Runner class with run()"


def test_serve_copies_the_runner_where_the_wrapper_looks():
    """serve.py copies a framework's runner beside the wrapper under the name the wrapper
    loads; the wrapper cannot import opforge, so each spells the name: they must agree."""
    from opforge.deploy import serve

    tree = ast.parse((SRC / "deploy" / "serve_model.py").read_text("utf-8"))
    (wrapper_name,) = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                       and [getattr(t, "id", "") for t in node.targets] == ["RUNNER"]]
    assert wrapper_name == serve.RUNNER
