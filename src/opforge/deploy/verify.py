"""`opforge verify`: every test vector of every op, through a running Triton, with tritonclient.

The server says which of its models run which op: a model takes part when its config has
`parameters { key: "opforge.op" value: { string_value: "<op>" } }` (and, for attribute
values other than the op's defaults, `"opforge.attrs"`: a JSON object). Its inputs and
outputs carry the op's names. A vector goes through every such model that fits it: same
attribute values, a type binding the model's dtypes allow, input ranks the model's dims
accept (with max_batch_size > 0 the vector is sent as a batch of one). A vector that no
model fits is a failure: it was not verified.
"""

from __future__ import annotations

import json

from opforge.core import extras, log
from opforge.artifacts import vectors
from opforge.core.errors import ServerError, UserError
from opforge.recipe import dtypes


class Client:
    """tritonclient over HTTP or gRPC, with configs as plain dicts."""

    def __init__(self, url: str, protocol: str, timeout: float) -> None:
        self.protocol = protocol
        tc = extras.need(f"tritonclient.{protocol}", "opforge verify", "verify")
        self.tc = tc
        url = url.removeprefix("http://").removeprefix("grpc://")
        self.url = url
        kwargs = {"network_timeout": timeout} if protocol == "http" else {}
        self.client = tc.InferenceServerClient(url, **kwargs)
        try:
            ready = self.client.is_server_ready()
        except Exception as exc:  # connection refused, wrong protocol on the port...
            raise ServerError(f"no Triton answers {protocol} at {url} ({vectors.error_message(exc)}); "
                              f"start one with `opforge serve MODEL_REPOSITORY`, or check "
                              f"--url and --protocol") from None
        if not ready:
            raise ServerError(f"the Triton at {url} is up but not ready (a model failed to "
                              f"load?); see its log")

    def models(self) -> list[dict]:
        index = self.client.get_model_repository_index(
            **({"as_json": True} if self.protocol == "grpc" else {}))
        if self.protocol == "grpc":
            index = index.get("models", [])
        return [m for m in index if m.get("state") == "READY"]

    def config(self, name: str) -> dict:
        if self.protocol == "grpc":
            return self.client.get_model_config(name, as_json=True)["config"]
        return self.client.get_model_config(name)

    def infer(self, model: dict, inputs: dict, outputs: list[str]) -> dict:
        import numpy as np

        tc = self.tc
        batch = model["max_batch_size"] > 0
        requests = []
        for spec in (t for t in model["inputs"] if t["name"] in inputs):  # absent: not sent
            # tritonclient takes BF16 as ml_dtypes.bfloat16 arrays (since r26.06)
            value = np.asarray(inputs[spec["name"]], dtype=dtypes.numpy_dtype(spec["dtype"]))
            if batch:
                value = value[np.newaxis, ...]
            item = tc.InferInput(spec["name"], list(value.shape), spec["datatype"])
            item.set_data_from_numpy(value)
            requests.append(item)
        wanted = [tc.InferRequestedOutput(n) for n in outputs]
        result = self.client.infer(model["name"], requests, outputs=wanted)
        got = {n: result.as_numpy(n) for n in outputs}
        return {n: v[0] if batch else v for n, v in got.items()}

    def close(self) -> None:
        self.client.close()


def _param(config: dict, key: str) -> str | None:
    value = (config.get("parameters") or {}).get(key)
    return value.get("string_value") if isinstance(value, dict) else None


def _tensors(items: list[dict]) -> list[dict]:
    found = []
    for t in items:
        data_type = t.get("data_type", "TYPE_FP32")
        facts = dtypes.by_triton(data_type)  # None: a type no op of a recipe takes
        dtype, datatype = (facts.name, facts.wire) if facts else (None, None)
        found.append({"name": t["name"], "dims": [int(d) for d in t.get("dims", [])],
                      "data_type": data_type, "dtype": dtype, "datatype": datatype,
                      "optional": bool(t.get("optional", False))})
    return found


def discover(client: Client, ops: dict[str, dict]) -> tuple[list[dict], list[str]]:
    """The server's models that say they run one of `ops`; and notes on the others."""
    found, notes = [], []
    for entry in client.models():
        config = client.config(entry["name"])
        op_name = _param(config, "opforge.op")
        if op_name is None:
            continue
        op = ops.get(op_name.split("::")[-1].split(">")[-1].split(".")[-1])
        if op is None:
            notes.append(f"model {entry['name']} runs {op_name}, not an op of this recipe")
            continue
        try:
            attrs = json.loads(_param(config, "opforge.attrs") or "{}")
        except ValueError as exc:
            notes.append(f"model {entry['name']}: parameter opforge.attrs is not JSON ({exc}); "
                         f"skipped")
            continue
        framework = (_param(config, "opforge.framework") or config.get("backend") or
                     config.get("platform", "?"))
        found.append({"name": entry["name"], "op": op["name"], "attrs": attrs,
                      "framework": framework.split("_")[0],
                      "max_batch_size": int(config.get("max_batch_size", 0)),
                      "inputs": _tensors(config.get("input", [])),
                      "outputs": _tensors(config.get("output", []))})
    return found, notes


def fits(op: dict, vector: dict, model: dict) -> tuple[dict | None, str]:
    """The type binding under which `vector` can go through `model`, or None and why not."""
    if op["framework"] not in (None, model["framework"]):
        return None, f"{op['name']} is native to {op['framework']}"
    defaults = {k: v for k, v in op["attrs"].items() if v is not None}
    wanted, has = {**defaults, **vector["attrs"]}, {**defaults, **model["attrs"]}
    if wanted != has:
        return None, f"runs {op['name']} with {has}, the vector needs {wanted}"
    by_name = {t["name"]: t for t in model["inputs"]}
    names = [t["name"] for t in op["inputs"]]
    required = [t["name"] for t in op["inputs"] if not t.get("optional")]
    # a model may leave an optional input out, or declare it (`optional: true` in its
    # config where requests may leave it out)
    if not set(required) <= set(by_name) <= set(names):
        return None, f"inputs {sorted(by_name)}, the op's are {names}"
    if given_elsewhere := sorted(set(vector["inputs"]) - set(by_name)):
        return None, f"takes no input {given_elsewhere[0]}, which the vector gives"
    if needed := sorted(n for n, t in by_name.items()
                        if n not in vector["inputs"] and not t.get("optional")):
        return None, (f"needs input {needed[0]}, which the vector leaves out (declare it "
                      f"`optional: true` in the model's config)")
    binding = dict(vector["types"])
    for t in op["inputs"] + op["outputs"]:
        served = by_name.get(t["name"]) or next((o for o in model["outputs"]
                                                 if o["name"] == t["name"]), None)
        if served is None:
            continue
        var = t["dtype"]
        if var in op["types"]:
            if served["dtype"] not in op["types"][var]:
                return None, f"{t['name']} is {served['data_type']}, not one of {var}'s types"
            if binding.setdefault(var, served["dtype"]) != served["dtype"]:
                return None, f"{var} is {binding[var]} for the vector, {served['dtype']} here"
        elif served["dtype"] != var:
            return None, f"{t['name']} is {served['data_type']}, the op's is {var}"
    for t in (t for t in op["inputs"] if t["name"] in vector["inputs"]):
        shape = _shape(vector["inputs"][t["name"]])
        dims = by_name[t["name"]]["dims"]
        if len(shape) != len(dims) or any(d not in (-1, s) for d, s in zip(dims, shape)):
            return None, f"{t['name']} has shape {shape}, the model takes dims {dims}"
    return binding, ""


def _shape(value) -> list[int]:
    import numpy as np

    return list(np.asarray(value).shape)


def run(recipe, url: str, protocol: str, timeout: float = 60.0) -> vectors.Report:
    spec = vectors.spec_for(recipe)
    ops = {op["name"]: op for op in spec["ops"] if op["tests"]}
    if not ops:
        raise UserError(f"{recipe.path} has no test vectors: add [[ops.tests]] to an op")
    client = Client(url, protocol, timeout)
    report = vectors.Report()
    try:
        with log.step(f"find the models of {recipe.package.name} at {client.url}"):
            models, notes = discover(client, ops)
            for note in notes:
                log.detail(note)
            for m in models:
                log.detail(f"{m['name']} ({m['framework']}): {m['op']} {m['attrs'] or ''}")
        with log.step(f"send every test vector over {protocol}"):
            for op in ops.values():
                for index, vector in enumerate(op["tests"]):
                    name = vector["name"] or str(index)
                    ran, why_not = 0, []
                    for model in (m for m in models if m["op"] == op["name"]):
                        binding, why = fits(op, vector, model)
                        if binding is None:
                            why_not.append(f"{model['name']}: {why}")
                            continue
                        ran += 1
                        row = _send(client, op, vector, name, model, binding)
                        report.rows.append(row)
                        log.progress(model["name"], f"{op['name']} {name}: "
                                                    f"{'ok' if row['ok'] else 'FAIL'}")
                    if not ran:
                        report.rows.append({
                            "op": op["name"], "vector": name, "types": {}, "framework": "-",
                            "model": "-", "ok": False, "max_error": None, "outputs": {},
                            "why": "no model in the server fits it: " + (
                                "; ".join(why_not) if why_not else
                                f"none says it runs {op['name']} (config parameter "
                                f"opforge.op, see docs/serve.md)")})
    finally:
        client.close()
    return report


def _send(client: Client, op: dict, vector: dict, name: str, model: dict,
          binding: dict) -> dict:
    outputs = [t["name"] for t in op["outputs"] if any(o["name"] == t["name"]
                                                        for o in model["outputs"])]
    row = {"op": op["name"], "vector": name, "types": binding, "framework": model["framework"],
           "model": model["name"], "outputs": {}}
    try:
        got = client.infer(model, vector["inputs"], outputs)
    except Exception as exc:  # the server's answer is a result here, not a crash
        vectors.judge(row, op, vector, binding, error=exc)
    else:
        vectors.judge(row, op, vector, binding, got=got)
    return vectors.finish(row)
