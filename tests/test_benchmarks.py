"""The hand-written ops of benchmarks/overhead.py build with the generated library's flags
and compute what the generated op computes (correctness only: nothing here is timed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, have

spec = importlib.util.spec_from_file_location("overhead", ROOT / "benchmarks" / "overhead.py")
overhead = importlib.util.module_from_spec(spec)
spec.loader.exec_module(overhead)

MODULES = {"pytorch": "torch", "tensorflow": "tensorflow", "onnxruntime": "onnxruntime"}


@pytest.mark.parametrize("framework", sorted(overhead.HAND_SOURCES))
def test_hand_op_matches_generated(framework, built_example, tmp_path):
    if not have(MODULES[framework]):
        pytest.skip(f"{MODULES[framework]} is not installed")
    manifests = {a["framework"]: Path(a["manifest"]) for a in built_example["artifacts"]}
    if framework not in manifests:
        pytest.skip(f"the example was built without {framework} (for onnxruntime: set "
                    "ONNXRUNTIME_ROOT to an unpacked release with its C headers)")
    hand = overhead.compile_hand(framework, manifests[framework], tmp_path)
    a, b = overhead.inputs()
    generated, handwritten = overhead.CALLS[framework](
        overhead.generated_library(manifests[framework]), hand, a, b)

    alpha = np.float32(overhead.ALPHA)
    for call in (generated, handwritten):
        sum_, diff = overhead.outputs(call())
        np.testing.assert_allclose(sum_, a + alpha * b, rtol=1e-6)
        np.testing.assert_allclose(diff, a - alpha * b, rtol=1e-6)
    assert overhead.same_outputs(generated, handwritten)
