"""Test vectors: run every op's vectors against every built library, one child process per
framework (frameworks never share a process, so their libraries and globals stay apart).

The parent (`run_all`) finds the artifacts, starts `python -m opforge.artifacts.vectors MANIFEST
SPEC`, and reads one JSON result per vector from the child's stdout.
"""

from __future__ import annotations

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
from opforge.core.errors import LoaderError, TestFailure, UserError
from opforge.recipe import dtypes

CHILD_TIMEOUT_S = 600


def spec_for(recipe) -> dict:
    """What the child needs of the recipe, as plain JSON."""
    def spec(op, framework: str | None) -> dict:
        return {"name": op.name, "framework": framework, "native": framework is not None,
                "inputs": [{"name": t.name, "dtype": t.dtype,
                            "optional": getattr(t, "optional", False)} for t in op.inputs],
                "outputs": [{"name": t.name, "dtype": t.dtype} for t in op.outputs],
                "attrs": {a.name: a.default for a in op.attrs},
                "types": {k: list(v) for k, v in op.types.items()},
                "tests": [v.model_dump() for v in op.tests]}

    return {"namespace": recipe.package.namespace,
            "ops": [spec(op, None) for op in recipe.ops] +
                   [spec(op, n.framework) for n in recipe.model.native for op in n.ops]}


def expand(op: dict, vector: dict) -> list[dict[str, str]]:
    """One binding of type variables per run: fixed ones from the vector, the rest all."""
    free = [v for v in op["types"] if v not in vector["types"]]
    return [{**vector["types"], **dict(zip(free, combo))}
            for combo in itertools.product(*(op["types"][v] for v in free))]


def compare(got, expected, dtype: str, atol: float | None, rtol: float | None) -> dict:
    import numpy as np

    default_atol, default_rtol = dtypes.FACTS[dtype].atol, dtypes.FACTS[dtype].rtol
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    # compared in float64, whatever the dtype (bfloat16 and FP8 arrays are ml_dtypes')
    exp = np.asarray(expected, dtype=np.float64)
    out = np.asarray(got).astype(np.float64)
    if out.shape != exp.shape:
        return {"ok": False, "max_error": None,
                "why": f"shape {list(out.shape)}, expected {list(exp.shape)}"}
    same = (out == exp) | (np.isnan(out) & np.isnan(exp))  # infinities and NaNs as expected
    err = np.where(same, 0.0, np.abs(out - exp))
    max_error = float(err.max()) if err.size else 0.0
    ok = bool(np.all(same | (err <= atol + rtol * np.abs(exp))))
    return {"ok": ok, "max_error": max_error,
            "why": "" if ok else f"max error {max_error:.3g} > atol {atol:g} + rtol {rtol:g}"}


def run_in_child(manifest_path: str, spec: dict, device: str = "cpu") -> None:
    """Child side: load the library, run every vector, print one JSON line each."""
    import numpy as np

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
    for op in spec["ops"]:
        if op["framework"] not in (None, framework):
            continue  # another framework's native op
        for index, vector in enumerate(op["tests"]):
            for binding in expand(op, vector):
                def dtype_of(t):
                    return binding.get(t["dtype"], t["dtype"])

                inputs = {t["name"]: np.asarray(vector["inputs"][t["name"]],
                                                dtype=dtypes.numpy_dtype(dtype_of(t)))
                          for t in op["inputs"] if t["name"] in vector["inputs"]}
                attrs = {**{k: v for k, v in op["attrs"].items() if v is not None},
                         **vector["attrs"]}
                row = {"op": op["name"], "vector": vector["name"] or str(index),
                       "types": binding, "outputs": {}}
                try:
                    got = adapter.call_op(handle, spec, op, inputs, attrs, device)
                except Exception as exc:  # the op's own error is a test result, not a crash
                    judge(row, op, vector, binding, error=exc)
                else:
                    judge(row, op, vector, binding, got=got)
                print(json.dumps(row), flush=True)


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
                "skipped": [{"framework": n, "reason": why} for n, why in self.skipped.items()]}

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
    if not any(op["tests"] for op in spec["ops"]):
        raise UserError(f"{recipe.path} has no test vectors: add [[ops.tests]] to an op")
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
    return report


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    run_in_child(sys.argv[1], json.loads(Path(sys.argv[2]).read_text("utf-8")),
                 sys.argv[3] if len(sys.argv) > 3 else "cpu")
