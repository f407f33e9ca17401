"""AOTInductor packages on a GPU: models calling opforge ops, compiled for CUDA, loaded and run.

    python3 benchmarks/gpu_aoti.py [--out DIR]

Builds recipes/examples/addsub and recipes/examples/detection for PyTorch with devices
cpu+cuda (`--release local`: the torch installed there), loads each library with the
runtime loader (which registers the fake kernel of NMS, whose output size is data-dependent),
then for each model: torch.export with dynamic sizes on CUDA inputs,
torch._inductor.aoti_compile_and_package, torch._inductor.aoti_load_package, and a comparison
with eager on two input sizes. Timing: median of 20 calls of the loaded package and of eager
(CUDA synchronised), for scale only. Prints a table and writes gpu_aoti.json (into --out,
default benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import opforge

ROOT = Path(__file__).resolve().parents[1]


def build(name: str, work: Path) -> Path:
    """The example built for PyTorch on cpu+cuda; its artifact folder."""
    folder = work / name
    shutil.copytree(ROOT / "recipes" / "examples" / name, folder,
                    ignore=shutil.ignore_patterns("build", "dist"))
    recipe = folder / "recipe.toml"
    recipe.write_text(re.sub(r"(?m)^devices = \[[^\]]*\]", 'devices = ["cpu", "cuda"]',
                             recipe.read_text(), count=1))
    built = opforge("build", str(recipe), "--release", "local", "--framework", "pytorch",
                    "--json")
    if built.returncode != 0:
        raise SystemExit(f"building {name} failed:\n{built.stderr[-3000:]}")
    return folder / "dist" / "local" / "pytorch"


def models(torch):
    """(name, module, inputs of two sizes, dynamic_shapes)."""
    class AddSub(torch.nn.Module):
        def forward(self, a, b):
            s, d = torch.ops.acme.AddSub(a, b, alpha=0.5)
            return s * d

    class Detect(torch.nn.Module):
        def forward(self, x, rois, boxes, scores):
            pooled = torch.ops.detection.RoIAlign(x, rois, pooled_height=7, pooled_width=7,
                                                   spatial_scale=0.25, sampling_ratio=2)
            keep = torch.ops.detection.NMS(boxes, scores, iou_threshold=0.5)
            return pooled.mean(dim=(2, 3)), boxes[keep]

    def boxes(n, seed):
        g = torch.Generator(device="cuda").manual_seed(seed)
        b = torch.rand(n, 4, device="cuda", generator=g) * 100
        b[:, 2:] += b[:, :2]
        return b, torch.rand(n, device="cuda", generator=g)

    def detect_inputs(n, k, seed):
        x = torch.randn(2, 16, 64, 64, device="cuda")
        rois = torch.cat([torch.randint(0, 2, (k, 1), device="cuda").float(),
                          torch.rand(k, 2, device="cuda") * 100,
                          torch.rand(k, 2, device="cuda") * 100 + 100], dim=1)
        return (x, rois, *boxes(n, seed))

    n, k = torch.export.Dim("n", min=2), torch.export.Dim("k", min=2)
    length = torch.export.Dim("length", min=2)
    return [
        ("addsub", AddSub(), [(torch.randn(1000, device="cuda"), torch.randn(1000, device="cuda")),
                              (torch.randn(4097, device="cuda"), torch.randn(4097, device="cuda"))],
         ({0: length}, {0: length})),
        ("detection", Detect(), [detect_inputs(500, 8, 1), detect_inputs(3000, 33, 2)],
         (None, {0: k}, {0: n}, {0: n})),
    ]


def timed(fn, args, torch) -> float:
    for _ in range(3):
        fn(*args)
    samples = []
    for _ in range(20):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn(*args)
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def same(a, b) -> bool:
    a = a if isinstance(a, (tuple, list)) else (a,)
    b = b if isinstance(b, (tuple, list)) else (b,)
    return len(a) == len(b) and all(x.shape == y.shape and bool((x - y).abs().max() <= 1e-4)
                                    if x.numel() else x.shape == y.shape for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: this script needs a GPU", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="opforge-gpu-aoti-"))
    for name in ("addsub", "detection"):
        folder = build(name, work)
        sys.path.insert(0, str(folder))
        import opforge_runtime

        opforge_runtime.load(folder)  # the library, and NMS's fake kernel
        sys.path.remove(str(folder))
        del sys.modules["opforge_runtime"]
    result = {"date": date.today().isoformat(), "device": torch.cuda.get_device_name(),
              "torch": torch.__version__, "cuda": torch.version.cuda, "models": {}}
    failed = False
    for name, module, inputs, dynamic in models(torch):
        row: dict = {}
        try:
            start = time.perf_counter()
            print(f"{name}: torch.export", flush=True)
            program = torch.export.export(module, inputs[0], dynamic_shapes=dynamic)
            print(f"{name}: aoti_compile_and_package", flush=True)
            package = torch._inductor.aoti_compile_and_package(
                program, package_path=str(work / f"{name}.pt2"))
            row["compile_seconds"] = round(time.perf_counter() - start, 1)
            print(f"{name}: compiled in {row['compile_seconds']} s; running", flush=True)
            loaded = torch._inductor.aoti_load_package(package)
            row["matches_eager"] = [same(loaded(*x), module(*x)) for x in inputs]
            row["aoti_ms"] = round(timed(loaded, inputs[1], torch), 3)
            row["eager_ms"] = round(timed(module, inputs[1], torch), 3)
        except Exception as exc:  # a model that fails is a row of the report
            row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
        failed |= "error" in row or not all(row.get("matches_eager", [False]))
        result["models"][name] = row
        args.out.mkdir(parents=True, exist_ok=True)  # what is done so far survives a timeout
        (args.out / "gpu_aoti.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{result['device']}, torch {result['torch']}, CUDA {result['cuda']}")
    print(f"{'model':<10} {'compile':>8} {'== eager':>12} {'aoti ms':>8} {'eager ms':>9}")
    for name, r in result["models"].items():
        if "error" in r:
            print(f"{name:<10} error: {r['error']}")
            continue
        print(f"{name:<10} {r['compile_seconds']:>7}s {str(r['matches_eager']):>12} "
              f"{r['aoti_ms']:>8} {r['eager_ms']:>9}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_aoti.json").write_text(json.dumps(result, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
