"""PyTorch's part of the runtime loader (opforge.artifacts.runtime is the core).

Appended verbatim to the core in the opforge_runtime.py that ships with every artifact, so:
stdlib only at module level (torch is imported inside the functions), no `from __future__`,
no opforge imports, names unique across the frameworks' loader files. Inside opforge the
adapter hands register_pytorch to the core instead (opforge.artifacts.loader).
"""


def running_pytorch() -> dict:
    import torch

    return {"version": torch.__version__, "cxx11_abi": int(torch._C._GLIBCXX_USE_CXX11_ABI)}


def load_pytorch(library: str):
    import torch

    torch.ops.load_library(library)
    return torch.ops


# --- fake kernels of ops with data-dependent dims ------------------------------------------
# Their output sizes are unbacked SymInts (torch.library.get_ctx().new_dynamic_size), which
# only Python can make; the glue's C++ Meta kernels cover every other op. The sizes come
# from the shape rules the manifest records as data (opforge.recipe.shapes.rule_json), walked
# here on SymInts; nothing of the manifest is evaluated as code.


def _dim_pytorch(torch, node, sizes, attrs, dynamic):
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "dim":
        return sizes[node[1]][node[2]]
    if kind == "attr":
        return attrs[node[1]]
    if kind == "item":
        return attrs[node[1]][node[2]]
    if kind == "dynamic":
        return dynamic[node[1]]
    a = _dim_pytorch(torch, node[2], sizes, attrs, dynamic)
    b = _dim_pytorch(torch, node[3], sizes, attrs, dynamic)
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "//": lambda: a // b,
            "cdiv": lambda: -((-a) // b), "min": lambda: torch.sym_min(a, b),
            "max": lambda: torch.sym_max(a, b)}[node[1]]()


def _shape_pytorch(torch, rule, sizes, attrs, dynamic):
    if rule["kind"] == "like":
        return list(sizes[rule["args"][0]])
    if rule["kind"] == "broadcast":
        return list(torch.broadcast_shapes(sizes[rule["args"][0]], sizes[rule["args"][1]]))
    shape = []
    for part in rule["parts"]:
        if part[0] == "slice":
            shape += list(sizes[part[1]][part[2]:part[3]])
        else:
            shape += [_dim_pytorch(torch, d, sizes, attrs, dynamic) for d in part[1]]
    return shape


def _fake_pytorch(torch, op):
    """The fake kernel of a manifest op with data-dependent dims."""
    inputs = [t["name"] for t in op["inputs"]]
    defaults = {a["name"]: a["default"] for a in op["attrs"]}

    def fake(*args, **kwargs):
        given = dict(zip(inputs, args))
        sizes = {n: t.shape for n, t in given.items() if t is not None}
        attrs = {**defaults, **kwargs}
        ctx = torch.library.get_ctx()
        dynamic = {}
        for dim in op["dynamic_dims"]:
            bound = _dim_pytorch(torch, dim["bound"], sizes, attrs, dynamic)
            static = isinstance(bound, int)
            size = ctx.new_dynamic_size(max=bound if static else None)
            if not static:
                torch._check(size <= bound)
            dynamic[dim["name"]] = size
        first = given[inputs[0]]
        outputs = []
        for t, rule in zip(op["outputs"], op["output_rules"]):
            dtype = t["dtype"]
            if dtype in op["types"]:  # a type variable: the dtype of its first input
                source = next(i["name"] for i in op["inputs"] if i["dtype"] == dtype)
                dtype = given[source].dtype
            else:
                dtype = getattr(torch, dtype)
            outputs.append(first.new_empty(_shape_pytorch(torch, rule, sizes, attrs, dynamic),
                                           dtype=dtype))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    return fake


def loaded_pytorch(handle, manifest) -> None:
    """Registers the fake kernels of the library's ops with data-dependent dims, so that
    torch.export and torch.compile trace models calling them."""
    import torch

    for op in manifest["ops"]:
        if op.get("dynamic_dims") and not op.get("native"):
            try:
                torch.library.register_fake(op["identity"], _fake_pytorch(torch, op))
            except RuntimeError as exc:  # registered by an earlier load in this process
                if "already has" not in str(exc):
                    raise


def register_pytorch(register) -> None:
    register("pytorch", running_pytorch, load_pytorch, loaded=loaded_pytorch)


if "register" in globals():  # appended to the core: the shipped opforge_runtime.py
    register_pytorch(register)  # noqa: F821 (the core's)
