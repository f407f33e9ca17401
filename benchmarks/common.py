"""What the benchmark scripts share: running opforge from this checkout, and the versions a
result was measured with. The scripts run as `python3 benchmarks/NAME.py`, which puts this
folder on sys.path."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# opforge from this checkout, without colour, whatever is installed
OPFORGE_ENV = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(
    [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}


def opforge(*args: str, quiet_exits: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    """Run `opforge ARGS`, print the command with its time and exit code, and its output
    tails when it exits with a code not in `quiet_exits`."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "opforge", *args], capture_output=True,
                            text=True, env=OPFORGE_ENV)
    print(f"$ opforge {' '.join(args)}  ({time.perf_counter() - start:.1f}s, exit "
          f"{result.returncode})", flush=True)
    if result.returncode not in quiet_exits:
        print(result.stdout[-4000:], result.stderr[-6000:], sep="\n", flush=True)
    return result


def versions(distributions: tuple[str, ...]) -> dict:
    """Python, machine, CPU count, g++ and the installed versions of `distributions`."""
    out = {"python": platform.python_version(), "machine": platform.machine(),
           "cpus": os.cpu_count()}
    for dist in distributions:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout
    out["g++"] = gxx.splitlines()[0] if gxx else None
    return out
