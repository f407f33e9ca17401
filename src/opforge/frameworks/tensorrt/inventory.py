"""TensorRT's op inventory taker: runs in the inventory's child process
(opforge.artifacts.inventory), which imports it by the adapter's `inventory_taker`."""

from __future__ import annotations


def identity(namespace: str, name: str, version: str) -> str:
    return f"{namespace}::{name} (TensorRT plugin {name}, version {version}, namespace {namespace})"


def take(library: str, declared: list[str]) -> tuple[list[dict], list[dict]]:
    """The plugin registry's creators before and after load_library (TensorRT's own plugins
    initialized first, to clash against). Raises when the registry refuses the library."""
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
    ops = [{"identity": identity(ns, name, version), "name": name, "version": version,
            "namespace": ns} for name, version, ns in new]
    taken = {identity(ns, name, version) for name, version, ns in before}
    builtin = [{"identity": i, "with": "a plugin TensorRT already has"}
               for i in declared if i in taken]
    return ops, builtin
