"""CI jobs for ONNX Runtime run in the release's tritonserver image (its ONNX Runtime
backend). The image has no compiler and no ONNX Runtime for Python: the job installs g++,
then the PyPI wheel of the release's ONNX Runtime (where the test vectors run), and fetches
the C headers of that version unless $ONNXRUNTIME_ROOT points at them."""

from __future__ import annotations

from opforge.frameworks.base import INSTALL_COMPILER, CiSetup
from opforge.toolchain.sdk import pinned_sha256

WHY_IMAGE = "the tritonserver image (its ONNX Runtime backend)"


def setup(release, device: str) -> CiSetup:
    version = release.pin("onnxruntime").value
    wheel = "onnxruntime-gpu" if device == "cuda" else "onnxruntime"
    notes = [f"ONNX Runtime {version}: headers from the official release archive "
             f"(or $ONNXRUNTIME_ROOT); vectors run in the PyPI {wheel} {version}"]
    if not pinned_sha256("onnxruntime", version):
        notes.append(f"no sha256 pinned for ONNX Runtime {version}: set ONNXRUNTIME_ROOT "
                     f"on the runner, or fetch with --sha256")
    return CiSetup(
        before_opforge=(INSTALL_COMPILER,),
        after_opforge=(f"python3 -m pip install --progress-bar off {wheel}=={version} onnx",
                       f'test -n "${{ONNXRUNTIME_ROOT:-}}" || opforge sdk fetch onnxruntime '
                       f"{version}"),
        notes=tuple(notes))
