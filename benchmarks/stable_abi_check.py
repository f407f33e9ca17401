"""One stable-ABI PyTorch library, built here, run in another torch (issue 17, item 3).

Here (torch 2.13 CPU, nvcc): build the example for PyTorch on the stable ABI, target 2.10,
devices cpu+cuda (the CUDA glue needs nothing of a CUDA torch to compile or link):

    python3 benchmarks/stable_abi_check.py build [--cuda-arch 90]

It writes build/stable_abi/ (the recipe copy and its dist/local/pytorch artifact; /build/ is
git-ignored): carry that folder to the GPU machine (run's carry=["build/stable_abi"]) and there,
in one call, with no rebuild:

    python3 benchmarks/stable_abi_check.py run --out "$OUT"

which loads the library through opforge's runtime loader (sha256s, the "at least the target"
rule) into the torch installed there and runs the recipe's vectors on cuda and cpu
(`opforge test --device ...`), then prints and writes stable_abi_check.json (into --out,
default benchmarks/results): the running torch, the versions the library was built with and
for, the undefined torch symbols it needs, and the vectors' results. Exit 0 when every vector
passed on both devices in a torch other than the one it was built with.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from common import ROOT, opforge

EXAMPLE = ROOT / "recipes/examples/addsub"
WORK = ROOT / "build" / "stable_abi"
TARGET = "2.10"


def build(cuda_arch: str) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    folder = WORK / "addsub"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    recipe = folder / "recipe.toml"
    text = recipe.read_text().replace('devices = ["cpu"]', 'devices = ["cpu", "cuda"]')
    recipe.write_text(text + f'\n[build]\nstable_abi = {{ pytorch = "{TARGET}" }}\n')
    built = opforge("build", str(recipe), "--release", "local", "--framework", "pytorch",
                    "--cuda-arch", cuda_arch, "--json")
    if built.returncode != 0:
        raise SystemExit("build failed")
    shutil.rmtree(folder / "build")  # only the artifact travels
    print(f"built {folder / 'dist/local/pytorch'}; carry {WORK.relative_to(ROOT)}")


def torch_symbols(library: Path) -> list[str]:
    """The undefined symbols the library takes from torch (none mangled, on the stable ABI)."""
    listing = subprocess.run(["nm", "-D", "--undefined-only", str(library)],
                             capture_output=True, text=True).stdout
    names = [line.split()[-1] for line in listing.splitlines() if line.strip()]
    return sorted(n for n in names if n.startswith(("aoti_torch", "torch_", "_ZN3c10",
                                                    "_ZN2at", "_ZN5torch")))


def run(out: Path) -> int:
    import torch

    recipe = WORK / "addsub" / "recipe.toml"
    manifest_file = WORK / "addsub/dist/local/pytorch/manifest.json"
    if not manifest_file.is_file():
        raise SystemExit(f"no {manifest_file}: run `build` on the build machine and carry "
                         f"{WORK.relative_to(ROOT)} here")
    manifest = json.loads(manifest_file.read_text())
    library = manifest_file.parent / manifest["library"]
    result = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "python": sys.version.split()[0],
              "built_with": manifest["framework"]["version"],
              "abi_target": manifest["framework"].get("abi_target"),
              "compatibility": manifest["framework"]["compatibility"],
              "torch_symbols": torch_symbols(library), "vectors": {}}
    for device in ("cuda", "cpu"):
        test = opforge("test", str(recipe), "--release", "local", "--framework", "pytorch",
                       "--device", device, "--json")
        try:
            report = json.loads(test.stdout)
            result["vectors"][device] = {"exit": test.returncode, "passed": report["passed"],
                                         "failed": report["failed"]}
        except ValueError:
            result["vectors"][device] = {"exit": test.returncode, "error": test.stderr[-2000:]}
    mangled = [s for s in result["torch_symbols"] if s.startswith("_Z")]
    result["ok"] = (all(v.get("exit") == 0 and v.get("passed") for v in result["vectors"].values())
                    and torch.__version__ != result["built_with"] and not mangled)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stable_abi_check.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "torch_symbols"}, indent=2))
    print(f"{len(result['torch_symbols'])} torch symbols needed, {len(mangled)} of them C++")
    return 0 if result["ok"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    b = sub.add_parser("build", help="build the stable-ABI example here")
    b.add_argument("--cuda-arch", default="90", help="SASS architecture (default 90: H200)")
    r = sub.add_parser("run", help="run its vectors in the torch installed here")
    r.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.step == "build":
        build(args.cuda_arch)
        return 0
    return run(args.out)


if __name__ == "__main__":
    sys.exit(main())
