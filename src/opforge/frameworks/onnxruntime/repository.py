"""ONNX models in a Triton model repository: served by Triton's ONNX Runtime backend, read
for the nodes outside ONNX Runtime's own domains; op libraries are loaded through
model_operations { op_library_filename } in each model's config.pbtxt.

Also the names ONNX Runtime gives ops (domain::name), which the op inventory shares."""

from __future__ import annotations

from pathlib import Path

BACKEND = "onnxruntime"
PLATFORMS = ("onnxruntime_onnx",)  # what older configs name instead of the backend
MODEL_FILES = ("model.onnx",)  # what Triton looks for in a version folder
OP_LOADING = "model_operations"
OP_KIND = "ONNX Runtime ops"

# ONNX Runtime's own domains: a custom op there shadows or clashes with a built-in
BUILTIN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training",
                   "ai.onnx.preview.training", "com.microsoft", "com.microsoft.nchwc",
                   "com.microsoft.experimental", "com.ms.internal.nhwc"}


def op_identity(domain: str, name: str) -> str:
    """The name under which ONNX Runtime knows an op of `domain`."""
    return f"{domain}::{name} (ONNX domain {domain})"


def model_ops(path: Path) -> dict[str, str]:
    """Op identity -> where it is used, for every node outside ONNX Runtime's own domains,
    subgraphs and local functions included (a call of a local function is not an op);
    ImportError without onnx."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    functions = {(f.domain, f.name) for f in model.functions}
    found: set[tuple[str, str]] = set()

    def walk(nodes) -> None:
        for node in nodes:
            key = (node.domain, node.op_type)
            if node.domain not in BUILTIN_DOMAINS and key not in functions:
                found.add(key)
            for attr in node.attribute:
                if attr.HasField("g"):
                    walk(attr.g.node)
                for graph in attr.graphs:
                    walk(graph.node)

    walk(model.graph.node)
    for function in model.functions:
        walk(function.node)
    return {op_identity(domain, op): f"{path.name}: node {op} of domain {domain}"
            for domain, op in sorted(found)}
