"""Op inventory: what a library really registers, found by loading it in a child process.

Each library is loaded alone, into a fresh interpreter with its framework imported, and the
framework is asked what changed, by the framework's taker (frameworks/<name>/inventory.py,
named by the adapter's `inventory_taker`):

  pytorch      the dispatcher's operator names before and after torch.ops.load_library
  tensorflow   the OpList that tf.load_op_library returns
  onnxruntime  its RegisterCustomOps, called with a real OrtSessionOptions and an OrtApi whose
               CreateCustomOpDomain / CustomOpDomain_Add / AddCustomOpDomain record each call
               before passing it on to ONNX Runtime
  tensorrt     the plugin registry's creators before and after load_library (where the
               TensorRT Python package is installed)

Before loading, the taker also looks for the library's declared ops among the framework's
built-in ones (aten ops, TensorFlow's op registry, ONNX's schemas, TensorRT's own plugins):
a clash there makes loading fail or silently replace the built-in.

The child never takes the parent down: a crash, a hang or an import error becomes a reason in
the result. Results are cached by the library's sha256, the framework's version and the
code the child runs (this module, the runtime loader, the taker).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from opforge import frameworks
from opforge.core import proc
from opforge.artifacts import loader, runtime
from opforge.core.files import write_atomic
from opforge.core.settings import cache_dir

TIMEOUT_S = 180
_ANSWER = "opforge-inventory: "  # heads the child's one line of JSON, amid the library's output

# Runs in the child: argv = library, manifest path, taker ("module:function", the adapter's
# inventory_taker). Prints one JSON object.
_CHILD = r'''
import importlib, json, sys
library, manifest_path, taker = sys.argv[1:4]
from opforge.artifacts.inventory import _ANSWER
from opforge.artifacts import loader, runtime
loader.register_frameworks()
manifest = runtime.read_manifest(manifest_path)
try:
    running = runtime.check_framework(manifest)
except runtime.LoadRefused as exc:
    print(_ANSWER + json.dumps({"skipped": str(exc)})); sys.exit(0)
except ImportError as exc:
    print(_ANSWER + json.dumps({"skipped": f"{manifest['framework']['title']} is not importable here ({exc})"}))
    sys.exit(0)
module, _, function = taker.partition(":")
take = getattr(importlib.import_module(module), function)
declared = [op["identity"] for op in manifest.get("ops", [])]
try:
    ops, builtin = take(library, declared)
except Exception as exc:  # the framework refused the library: that is the finding
    print(_ANSWER + json.dumps({"error": f"{type(exc).__name__}: {exc}".strip()})); sys.exit(0)
print(_ANSWER + json.dumps({"ops": ops, "builtin_clashes": builtin,
                  "loaded_with": f"{manifest['framework']['title']} {running['version']}"}))
'''


@dataclass
class Inventory:
    """What loading one library registered, or why it was not loaded."""

    framework: str
    ops: list[dict] = field(default_factory=list)  # each with at least "identity"
    builtin_clashes: list[dict] = field(default_factory=list)  # identity + what it clashes with
    loaded_with: str = ""
    skipped: str = ""  # not loaded: why (framework absent, other version, ...)
    error: str = ""  # loading failed: the framework's words
    recorded: bool = False  # read from the manifest (`opforge build` loaded it), not loaded now

    @property
    def loaded(self) -> bool:
        return not self.skipped and not self.error

    def identities(self) -> set[str]:
        return {op["identity"] for op in self.ops}

    def to_json(self) -> dict:
        if self.skipped:
            return {"skipped": self.skipped}
        if self.error:
            return {"error": self.error}
        return {"loaded_with": self.loaded_with, "ops": self.ops,
                "builtin_clashes": self.builtin_clashes}

    @classmethod
    def from_json(cls, framework: str, data: dict) -> Inventory:
        return cls(framework, data.get("ops", []), data.get("builtin_clashes", []),
                   data.get("loaded_with", ""), data.get("skipped", ""), data.get("error", ""))


def take(library: Path, manifest_path: Path, use_cache: bool = True) -> Inventory:
    """Load `library` (described by the manifest at `manifest_path`) in a child and list
    what it registers."""
    manifest = runtime.read_manifest(manifest_path)
    framework = manifest["framework"]["name"]
    adapter = frameworks.registry().get(framework)
    if adapter is None:
        return Inventory(framework, skipped=f"no inventory for framework {framework!r}")
    taker = adapter.inventory_taker
    cached = _cache_path(library, manifest, taker) if use_cache else None
    if cached is not None and cached.is_file():
        try:
            return Inventory.from_json(framework, json.loads(cached.read_text("utf-8")))
        except ValueError:
            pass
    try:
        result = proc.run([sys.executable, "-c", _CHILD, str(library), str(manifest_path),
                           taker], timeout=TIMEOUT_S, echo=False,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": _opforge_path()})
    except proc.TimedOut:
        return Inventory(framework, error=f"loading {library.name} did not finish in "
                         f"{TIMEOUT_S} s (a static initializer that hangs?)")
    lines = result.output.strip().splitlines()
    answer = next((ln[len(_ANSWER):] for ln in reversed(lines) if ln.startswith(_ANSWER)), "")
    if result.returncode != 0 or not answer:
        why = (f"killed by signal {-result.returncode}" if result.returncode < 0
               else f"exit status {result.returncode}")
        tail = " | ".join(lines[-3:])
        return Inventory(framework, error=f"loading {library.name} crashed the process "
                         f"({why}){': ' + tail if tail else ''}")
    inventory = Inventory.from_json(framework, json.loads(answer))
    if cached is not None and inventory.loaded:
        write_atomic(cached, json.dumps(inventory.to_json()))
    return inventory


def _opforge_path() -> str:
    here = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH", "")
    return here + (os.pathsep + rest if rest else "")


def _cache_path(library: Path, manifest: dict, taker: str) -> Path:
    # the code the child runs: this module, the runtime loader (core and every framework's
    # part), the taker's module (found without importing it: it is the child's to import)
    taker_file = importlib.util.find_spec(taker.partition(":")[0]).origin
    code = (_CHILD.encode() + Path(__file__).read_bytes() + loader.shipped_source().encode()
            + Path(taker_file).read_bytes())
    child = hashlib.sha256(code).hexdigest()[:12]
    key = hashlib.sha256(f"{runtime.sha256_file(library)}|{manifest['framework']['version']}|"
                         f"{json.dumps(manifest.get('ops', []), sort_keys=True)}|{child}"
                         .encode()).hexdigest()
    return cache_dir() / "inventory" / f"{key[:32]}.json"
