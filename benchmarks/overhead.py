"""Glue overhead: the generated op against a hand-written one, per framework, in one run.

    .venv/bin/python benchmarks/overhead.py [--calls 10000] [--rounds 20]

Builds recipes/examples/addsub (`opforge build --release local`) in a temporary folder, then
compiles the hand-written ops of benchmarks/hand/ (overhead_torch.cc, a TORCH_LIBRARY op;
addsub_tf.cc, a TensorFlow OpKernel; overhead_ort.cc, an ONNX Runtime custom op over the C
API) with g++ and exactly the compiler flags the generated library got: the manifest's
build section (compiler, cxx_flags, definitions, include_dirs, link_libraries, from CMake's
File API) and the generated library's -Bsymbolic and --no-undefined. ONNX Runtime takes
its headers from ONNXRUNTIME_ROOT, as opforge does.

Each framework is timed in a child process of its own: both libraries loaded, one output
of each compared (they must be equal), --warmup calls of each, then --rounds rounds of
--calls/--rounds calls, generated and hand-written alternating within each round and the
order swapped every round so that drift hits both alike. Inputs are two 16-element float32
tensors made once, alpha = 0.5; every call is timed alone (perf_counter_ns around the call,
which costs both sides the same; the garbage collector off). Reported: the median per-call time of each op over all its
calls, their ratio generated / hand (target <= 1.05) and difference, and the spread of the
per-round ratios. Prints a table and writes benchmarks/results/overhead.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when a test loads this file
from common import versions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "recipes/examples/addsub"
HAND = Path(__file__).resolve().parent / "hand"
HAND_SOURCES = {"pytorch": "overhead_torch.cc", "tensorflow": "addsub_tf.cc",
                "onnxruntime": "overhead_ort.cc"}
# The generated library's own link options besides its version script (which hides every
# symbol; -fvisibility=hidden in cxx_flags does that for the hand-written ops).
LINK_OPTIONS = ["-shared", "-Wl,-Bsymbolic", "-Wl,--no-undefined"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1",
       "OPFORGE_COMPILER_LAUNCHER": "none", "CCACHE_DISABLE": "1"}
SIZE = 16
ALPHA = 0.5


def run(args: list[str], env: dict | None = None) -> str:
    print("$ " + shlex.join(args), file=sys.stderr, flush=True)
    result = subprocess.run(args, capture_output=True, text=True, env=env or ENV)
    if result.returncode != 0:
        sys.exit(f"benchmark step failed: {shlex.join(args)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def build_example(work: Path) -> dict[str, Path]:
    """`opforge build --release local` of a copy of the example: framework -> its manifest."""
    copy = work / "addsub"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "dist"))
    summary = json.loads(run([sys.executable, "-m", "opforge", "build",
                              str(copy / "recipe.toml"), "--release", "local", "--json", "-q"]))
    for skipped in summary.get("skipped", []):
        print(f"skipped by opforge build: {skipped}", file=sys.stderr)
    return {a["framework"]: Path(a["manifest"]) for a in summary["artifacts"]}


def hand_command(manifest: dict, source: Path, out: Path) -> list[str]:
    """g++ with the generated library's flags (CMake's own *_EXPORTS definition left out)."""
    build = manifest["build"]
    return [build["compiler"], *shlex.split(build["cxx_flags"]),
            *(f"-D{d}" for d in build["definitions"] if not d.endswith("_EXPORTS")),
            *(f"-isystem{i}" for i in build["include_dirs"]),
            str(source), "-o", str(out), *LINK_OPTIONS, *build["link_libraries"]]


def compile_hand(framework: str, manifest_path: Path, out_dir: Path) -> Path:
    """The hand-written op of `framework`, compiled as the generated one was: its library."""
    manifest = json.loads(manifest_path.read_text())
    out = out_dir / f"libhand_{framework}.so"
    run(hand_command(manifest, HAND / HAND_SOURCES[framework], out))
    return out


def generated_library(manifest_path: Path) -> Path:
    return manifest_path.parent / json.loads(manifest_path.read_text())["library"]


# --- in the child: both ops as zero-argument calls on the same inputs --------------------

def torch_calls(generated: Path, hand: Path, a, b):
    import torch

    torch.ops.load_library(str(generated))
    torch.ops.load_library(str(hand))
    a, b = torch.from_numpy(a), torch.from_numpy(b)
    gen, ref = torch.ops.acme.AddSub, torch.ops.hand.AddSub
    return (lambda: gen(a, b, alpha=ALPHA)), (lambda: ref(a, b, alpha=ALPHA))


def tensorflow_calls(generated: Path, hand: Path, a, b):
    import tensorflow as tf

    gen = tf.load_op_library(str(generated)).acme_add_sub
    ref = tf.load_op_library(str(hand)).hand_add_sub
    a, b = tf.constant(a), tf.constant(b)
    return (lambda: gen(a=a, b=b, alpha=ALPHA)), (lambda: ref(a=a, b=b, alpha=ALPHA))


def onnxruntime_calls(generated: Path, hand: Path, a, b):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def session(library: Path, domain: str):
        node = helper.make_node("AddSub", ["a", "b"], ["sum", "diff"], domain=domain,
                                alpha=ALPHA)
        io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [SIZE]) for n in
              ("a", "b", "sum", "diff")]
        graph = helper.make_graph([node], "addsub", io[:2], io[2:])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid(domain, 1)])
        model.ir_version = 8
        options = ort.SessionOptions()
        options.register_custom_ops_library(str(library))
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        return ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])

    gen, ref = session(generated, "acme"), session(hand, "hand")
    feeds = {"a": a, "b": b}
    return (lambda: gen.run(None, feeds)), (lambda: ref.run(None, feeds))


CALLS = {"pytorch": torch_calls, "tensorflow": tensorflow_calls,
         "onnxruntime": onnxruntime_calls}


def inputs() -> tuple:
    """a and b: SIZE float32 elements each, the same every run."""
    import numpy as np

    rng = np.random.default_rng(0)
    return (rng.standard_normal(SIZE, dtype=np.float32),
            rng.standard_normal(SIZE, dtype=np.float32))


def outputs(result) -> list:
    import numpy as np

    return [np.asarray(r.numpy() if hasattr(r, "numpy") else r) for r in result]


def same_outputs(generated, hand) -> bool:
    """One call of each: the same numbers, bit for bit (the same float arithmetic)."""
    import numpy as np

    return all(np.array_equal(g, h) for g, h in zip(outputs(generated()), outputs(hand())))


def timed_calls(call, n: int) -> list[int]:
    """Each call timed alone, with the garbage collector off (as timeit does): a collection
    the op's result tuples trigger would land on whichever call happens to allocate."""
    clock = time.perf_counter_ns
    times = []
    gc.disable()
    try:
        for _ in range(n):
            start = clock()
            call()
            times.append(clock() - start)
    finally:
        gc.enable()
    return times


def child(framework: str, generated: Path, hand: Path, calls: int, rounds: int,
          warmup: int) -> dict:
    gen, ref = CALLS[framework](generated, hand, *inputs())
    if not same_outputs(gen, ref):
        sys.exit(f"{framework}: the generated and the hand-written op disagree")
    timed_calls(gen, warmup)
    timed_calls(ref, warmup)
    per_round = calls // rounds
    runs: dict[str, list[list[int]]] = {"generated": [], "hand": []}
    for r in range(rounds):
        order = [("generated", gen), ("hand", ref)]
        for name, call in (order if r % 2 == 0 else order[::-1]):
            runs[name].append(timed_calls(call, per_round))
    return runs


# --- the parent ------------------------------------------------------------------------

def summarize(runs: dict[str, list[list[int]]]) -> dict:
    medians = {name: statistics.median(t for one in rounds for t in one) / 1000
               for name, rounds in runs.items()}
    round_ratios = [statistics.median(g) / statistics.median(h)
                    for g, h in zip(runs["generated"], runs["hand"])]
    return {"generated_us": medians["generated"], "hand_us": medians["hand"],
            "ratio": medians["generated"] / medians["hand"],
            "difference_us": medians["generated"] - medians["hand"],
            "round_ratio_min": min(round_ratios), "round_ratio_max": max(round_ratios),
            "round_ratios": round_ratios,
            "round_medians_us": {name: [statistics.median(one) / 1000 for one in rounds]
                                 for name, rounds in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="timed calls of each op "
                        "per framework (default 10000)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds the calls are split "
                        "into, the order of the two ops swapped each round (default 20)")
    parser.add_argument("--warmup", type=int, default=1000, help="untimed calls of each op "
                        "first (default 1000)")
    parser.add_argument("--framework", action="append", choices=sorted(HAND_SOURCES),
                        help="only this framework (repeatable; default: every one built)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/overhead.json")
    parser.add_argument("--child", nargs=3, metavar=("FRAMEWORK", "GENERATED", "HAND"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        framework, generated, hand = args.child
        runs = child(framework, Path(generated), Path(hand), args.calls, args.rounds,
                     args.warmup)
        print(json.dumps(runs))
        return
    rows = {}
    with tempfile.TemporaryDirectory(prefix="opforge-overhead-") as tmp:
        manifests = build_example(Path(tmp))
        for framework in args.framework or [f for f in HAND_SOURCES if f in manifests]:
            if framework not in manifests:
                sys.exit(f"{framework}: opforge built no library for it (see above)")
            hand = compile_hand(framework, manifests[framework], Path(tmp))
            generated = generated_library(manifests[framework])
            print(f"timing {framework} ...", file=sys.stderr, flush=True)
            out = run([sys.executable, __file__, "--child", framework, str(generated),
                       str(hand), "--calls", str(args.calls), "--rounds", str(args.rounds),
                       "--warmup", str(args.warmup)])
            rows[framework] = summarize(json.loads(out.splitlines()[-1]))
    print(f"{'framework':<12}  {'generated us':>12}  {'hand us':>8}  {'gen/hand':>8}  "
          f"{'diff us':>7}  {'per-round ratios':>16}")
    for framework, row in rows.items():
        print(f"{framework:<12}  {row['generated_us']:12.2f}  {row['hand_us']:8.2f}  "
              f"{row['ratio']:8.3f}  {row['difference_us']:7.2f}  "
              f"{row['round_ratio_min']:.3f}-{row['round_ratio_max']:.3f}")
    print("target: generated / hand <= 1.05 in each framework")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    measured_with = {**versions(("torch", "tensorflow-cpu", "onnxruntime", "numpy")),
                     "ONNXRUNTIME_ROOT": os.environ.get("ONNXRUNTIME_ROOT")}
    args.out.write_text(json.dumps({"date": date.today().isoformat(), "versions": measured_with,
                                    "calls": args.calls, "rounds": args.rounds,
                                    "warmup": args.warmup, "elements": SIZE,
                                    "dtype": "float32", "alpha": ALPHA, "rows": rows},
                                   indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
