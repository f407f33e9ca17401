"""Test vectors: run every op's vectors against every built library, one child process per
framework (frameworks never share a process, so their libraries and globals stay apart).

The parent (`run_all`) finds the artifacts, starts `python -m opforge.artifacts.vectors MANIFEST
SPEC`, and reads one JSON result per vector from the child's stdout.

Reference checks (`[[ops.checks]]`) run in the same child: it draws the inputs with the check's
seed (the same in every framework), calls the op and the recipe's reference function (user
code, imported by path from the recipe's folder, never evaluated from recipe text) and
compares like a vector's `expect`. The parent imports every reference once first, so that a
missing file or function is a recipe error before any child starts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from opforge.core import log, proc, tables
from opforge.artifacts import loader, runtime
from opforge.core.errors import LoaderError, RecipeError, TestFailure, UserError
from opforge.recipe import dtypes

CHILD_TIMEOUT_S = 600


def spec_for(recipe) -> dict:
    """What the child needs of the recipe, as plain JSON."""
    def spec(op, framework: str | None, key: str) -> dict:
        return {"name": op.name, "framework": framework, "native": framework is not None,
                "inputs": [{"name": t.name, "dtype": t.dtype,
                            "optional": getattr(t, "optional", False)} for t in op.inputs],
                "outputs": [{"name": t.name, "dtype": t.dtype} for t in op.outputs],
                "attrs": {a.name: a.default for a in op.attrs},
                "types": {k: list(v) for k, v in op.types.items()},
                "tests": [v.model_dump() for v in op.tests],
                "checks": [check_spec(recipe, c, i, f"{key}.checks[{i}].reference")
                           for i, c in enumerate(op.checks)]}

    return {"namespace": recipe.package.namespace,
            "ops": [spec(op, None, f"ops[{i}]") for i, op in enumerate(recipe.ops)] +
                   [spec(op, n.framework, f"native[{k}].ops[{j}]")
                    for k, n in enumerate(recipe.model.native) for j, op in enumerate(n.ops)]}


def check_spec(recipe, check, index: int, key: str) -> dict:
    file, function = check.reference_parts()
    return {**check.model_dump(), "label": check.label(index), "key": key,
            "file": str(recipe.source(file)), "function": function}


class ReferenceProblem(Exception):
    """A reference function that cannot be had: its file does not import, or lacks it."""


def load_reference(file: str, function: str):
    """The function `function` of the Python file `file`, imported by path (a module of its
    own per file, loaded once per process)."""
    name = "opforge_reference_" + hashlib.sha256(file.encode()).hexdigest()[:16]
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise ReferenceProblem(f"{file} cannot be imported as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look their module up here
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:  # the user's module: any failure is theirs to fix
            del sys.modules[name]
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ReferenceProblem(f"{file} failed to import: {error_message(exc)}") from None
    found = getattr(module, function, None)
    if not callable(found):
        raise ReferenceProblem(f"{file} has no function {function!r}")
    return found


def check_references(recipe, spec: dict) -> None:
    """Import every check's reference here first: a missing file or function, or one that
    fails to import, is a recipe error naming the check's key."""
    problems = []
    for op in spec["ops"]:
        for check in op["checks"]:
            try:
                load_reference(check["file"], check["function"])
            except ReferenceProblem as exc:
                problems.append(f"{recipe.path}: {check['key']}: {exc}")
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise RecipeError(f"recipe {recipe.path} has {len(problems)} {noun}", details=problems)


# what a check draws when it gives no range
DEFAULT_FLOAT_RANGE = (-1.0, 1.0)
DEFAULT_INT_RANGE = (-10, 10)


def draw(rng, shape: list[int], dtype: str, value_range: list[float] | None = None):
    """Random values of a recipe dtype: uniform in [low, high) for floats, integers from low
    to high inclusive, bools with equal odds."""
    import numpy as np

    kind = dtypes.FACTS[dtype].kind
    if kind == "bool":
        return rng.random(size=tuple(shape)) < 0.5
    if kind == "int":
        least, greatest = dtypes.INT_RANGES[dtype]
        low, high = value_range or (max(DEFAULT_INT_RANGE[0], least),
                                    min(DEFAULT_INT_RANGE[1], greatest))
        values = rng.integers(int(low), int(high), size=tuple(shape), endpoint=True,
                              dtype=np.int64)
        return np.asarray(values).astype(dtypes.numpy_dtype(dtype))
    low, high = value_range or DEFAULT_FLOAT_RANGE
    values = rng.uniform(low, high, size=tuple(shape))
    return np.asarray(values).astype(dtypes.numpy_dtype(dtype))


def reference_outputs(result, outputs: list[str]) -> dict:
    """A reference function's return value as {output name: value}: a dict by name, a tuple
    (or list) in output order, or, for an op with one output, the value itself."""
    if isinstance(result, dict):
        unknown = sorted(str(k) for k in result if k not in outputs)
        if unknown:
            raise ReferenceProblem(f"returned {', '.join(unknown)}, which are not outputs "
                                   f"({', '.join(outputs)})")
        return dict(result)
    if len(outputs) == 1:
        return {outputs[0]: result}
    if not isinstance(result, tuple | list) or len(result) != len(outputs):
        raise ReferenceProblem(f"must return {len(outputs)} values (a tuple in the order "
                               f"{', '.join(outputs)}, or a dict by name), not "
                               f"{type(result).__name__}"
                               + (f" of {len(result)}" if isinstance(result, tuple | list)
                                  else ""))
    return dict(zip(outputs, result))


def expand(op: dict, vector: dict) -> list[dict[str, str]]:
    """One binding of type variables per run: fixed ones from the vector, the rest all."""
    free = [v for v in op["types"] if v not in vector["types"]]
    return [{**vector["types"], **dict(zip(free, combo))}
            for combo in itertools.product(*(op["types"][v] for v in free))]


def compare(got, expected, dtype: str, atol: float | None, rtol: float | None) -> dict:
    import numpy as np

    atol, rtol = tolerances(dtype, atol, rtol)
    # compared in float64, whatever the dtype (bfloat16 and FP8 arrays are ml_dtypes')
    exp = np.asarray(expected, dtype=np.float64)
    out = np.asarray(got).astype(np.float64)
    if out.shape != exp.shape:
        return {"ok": False, "max_error": None,
                "why": f"shape {list(out.shape)}, expected {list(exp.shape)}"}
    same = (out == exp) | (np.isnan(out) & np.isnan(exp))  # infinities and NaNs as expected
    with np.errstate(invalid="ignore"):  # inf - inf: a NaN error, which fails below
        err = np.where(same, 0.0, np.abs(out - exp))
    allowed = atol + rtol * np.abs(exp)
    max_error = float(err.max()) if err.size else 0.0
    ok = bool(np.all(same | (err <= allowed)))
    if ok:
        return {"ok": True, "max_error": max_error, "why": ""}
    # the worst element: the one furthest past its tolerance (a NaN error is the furthest)
    excess = np.where(np.isnan(err), np.inf, err - allowed)
    worst = worst_element(out, exp, tuple(int(i) for i in np.unravel_index(
        int(np.argmax(excess)), exp.shape)))
    return {"ok": False, "max_error": max_error, "worst": worst,
            "why": f"max error {max_error:.3g} > atol {atol:g} + rtol {rtol:g}; "
                   + worst_text(worst)}


def tolerances(dtype: str, atol: float | None, rtol: float | None) -> tuple[float, float]:
    """(atol, rtol) for comparing `dtype` values: the given ones, else the dtype's defaults."""
    facts = dtypes.FACTS[dtype]
    return (facts.atol if atol is None else atol), (facts.rtol if rtol is None else rtol)


def worst_element(out, exp, index: tuple[int, ...]) -> dict:
    got, expected = float(out[index]), float(exp[index])
    abs_error = abs(got - expected)
    return {"index": list(index), "got": got, "expected": expected, "abs_error": abs_error,
            "rel_error": abs_error / abs(expected) if expected != 0 else None}


def worst_text(worst: dict) -> str:
    rel = worst["rel_error"]
    return (f"worst at {worst['index']}: got {worst['got']:.7g}, expected "
            f"{worst['expected']:.7g} (abs error {worst['abs_error']:.3g}, rel error "
            f"{'-' if rel is None else format(rel, '.3g')})")


def run_in_child(manifest_path: str, spec: dict, device: str = "cpu") -> None:
    """Child side: load the library, run every vector, print one JSON line each."""
    from opforge.frameworks import get

    manifest = runtime.read_manifest(manifest_path)
    adapter = get(manifest["framework"]["name"])
    try:
        handle = loader.load(manifest_path)
    except runtime.LoadRefused as exc:
        print(json.dumps({"fatal": f"the loader refused it: {exc}", "refused": True}),
              flush=True)
        return
    framework = manifest["framework"]["name"]
    built = {o["name"]: o for o in manifest["ops"]}
    for op in spec["ops"]:
        if op["framework"] not in (None, framework):
            continue  # another framework's native op
        if why := op_untestable(op["name"], built.get(op["name"]), device):
            print(json.dumps({"skipped_op": op["name"], "reason": why}), flush=True)
            continue
        run_vectors(adapter, handle, spec, op, device)
        run_checks(adapter, handle, spec, op, device)


def op_untestable(name: str, built: dict | None, device: str) -> str | None:
    """Why the op `name` cannot run on `device` from a library whose manifest lists `built`
    for it (None: the build left it out), or None."""
    if built is None:
        return (f"op {name} is not in the library: the build left it out, having no kernel "
                f"for the devices it was built for")
    devices = built.get("devices")  # kernel ops; native ops register what they register
    if devices is not None and device not in devices:
        return (f"op {name} has no {device} kernel in the library (only "
                f"{', '.join(devices)}); its tests run with `opforge test --device "
                f"{devices[0]}`{' on a machine with a GPU' if devices[0] == 'cuda' else ''}")
    return None


def run_vectors(adapter, handle, spec: dict, op: dict, device: str) -> None:
    """Child side: an op's test vectors, one JSON line each."""
    import numpy as np

    for index, vector in enumerate(op["tests"]):
        for binding in expand(op, vector):
            inputs = {t["name"]: np.asarray(vector["inputs"][t["name"]],
                                            dtype=dtypes.numpy_dtype(dtype_of(t, binding)))
                      for t in op["inputs"] if t["name"] in vector["inputs"]}  # optional: absent
            row = {"op": op["name"], "vector": vector["name"] or str(index), "types": binding,
                   "outputs": {}}
            try:
                got = adapter.call_op(handle, spec, op, inputs, attrs_of(op, vector), device)
            except Exception as exc:  # the op's own error is a test result, not a crash
                judge(row, op, vector, binding, error=exc)
            else:
                judge(row, op, vector, binding, got=got)
            print(json.dumps(row), flush=True)


def dtype_of(tensor: dict, binding: dict) -> str:
    return binding.get(tensor["dtype"], tensor["dtype"])


def attrs_of(op: dict, test: dict) -> dict:
    """A vector's or check's attribute values, defaults filled in."""
    return {**{k: v for k, v in op["attrs"].items() if v is not None}, **test["attrs"]}


def run_checks(adapter, handle, spec: dict, op: dict, device: str) -> None:
    """Child side: an op's reference checks, one JSON line per sample and type binding. The
    inputs come from a Generator seeded with the check's seed, per binding, so every
    framework sees the same ones."""
    import numpy as np

    for check in op["checks"]:
        for binding in expand(op, check):
            rng = np.random.default_rng(check["seed"])
            for sample in range(check["samples"]):
                inputs = {t["name"]: draw(rng, check["inputs"][t["name"]]["shape"],
                                          dtype_of(t, binding),
                                          check["inputs"][t["name"]]["range"])
                          for t in op["inputs"] if t["name"] in check["inputs"]}
                row = {"op": op["name"], "vector": f"{check['label']}[{sample}]",
                       "types": binding, "outputs": {}, "kind": "check",
                       "seed": check["seed"]}
                print(json.dumps(run_check(adapter, handle, spec, op, check, binding, inputs,
                                           row, device)), flush=True)


def run_check(adapter, handle, spec: dict, op: dict, check: dict, binding: dict,
              inputs: dict, row: dict, device: str) -> dict:
    """One sample of a check: the op and the reference on the same inputs, compared."""
    attrs = attrs_of(op, check)
    try:
        function = load_reference(check["file"], check["function"])
        # the reference gets copies: a reference writing into its inputs changes nothing
        # an optional input a check leaves out reaches the reference as None
        result = function(*(inputs[t["name"]].copy() if t["name"] in inputs else None
                            for t in op["inputs"]), **attrs)
        expect = reference_outputs(result, [t["name"] for t in op["outputs"]])
    except Exception as exc:  # the user's reference: its failure is a result row
        why = str(exc) if isinstance(exc, ReferenceProblem) else error_message(exc)
        row["error"] = f"the reference {check['function']} ({check['key']}) failed: {why}"
        return row
    expected = {"expect": expect, "error": None, "atol": check["atol"], "rtol": check["rtol"]}
    try:
        got = adapter.call_op(handle, spec, op, inputs, attrs, device)
    except Exception as exc:  # the op's own error is a test result, not a crash
        return judge(row, op, expected, binding, error=exc)
    return judge(row, op, expected, binding, got=got)


def error_message(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def judge(row: dict, op: dict, vector: dict, binding: dict, got: dict | None = None,
          error: BaseException | None = None) -> dict:
    """Fill a result row's outputs (or error) from what the op returned or raised, against
    the vector's expectations: outputs within tolerance, or the error it expects."""
    if error is not None:
        if vector["error"] is not None and vector["error"] in str(error):
            row["outputs"]["error"] = {"ok": True, "max_error": None, "why": ""}
        else:
            row["error"] = error_message(error)
        return row
    if vector["error"] is not None:
        row["error"] = f"expected an error containing {vector['error']!r}, but the op succeeded"
    dtypes = {t["name"]: binding.get(t["dtype"], t["dtype"]) for t in op["outputs"]}
    for name, expected in vector["expect"].items():
        if name not in got:  # expected but absent is a failure, never a pass by omission
            row["outputs"][name] = {"ok": False, "max_error": None, "why": (
                f"not returned (it returned {', '.join(sorted(got)) or 'no output'})")}
        else:
            row["outputs"][name] = compare(got[name], expected, dtypes[name], vector["atol"],
                                           vector["rtol"])
    if not row["outputs"] and "error" not in row:
        row["error"] = ("nothing to compare: the vector expects no output of "
                        f"{op['name']} ({', '.join(t['name'] for t in op['outputs'])})")
    return row


def finish(row: dict) -> dict:
    """Add ok, max_error and why to a result row from its per-output comparisons."""
    oks = [o["ok"] for o in row["outputs"].values()]
    errs = [o["max_error"] for o in row["outputs"].values() if o["max_error"] is not None]
    why = row.get("error") or "; ".join(f"{k}: {o['why']}" for k, o in row["outputs"].items()
                                        if not o["ok"])
    row.update(ok="error" not in row and all(oks), max_error=max(errs) if errs else None,
               why=why)
    return row


@dataclass
class Report:
    rows: list[dict] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    skipped_ops: dict[str, str] = field(default_factory=dict)  # op -> why it did not run
    refused: list[str] = field(default_factory=list)  # of `fatal`: the loader refused these

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if not r["ok"]]

    def exit_code(self) -> int:
        """6 when a vector failed or an op could not run; 7 when the only trouble is a
        library the runtime loader refused (checksum, version); else 0."""
        if self.failed or len(self.fatal) > len(self.refused):
            return TestFailure.exit_code
        return LoaderError.exit_code if self.refused else 0

    def to_json(self) -> dict:
        return {"passed": len(self.rows) - len(self.failed), "failed": len(self.failed),
                "errors": self.fatal, "results": self.rows,
                "skipped": [{"framework": n, "reason": why} for n, why in self.skipped.items()],
                "skipped_ops": [{"op": n, "reason": why}
                                for n, why in self.skipped_ops.items()]}

    def print_table(self) -> None:
        by_model = any("model" in r for r in self.rows)  # opforge verify
        header = ["op", "framework", *(["model"] if by_model else []), "vector", "types",
                  "result", "max error"]
        lines = [header]
        for r in self.rows:
            types = ",".join(f"{k}={v}" for k, v in r["types"].items()) or "-"
            err = r["max_error"]
            lines.append([r["op"], r["framework"], *([r.get("model", "-")] if by_model else []),
                          r["vector"], types, "pass" if r["ok"] else "FAIL",
                          "-" if err is None else f"{err:.3g}"])
        for text in tables.lines(lines):
            print(text.replace("FAIL", log.style("FAIL", "red", "bold")))
        for r in self.failed:
            where = r.get("model", r["framework"])
            print(log.style(f"{r['op']} [{where}] {r['vector']}: {r['why']}", "red"))
        for message in self.fatal:
            print(log.style(message, "red"))
        for name in self.skipped:
            print(log.style(f"{name}: skipped ({self.skipped[name]})", "yellow"))
        for name, why in self.skipped_ops.items():
            print(log.style(f"{name}: skipped ({why})", "yellow"))
        print(f"{len(self.rows) - len(self.failed)} passed, {len(self.failed)} failed")


def artifact_dirs(out_dir: Path, release_id: str, names: list[str], explicit: bool
                  ) -> tuple[dict[str, Path], dict[str, str]]:
    """Artifact folders per framework. A framework only listed in the recipe whose artifact is
    absent (its SDK was missing at build time) is skipped with the reason; one asked for with
    --framework must be there."""
    found, skipped = {}, {}
    for name in names:
        folder = out_dir / release_id / name
        if (folder / runtime.MANIFEST).is_file():
            found[name] = folder
            continue
        why = (f"no {name} artifact for release {release_id} in {out_dir} (looked for "
               f"{folder / runtime.MANIFEST}); run `opforge build` with the same --release "
               f"and --out first")
        if explicit:
            raise UserError(why)
        skipped[name] = why
    if not found:
        raise UserError("nothing to test: " + "; ".join(skipped.values()))
    for name, why in skipped.items():
        log.warn(f"skipping {name}: {why}")
    return found, skipped


def run_framework(name: str, folder: Path, spec_file: Path, report: Report,
                  device: str = "cpu") -> None:
    def on_line(line: str) -> None:
        if not line.startswith("{"):
            return
        row = json.loads(line)
        if "skipped_op" in row:
            report.skipped_ops.setdefault(row["skipped_op"], row["reason"])
            return
        if "fatal" in row:
            report.fatal.append(f"{name}: {row['fatal']}")
            if row.get("refused"):
                report.refused.append(report.fatal[-1])
            return
        row["framework"] = name
        report.rows.append(finish(row))
        log.progress(name, f"{row['op']} {row['vector']} "
                           f"{','.join(row['types'].values())}: {'ok' if row['ok'] else 'FAIL'}")

    try:
        result = proc.run([sys.executable, "-m", "opforge.artifacts.vectors", str(folder),
                           str(spec_file), device],
                          on_line=on_line, timeout=CHILD_TIMEOUT_S, echo=False,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    except proc.TimedOut as exc:  # a hung op: the other frameworks' results still count
        report.fatal.append(f"{name}: the test process did not finish within "
                            f"{CHILD_TIMEOUT_S} s and was killed: " + _tail(exc.output))
        return
    if result.returncode != 0:
        report.fatal.append(f"{name}: the test process exited with {result.returncode}: "
                            + _tail(result.output))


def _tail(output: str) -> str:
    """The child's last lines other than its JSON rows, as one line."""
    return " | ".join([ln for ln in output.splitlines() if not ln.startswith("{")][-10:])


def untestable(manifest: dict, device: str) -> str | None:
    """Why an artifact's vectors cannot run on `device` here, or None."""
    from opforge.frameworks import get

    adapter = get(manifest["framework"]["name"])
    if adapter.untestable:
        return adapter.untestable
    if device not in manifest.get("devices", ["cpu"]):
        return f"built for {', '.join(manifest['devices'])}, not {device}"
    return None


def run_all(recipe, release, names: list[str] | None, out_dir: Path | None,
            device: str = "cpu") -> Report:
    from opforge.build.plan import default_out_dir, select_frameworks

    selected = [fw.name for fw in select_frameworks(recipe, names)]
    folders, skipped = artifact_dirs((out_dir or default_out_dir(recipe)).resolve(), release.id,
                                     selected, explicit=bool(names))
    spec = spec_for(recipe)
    if not any(op["tests"] or op["checks"] for op in spec["ops"]):
        raise UserError(f"{recipe.path} has no test vectors: add [[ops.tests]] (or "
                        f"[[ops.checks]], a check against a reference) to an op")
    check_references(recipe, spec)
    for name, folder in list(folders.items()):
        why = untestable(runtime.read_manifest(str(folder)), device)
        if why:
            log.warn(f"skipping {name}: {why}")
            skipped[name] = why
            del folders[name]
    if not folders:
        raise UserError("nothing to test on " + device + ": " + "; ".join(
            f"{n}: {why}" for n, why in skipped.items()))
    report = Report(skipped=skipped)
    with tempfile.TemporaryDirectory(prefix="opforge-test-") as tmp:
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec), "utf-8")
        with log.step(f"test vectors: {', '.join(folders)}"), \
                ThreadPoolExecutor(max_workers=len(folders)) as pool:
            for future in [pool.submit(run_framework, name, folder, spec_file, report, device)
                           for name, folder in folders.items()]:
                future.result()
    order = list(folders)
    report.rows.sort(key=lambda r: order.index(r["framework"]))
    if not report.rows and not report.fatal and report.skipped_ops:
        raise UserError(f"nothing tested on {device}: " + "; ".join(report.skipped_ops.values()))
    return report


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    run_in_child(sys.argv[1], json.loads(Path(sys.argv[2]).read_text("utf-8")),
                 sys.argv[3] if len(sys.argv) > 3 else "cpu")
