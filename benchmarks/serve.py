"""Serving the example's op: `opforge serve` against a hand-written Python-backend model and
the direct in-process call, in one run.

    .venv/bin/python benchmarks/serve.py [--seconds 5] [--size 16]

Needs the example built for pytorch (and tensorflow, onnxruntime for their rows):
`opforge build recipes/examples/addsub/recipe.toml --release local`.

One `opforge serve` (the tritonserver bundled in nvidia-pytriton, Triton 2.51, CPU) serves
the example's models (made by recipes/examples/addsub/models/make_models.py, packaged by
`opforge package`) plus two Python-backend models written by hand the usual way
(torch.ops.load_library in initialize, as_numpy / torch.from_numpy / pb_utils.Tensor in
execute): `hand_torchscript` runs the same TorchScript model (the same job as opforge's
wrapper), `hand_op` calls the op directly (no model at all: the lower bound).
Rows, each at 1 and 8 concurrent clients (separate processes, tritonclient HTTP, for
--seconds each; throughput = requests / s, latency per request, p50 and p99; the served rows
are measured in --rounds interleaved rounds, the order rotating each round, and the median
round is kept; the ratio to the hand-written model is the median of the per-round ratios):
  opforge serve: TorchScript / TensorFlow / ONNX    the example's generated wrapper models
  hand-written Python model: the TorchScript model  the baseline of the target
  hand-written Python model: the op called directly
  direct in-process call (torch)                    torch.ops.acme.AddSub in a loop, no server
Also: seconds until a server of the example's models alone was ready, and when each model
finished loading. Prints a table and writes benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "recipes/examples/addsub"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"}

HANDWRITTEN = '''
import json
import torch
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        parameters = json.loads(args["model_config"])["parameters"]
        torch.ops.load_library(parameters["library"]["string_value"])
        script = parameters.get("torchscript", {}).get("string_value")
        self.model = torch.jit.load(script) if script else None

    def execute(self, requests):
        responses = []
        for request in requests:
            a = torch.from_numpy(pb_utils.get_input_tensor_by_name(request, "a").as_numpy())
            b = torch.from_numpy(pb_utils.get_input_tensor_by_name(request, "b").as_numpy())
            if self.model is not None:
                total, diff = self.model(a, b)
            else:
                total, diff = torch.ops.acme.AddSub(a, b, alpha=1.0)
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("sum", total.numpy()), pb_utils.Tensor("diff", diff.numpy())]))
        return responses
'''


def handwritten(repo: Path, name: str, library: str, torchscript: Path | None) -> None:
    """A hand-written Python-backend model: the op called directly, or (with `torchscript`)
    the same TorchScript model opforge serves, run by hand."""
    folder = repo / name
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.py").write_text(HANDWRITTEN)
    env = f'parameters {{ key: "EXECUTION_ENV_PATH" value: {{ string_value: "{sys.prefix}" }} }}\n' \
        if sys.prefix != sys.base_prefix else ""
    script = (f'parameters {{ key: "torchscript" value: {{ string_value: "{torchscript}" }} }}\n'
              if torchscript else "")
    (folder / "config.pbtxt").write_text(
        f'name: "{name}"\nbackend: "python"\nmax_batch_size: 0\n'
        'input [ { name: "a" data_type: TYPE_FP32 dims: [ -1 ] },'
        ' { name: "b" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
        'output [ { name: "sum" data_type: TYPE_FP32 dims: [ -1 ] },'
        ' { name: "diff" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
        'instance_group [ { kind: KIND_CPU count: 1 } ]\n'
        f'parameters {{ key: "library" value: {{ string_value: "{library}" }} }}\n' + env + script)


def client_loop(url: str, model: str, size: int, seconds: float) -> list[float]:
    """One client: requests back to back for `seconds`; the latency of each."""
    import numpy as np
    import tritonclient.http as tc

    client = tc.InferenceServerClient(url)
    a = np.arange(size, dtype=np.float32)
    inputs = []
    for name in ("a", "b"):
        item = tc.InferInput(name, [size], "FP32")
        item.set_data_from_numpy(a)
        inputs.append(item)
    outputs = [tc.InferRequestedOutput("sum"), tc.InferRequestedOutput("diff")]
    for _ in range(20):  # warm-up
        client.infer(model, inputs, outputs=outputs)
    latencies = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        result = client.infer(model, inputs, outputs=outputs)
        latencies.append(time.perf_counter() - start)
        if result.as_numpy("sum")[1] != 2.0:
            raise SystemExit(f"{model}: wrong result {result.as_numpy('sum')}")
    client.close()
    return latencies


def direct_loop(library: str, size: int, seconds: float) -> list[float]:
    import torch

    torch.ops.load_library(library)
    a = torch.arange(size, dtype=torch.float32)
    for _ in range(20):
        torch.ops.acme.AddSub(a, a, alpha=1.0)
    latencies = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        torch.ops.acme.AddSub(a, a, alpha=1.0)
        latencies.append(time.perf_counter() - start)
    return latencies


def measure(pool: ProcessPoolExecutor, clients: int, fn, *args) -> dict:
    futures = [pool.submit(fn, *args) for _ in range(clients)]
    runs = [f.result() for f in futures]
    latencies = sorted(x for run in runs for x in run)
    seconds = max(sum(run) for run in runs)
    return {"clients": clients, "requests": len(latencies),
            "throughput_per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(statistics.median(latencies) * 1e3, 3),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1e3, 3)}


def start_server(repo: Path) -> tuple[subprocess.Popen, dict, list[str]]:
    process = subprocess.Popen([sys.executable, "-m", "opforge", "serve", str(repo),
                                "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0",
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ENV)
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True).start()
    line = process.stdout.readline()
    if not line:
        process.wait()
        sys.exit("opforge serve failed:\n" + "".join(stderr))
    return process, json.loads(line), stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per row and client count")
    parser.add_argument("--size", type=int, default=16, help="elements per input tensor")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per row")
    args = parser.parse_args()
    dist = EXAMPLE / "dist" / "local"
    library = dist / "pytorch" / json.loads((dist / "pytorch/manifest.json").read_text())[
        "library"]
    with tempfile.TemporaryDirectory(prefix="opforge-bench-serve-") as tmp:
        repo = Path(tmp) / "models"
        subprocess.run([sys.executable, str(EXAMPLE / "models/make_models.py"), str(repo),
                        "--release", "local"], check=True, env=ENV, capture_output=True)
        subprocess.run([sys.executable, "-m", "opforge", "package", str(EXAMPLE / "recipe.toml"),
                        "--release", "local", "--model-repository", str(repo), "--base-image",
                        "none", "-q"], check=True, env=ENV, capture_output=True)
        process, ready, stderr = start_server(repo)  # the example's models alone: ready time
        time.sleep(0.5)  # the progress lines arrive on stderr beside the ready event
        loaded = [ln.split("loaded ", 1)[1].strip() for ln in stderr if "  loaded " in ln]
        example_ready = ready
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        handwritten(repo, "hand_torchscript", str(library),
                    repo / "addsub_torchscript/1/model.pt")
        handwritten(repo, "hand_op", str(library), None)
        process, ready, stderr = start_server(repo)
        rows = []
        try:
            url = ready["http"]
            served = [("opforge serve: TorchScript", "addsub_torchscript"),
                      ("opforge serve: TensorFlow SavedModel", "addsub_savedmodel"),
                      ("opforge serve: ONNX", "addsub_onnx"),
                      ("hand-written Python model: the TorchScript model", "hand_torchscript"),
                      ("hand-written Python model: the op called directly", "hand_op")]
            served = [(label, model) for label, model in served if model in ready["models"]]
            with ProcessPoolExecutor(8) as pool:
                # rounds interleave the models, so that a slow moment of this machine is not
                # one model's; each row is the round with the median throughput
                runs: dict[tuple[str, int], list[dict]] = {}
                for round_ in range(args.rounds):
                    order = served[round_ % len(served):] + served[:round_ % len(served)]
                    for label, model in order:
                        for clients in (1, 8):
                            run = measure(pool, clients, client_loop, url, model, args.size,
                                          args.seconds)
                            runs.setdefault((label, clients), []).append(run)
                            print(f"  round {round_ + 1}: {label}, {clients} client(s): "
                                  f"{run['throughput_per_s']}/s", file=sys.stderr)
                for (label, clients), found in runs.items():
                    model = dict(served)[label]
                    by_round = [r["throughput_per_s"] for r in found]
                    found = sorted(found, key=lambda r: r["throughput_per_s"])
                    rows.append({"row": label, "model": model, **found[len(found) // 2],
                                 "by_round": by_round})
                for clients in (1, 8):
                    rows.append({"row": "direct in-process call (torch)", "model": None,
                                 **measure(pool, clients, direct_loop, str(library), args.size,
                                           args.seconds)})
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)

    header = ["row", "clients", "requests/s", "p50 ms", "p99 ms"]
    table = [header] + [[r["row"], str(r["clients"]), f"{r['throughput_per_s']:.0f}",
                         f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"] for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(header))]
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)))
    ratio = {}
    rows.sort(key=lambda r: (r["model"] is None, r["row"] != "opforge serve: TorchScript",
                             r["row"], r["clients"]))
    for baseline in ("hand_torchscript", "hand_op"):
        for clients in (1, 8):  # per round (measured a minute apart at most), then median
            ours = next(r for r in rows if r["model"] == "addsub_torchscript"
                        and r["clients"] == clients)
            hand = next(r for r in rows if r["model"] == baseline and r["clients"] == clients)
            ratio[f"{baseline}/{clients}"] = round(statistics.median(
                o / h for o, h in zip(ours["by_round"], hand["by_round"])), 2)
        print(f"opforge serve (TorchScript) / {baseline} throughput, median of per-round "
              f"ratios: 1 client {ratio[f'{baseline}/1']}x, 8 clients {ratio[f'{baseline}/8']}x")
    print(f"ready after {example_ready['ready_seconds']}s for the example's "
          f"{len(example_ready['models'])} models; loaded: " + "; ".join(loaded))
    import numpy
    import torch

    result = {"date": date.today().isoformat(), "machine": {
                  "cpus": os.cpu_count(), "python": platform.python_version(),
                  "torch": torch.__version__, "numpy": numpy.__version__},
              "size": args.size, "seconds_per_row": args.seconds, "rows": rows,
              "throughput_ratio_vs_handwritten": ratio,
              "ready_seconds": example_ready["ready_seconds"],
              "models": sorted(example_ready["models"]), "loaded": loaded}
    out = ROOT / "benchmarks/results/serve.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
