"""Every example's CUDA kernels on a real GPU, in one run: build and run their test vectors.

    python3 benchmarks/gpu_examples.py [--out DIR] [--example NAME ...]

For each example under recipes/examples/ with an op that has a CUDA kernel (`cuda = ...`),
a copy is built for PyTorch with devices cpu+cuda (--release local: the torch installed
there), then `opforge test --device cuda` and `--device cpu` run its vectors (and its
reference checks where it has them); an op with a kernel for one device only is skipped on
the other (the report says which). An example without CUDA kernels, or whose recipe does not
target PyTorch, is listed as skipped with the reason.
Prints a table and writes gpu_examples.json (into --out, default benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import opforge

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "recipes" / "examples"
sys.path.insert(0, str(ROOT / "src"))


def why_not(recipe: Path) -> str:
    """Why an example cannot run on the GPU through PyTorch; "" when it can."""
    from opforge import recipe as recipe_mod

    loaded = recipe_mod.load(recipe)
    if "pytorch" not in loaded.model.target.frameworks:
        return "the recipe does not target pytorch"
    if not loaded.ops:
        return "no kernel ops (native sources only)"
    if not any(op.cuda for op in loaded.ops):
        return "no op has a CUDA kernel"
    return ""


def counts(result: subprocess.CompletedProcess) -> dict:
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return {"exit": result.returncode, "passed": 0, "failed": 0,
                "error": result.stderr.strip().splitlines()[-1:] or ["no output"]}
    return {"exit": result.returncode, "passed": data.get("passed", 0),
            "failed": data.get("failed", 0),
            "failures": [r for r in data.get("results", []) if not r.get("ok")][:5],
            "errors": data.get("errors", []),
            "skipped_ops": data.get("skipped_ops", [])}


def run_example(source: Path, work: Path) -> dict:
    reason = why_not(source / "recipe.toml")
    if reason:
        return {"skipped": reason}
    folder = work / source.name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("build", "dist"))
    recipe = folder / "recipe.toml"
    text = recipe.read_text()
    recipe.write_text(re.sub(r"(?m)^devices = \[[^\]]*\]", 'devices = ["cpu", "cuda"]', text,
                             count=1))
    start = time.perf_counter()
    built = opforge("build", str(recipe), "--release", "local", "--framework", "pytorch",
                    "--json")
    out = {"build_seconds": round(time.perf_counter() - start, 1), "build_exit": built.returncode}
    if built.returncode != 0:
        out["build_error"] = built.stderr.strip().splitlines()[-8:]
        return out
    for device in ("cuda", "cpu"):
        out[device] = counts(opforge("test", str(recipe), "--release", "local", "--framework",
                                     "pytorch", "--device", device, "--json", quiet_exits=(0, 6)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--example", action="append", metavar="NAME",
                        help="only these examples (default: every one)")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: this script needs a GPU", file=sys.stderr)
        return 2
    names = args.example or sorted(p.name for p in EXAMPLES.iterdir()
                                   if (p / "recipe.toml").is_file())
    work = Path(tempfile.mkdtemp(prefix="opforge-gpu-examples-"))
    result = {"date": date.today().isoformat(), "device": torch.cuda.get_device_name(),
              "torch": torch.__version__, "cuda": torch.version.cuda,
              "examples": {name: run_example(EXAMPLES / name, work) for name in names}}
    print(f"\n{result['device']}, torch {result['torch']}, CUDA {result['cuda']}")
    print(f"{'example':<12} {'build':>8} {'cuda':>14} {'cpu':>14}")
    failed = False
    for name, r in result["examples"].items():
        if "skipped" in r:
            print(f"{name:<12} skipped: {r['skipped']}")
            continue
        cells = [f"{r['build_seconds']}s" if r["build_exit"] == 0 else f"exit {r['build_exit']}"]
        for device in ("cuda", "cpu"):
            d = r.get(device)
            cells.append(f"{d['passed']} ok {d['failed']} bad" if d else "-")
            failed |= bool(d is None or d["exit"] != 0)
        print(f"{name:<12} {cells[0]:>8} {cells[1]:>14} {cells[2]:>14}")
        for device in ("cuda", "cpu"):
            for skipped in (r.get(device) or {}).get("skipped_ops", []):
                print(f"{'':<12} {device}: {skipped['op']} skipped ({skipped['reason']})")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_examples.json").write_text(json.dumps(result, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
