"""Op inventory: what a library really registers, found by loading it in a child process.

Each library is loaded alone, into a fresh interpreter with its framework imported, and the
framework is asked what changed:

  pytorch      the dispatcher's operator names before and after torch.ops.load_library
  tensorflow   the OpList that tf.load_op_library returns
  onnxruntime  its RegisterCustomOps, called with a real OrtSessionOptions and an OrtApi whose
               CreateCustomOpDomain / CustomOpDomain_Add / AddCustomOpDomain record each call
               before passing it on to ONNX Runtime
  tensorrt     the plugin registry's creators before and after load_library (where the
               TensorRT Python package is installed)

Before loading, the child also looks for the library's declared ops among the framework's
built-in ones (aten ops, TensorFlow's op registry, ONNX's schemas, TensorRT's own plugins):
a clash there makes loading fail or silently replace the built-in.

The child never takes the parent down: a crash, a hang or an import error becomes a reason in
the result. Results are cached by the library's sha256 and the framework's version.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from opforge.core import proc
from opforge.artifacts import runtime
from opforge.core.files import write_atomic
from opforge.core.settings import cache_dir
from opforge.frameworks.onnxruntime.repository import BUILTIN_DOMAINS, op_identity

TIMEOUT_S = 180
_ANSWER = "opforge-inventory: "  # heads the child's one line of JSON, amid the library's output

# Runs in the child: argv = framework, library, manifest path. Prints one JSON object.
_CHILD = r'''
import json, sys
framework, library, manifest_path = sys.argv[1:4]
from opforge.artifacts.inventory import _ANSWER
from opforge.artifacts import runtime
manifest = runtime.read_manifest(manifest_path)
try:
    running = runtime.check_framework(manifest)
except runtime.LoadRefused as exc:
    print(_ANSWER + json.dumps({"skipped": str(exc)})); sys.exit(0)
except ImportError as exc:
    print(_ANSWER + json.dumps({"skipped": f"{manifest['framework']['title']} is not importable here ({exc})"}))
    sys.exit(0)
from opforge.artifacts.inventory import CHILD_TAKERS
declared = [op["identity"] for op in manifest.get("ops", [])]
try:
    ops, builtin = CHILD_TAKERS[framework](library, declared)
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
    if framework not in CHILD_TAKERS:
        return Inventory(framework, skipped=f"no inventory for framework {framework!r}")
    cached = _cache_path(library, manifest) if use_cache else None
    if cached is not None and cached.is_file():
        try:
            return Inventory.from_json(framework, json.loads(cached.read_text("utf-8")))
        except ValueError:
            pass
    try:
        result = proc.run([sys.executable, "-c", _CHILD, framework, str(library),
                           str(manifest_path)], timeout=TIMEOUT_S, echo=False,
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


def _cache_path(library: Path, manifest: dict) -> Path:
    child = hashlib.sha256(_CHILD.encode() + Path(__file__).read_bytes()).hexdigest()[:12]
    key = hashlib.sha256(f"{runtime.sha256_file(library)}|{manifest['framework']['version']}|"
                         f"{json.dumps(manifest.get('ops', []), sort_keys=True)}|{child}"
                         .encode()).hexdigest()
    return cache_dir() / "inventory" / f"{key[:32]}.json"


# --- what runs in the child, per framework --------------------------------------------
# Each returns (ops, builtin_clashes) and raises when the framework refuses the library.


def _pytorch(library: str, declared: list[str]) -> tuple[list[dict], list[dict]]:
    import torch

    before = set(torch._C._dispatch_get_all_op_names())
    builtin = [{"identity": name, "with": f"PyTorch's own {name}"}
               for name in declared if name in before]
    torch.ops.load_library(library)
    new = sorted(set(torch._C._dispatch_get_all_op_names()) - before)
    ops = [{"identity": name, "namespace": name.split("::", 1)[0],
            "name": name.split("::", 1)[1]} for name in new]
    return ops, builtin


def _tensorflow(library: str, declared: list[str]) -> tuple[list[dict], list[dict]]:
    __import__("tensorflow")  # initializes the op registry
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session as py_tf
    from tensorflow.python.framework import op_def_registry

    # TensorFlow drops an op whose name it already has, silently: look before loading
    builtin = [{"identity": name, "with": f"TensorFlow's own op {name}"}
               for name in declared if op_def_registry.get(name) is not None]
    handle = py_tf.TF_LoadLibrary(library)  # what tf.load_op_library does first
    op_list = op_def_pb2.OpList()
    op_list.ParseFromString(py_tf.TF_GetOpList(handle))
    ops = [{"identity": op.name, "name": op.name,
            "inputs": [a.name for a in op.input_arg], "outputs": [a.name for a in op.output_arg],
            "attrs": [a.name for a in op.attr]} for op in op_list.op]
    return ops, builtin


# OrtApi is append-only: these slots are fixed for every API version (onnxruntime_c_api.h)
_ORT_CREATE_SESSION_OPTIONS, _ORT_GET_ERROR_MESSAGE = 10, 2
_ORT_CREATE_DOMAIN, _ORT_DOMAIN_ADD, _ORT_ADD_DOMAIN = 26, 27, 28
_ORT_API_SLOTS = 512  # copied into the recording table; more than any OrtApi has
# OrtCustomOp: uint32_t version, then function pointers from CreateKernel (0) on
_ORT_OP_GET_NAME, _ORT_OP_GET_EP, _ORT_OP_IN_TYPE, _ORT_OP_IN_COUNT = 1, 2, 3, 4
_ORT_OP_OUT_TYPE, _ORT_OP_OUT_COUNT, _ORT_OP_START, _ORT_OP_END = 5, 6, 19, 20
_ORT_ELEMENT_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16",
                      6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16",
                      11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


def _onnxruntime(library: str, declared: list[str]) -> tuple[list[dict], list[dict]]:
    """Call the library's RegisterCustomOps with a real OrtSessionOptions and an OrtApi
    table that records the custom-op calls before passing them on."""
    import ctypes
    from pathlib import Path as _Path

    import onnxruntime

    capi = _Path(onnxruntime.__file__).parent / "capi"
    core = next(iter(sorted(capi.glob("libonnxruntime.so*"))), None)
    if core is None:
        raise RuntimeError(f"no libonnxruntime.so under {capi}")
    ort = ctypes.CDLL(str(core))
    ort.OrtGetApiBase.restype = ctypes.c_void_p
    base = ctypes.cast(ort.OrtGetApiBase(), ctypes.POINTER(ctypes.c_void_p))
    get_api_t = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32)
    real_get_api = get_api_t(base[0])
    status_t = ctypes.c_void_p

    domains: dict[int, str] = {}
    added: dict[int, list[int]] = {}
    registered: list[int] = []
    tables = []  # keep every recording table alive

    def recording_table(version: int) -> int | None:
        real = real_get_api(version)
        if not real:
            return None
        slots = ctypes.cast(real, ctypes.POINTER(ctypes.c_void_p))
        table = (ctypes.c_void_p * _ORT_API_SLOTS)(*[slots[i] for i in range(_ORT_API_SLOTS)])
        create_t = ctypes.CFUNCTYPE(status_t, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p))
        add_t = ctypes.CFUNCTYPE(status_t, ctypes.c_void_p, ctypes.c_void_p)
        real_create = create_t(slots[_ORT_CREATE_DOMAIN])
        real_add = add_t(slots[_ORT_DOMAIN_ADD])
        real_attach = add_t(slots[_ORT_ADD_DOMAIN])

        def create(name, out):
            status = real_create(name, out)
            if not status:
                domains[out[0]] = name.decode()
            return status

        def add(domain, op):
            status = real_add(domain, op)
            if not status:
                added.setdefault(domain, []).append(op)
            return status

        def attach(options, domain):
            status = real_attach(options, domain)
            if not status:
                registered.append(domain)
            return status

        hooks = (create_t(create), add_t(add), add_t(attach))
        for slot, hook in zip((_ORT_CREATE_DOMAIN, _ORT_DOMAIN_ADD, _ORT_ADD_DOMAIN), hooks):
            table[slot] = ctypes.cast(hook, ctypes.c_void_p)
        tables.append((table, hooks))
        return ctypes.addressof(table)

    get_api = get_api_t(recording_table)
    proxy_base = (ctypes.c_void_p * 2)(ctypes.cast(get_api, ctypes.c_void_p), base[1])
    api = ctypes.cast(real_get_api(onnxruntime_api_version()), ctypes.POINTER(ctypes.c_void_p))
    options = ctypes.c_void_p()
    create_options = ctypes.CFUNCTYPE(status_t, ctypes.POINTER(ctypes.c_void_p))(
        api[_ORT_CREATE_SESSION_OPTIONS])
    if create_options(ctypes.byref(options)):
        raise RuntimeError("ONNX Runtime could not create SessionOptions")
    lib = ctypes.CDLL(library)
    lib.RegisterCustomOps.restype = ctypes.c_void_p
    lib.RegisterCustomOps.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    status = lib.RegisterCustomOps(options, ctypes.addressof(proxy_base))
    if status:
        message = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)(
            api[_ORT_GET_ERROR_MESSAGE])(status)
        raise RuntimeError(f"RegisterCustomOps returned an error: {message.decode()}")

    ops: dict[tuple[str, str], dict] = {}
    for domain in registered:
        dname = domains.get(domain, "?")
        for op in added.get(domain, []):
            entry = _ort_op(op)
            key = (dname, entry["name"])
            item = ops.setdefault(key, {"identity": op_identity(dname, entry["name"]),
                                        "domain": dname, "name": entry["name"],
                                        "registrations": []})
            item["registrations"].append({k: v for k, v in entry.items() if k != "name"})
    builtin = []
    for (dname, name), item in sorted(ops.items()):
        if dname in BUILTIN_DOMAINS and _onnx_has(name, dname):
            builtin.append({"identity": item["identity"],
                            "with": f"the built-in {name} of domain {dname or 'ai.onnx'}"})
    return [ops[k] for k in sorted(ops)], builtin


def onnxruntime_api_version() -> int:
    """The newest ORT_API_VERSION the running ONNX Runtime serves (its minor version)."""
    import onnxruntime

    return int(onnxruntime.__version__.split(".")[1])


def _ort_op(address: int) -> dict:
    import ctypes

    version = ctypes.cast(address, ctypes.POINTER(ctypes.c_uint32))[0]
    fns = ctypes.cast(address + 8, ctypes.POINTER(ctypes.c_void_p))
    op_t = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)
    count_t = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p)
    type_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
    name = op_t(fns[_ORT_OP_GET_NAME])(address).decode()
    ep = fns[_ORT_OP_GET_EP] and op_t(fns[_ORT_OP_GET_EP])(address)

    def types(count: int, get: int) -> list[str]:
        n = count_t(fns[count])(address)
        return [_ORT_ELEMENT_TYPES.get(type_t(fns[get])(address, i), "any") for i in range(n)]

    entry = {"name": name, "execution_provider": (ep or b"CPUExecutionProvider").decode(),
             "inputs": types(_ORT_OP_IN_COUNT, _ORT_OP_IN_TYPE),
             "outputs": types(_ORT_OP_OUT_COUNT, _ORT_OP_OUT_TYPE)}
    if version >= 17 and fns[_ORT_OP_START]:  # since/until opset: OrtCustomOp version 17+
        int_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
        entry["since_version"] = int_t(fns[_ORT_OP_START])(address)
        if fns[_ORT_OP_END]:
            entry["end_version"] = int_t(fns[_ORT_OP_END])(address)
    return entry


def _onnx_has(name: str, domain: str) -> bool:
    if domain.startswith("com.microsoft") or domain.startswith("com.ms"):
        return True  # ONNX Runtime's contrib domains: any custom op there is suspect
    try:
        import onnx.defs
    except ImportError:
        return True
    return onnx.defs.has(name, "" if domain == "ai.onnx" else domain)


def trt_identity(namespace: str, name: str, version: str) -> str:
    return f"{namespace}::{name} (TensorRT plugin {name}, version {version}, namespace {namespace})"


def _tensorrt(library: str, declared: list[str]) -> tuple[list[dict], list[dict]]:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.ERROR)
    trt.init_libnvinfer_plugins(logger, "")  # TensorRT's own plugins, to clash against
    registry = trt.get_plugin_registry()

    def creators() -> set[tuple[str, str, str]]:
        return {(c.name, c.plugin_version, c.plugin_namespace) for c in registry.all_creators}

    before = creators()
    if registry.load_library(library) is None:
        raise RuntimeError("TensorRT's plugin registry refused the library")
    new = sorted(creators() - before)
    ops = [{"identity": trt_identity(ns, name, version), "name": name, "version": version,
            "namespace": ns} for name, version, ns in new]
    taken = {trt_identity(ns, name, version) for name, version, ns in before}
    builtin = [{"identity": i, "with": "a plugin TensorRT already has"}
               for i in declared if i in taken]
    return ops, builtin


CHILD_TAKERS = {"pytorch": _pytorch, "tensorflow": _tensorflow, "onnxruntime": _onnxruntime,
                "tensorrt": _tensorrt}
