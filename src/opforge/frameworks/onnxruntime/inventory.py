"""ONNX Runtime's op inventory taker: runs in the inventory's child process
(opforge.artifacts.inventory), which imports it by the adapter's `inventory_taker`.

It calls the library's RegisterCustomOps with a real OrtSessionOptions and an OrtApi whose
CreateCustomOpDomain / CustomOpDomain_Add / AddCustomOpDomain record each call before
passing it on to ONNX Runtime (through ctypes: no compiler needed)."""

from __future__ import annotations

import ctypes
from pathlib import Path

from opforge.frameworks.onnxruntime.repository import BUILTIN_DOMAINS, op_identity

# OrtApi is append-only: these slots are fixed for every API version (onnxruntime_c_api.h)
_CREATE_SESSION_OPTIONS, _GET_ERROR_MESSAGE = 10, 2
_CREATE_DOMAIN, _DOMAIN_ADD, _ADD_DOMAIN = 26, 27, 28
_API_SLOTS = 512  # copied into the recording table; more than any OrtApi has
# OrtCustomOp: uint32_t version, then function pointers from CreateKernel (0) on
_OP_GET_NAME, _OP_GET_EP, _OP_IN_TYPE, _OP_IN_COUNT = 1, 2, 3, 4
_OP_OUT_TYPE, _OP_OUT_COUNT, _OP_START, _OP_END = 5, 6, 19, 20
_ELEMENT_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16",
                  6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16",
                  11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}
def take(library: str, declared: list[str]) -> tuple[list[dict], list[dict]]:
    """Call the library's RegisterCustomOps with a real OrtSessionOptions and an OrtApi
    table that records the custom-op calls before passing them on."""
    import onnxruntime

    capi = Path(onnxruntime.__file__).parent / "capi"
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
        table = (ctypes.c_void_p * _API_SLOTS)(*[slots[i] for i in range(_API_SLOTS)])
        create_t = ctypes.CFUNCTYPE(status_t, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p))
        add_t = ctypes.CFUNCTYPE(status_t, ctypes.c_void_p, ctypes.c_void_p)
        real_create = create_t(slots[_CREATE_DOMAIN])
        real_add = add_t(slots[_DOMAIN_ADD])
        real_attach = add_t(slots[_ADD_DOMAIN])

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
        for slot, hook in zip((_CREATE_DOMAIN, _DOMAIN_ADD, _ADD_DOMAIN), hooks):
            table[slot] = ctypes.cast(hook, ctypes.c_void_p)
        tables.append((table, hooks))
        return ctypes.addressof(table)

    get_api = get_api_t(recording_table)
    proxy_base = (ctypes.c_void_p * 2)(ctypes.cast(get_api, ctypes.c_void_p), base[1])
    api = ctypes.cast(real_get_api(api_version()), ctypes.POINTER(ctypes.c_void_p))
    options = ctypes.c_void_p()
    create_options = ctypes.CFUNCTYPE(status_t, ctypes.POINTER(ctypes.c_void_p))(
        api[_CREATE_SESSION_OPTIONS])
    if create_options(ctypes.byref(options)):
        raise RuntimeError("ONNX Runtime could not create SessionOptions")
    lib = ctypes.CDLL(library)
    lib.RegisterCustomOps.restype = ctypes.c_void_p
    lib.RegisterCustomOps.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    status = lib.RegisterCustomOps(options, ctypes.addressof(proxy_base))
    if status:
        message = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)(
            api[_GET_ERROR_MESSAGE])(status)
        raise RuntimeError(f"RegisterCustomOps returned an error: {message.decode()}")

    ops: dict[tuple[str, str], dict] = {}
    for domain in registered:
        dname = domains.get(domain, "?")
        for op in added.get(domain, []):
            entry = _custom_op(op)
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


def api_version() -> int:
    """The newest ORT_API_VERSION the running ONNX Runtime serves (its minor version)."""
    import onnxruntime

    return int(onnxruntime.__version__.split(".")[1])


def _custom_op(address: int) -> dict:
    version = ctypes.cast(address, ctypes.POINTER(ctypes.c_uint32))[0]
    fns = ctypes.cast(address + 8, ctypes.POINTER(ctypes.c_void_p))
    op_t = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)
    count_t = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p)
    type_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
    name = op_t(fns[_OP_GET_NAME])(address).decode()
    ep = fns[_OP_GET_EP] and op_t(fns[_OP_GET_EP])(address)

    def types(count: int, get: int) -> list[str]:
        n = count_t(fns[count])(address)
        return [_ELEMENT_TYPES.get(type_t(fns[get])(address, i), "any") for i in range(n)]

    entry = {"name": name, "execution_provider": (ep or b"CPUExecutionProvider").decode(),
             "inputs": types(_OP_IN_COUNT, _OP_IN_TYPE),
             "outputs": types(_OP_OUT_COUNT, _OP_OUT_TYPE)}
    if version >= 17 and fns[_OP_START]:  # since/until opset: OrtCustomOp version 17+
        int_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
        entry["since_version"] = int_t(fns[_OP_START])(address)
        if fns[_OP_END]:
            entry["end_version"] = int_t(fns[_OP_END])(address)
    return entry


def _onnx_has(name: str, domain: str) -> bool:
    if domain.startswith("com.microsoft") or domain.startswith("com.ms"):
        return True  # ONNX Runtime's contrib domains: any custom op there is suspect
    try:
        import onnx.defs
    except ImportError:
        return True
    return onnx.defs.has(name, "" if domain == "ai.onnx" else domain)
