"""PyTorch's op inventory taker: runs in the inventory's child process
(opforge.artifacts.inventory), which imports it by the adapter's `inventory_taker`."""

from __future__ import annotations


def take(library: str, declared: list[str]) -> tuple[list[dict], list[dict]]:
    """The dispatcher's operator names before and after torch.ops.load_library; a declared
    op PyTorch already has is a clash. Raises when PyTorch refuses the library."""
    import torch

    before = set(torch._C._dispatch_get_all_op_names())
    builtin = [{"identity": name, "with": f"PyTorch's own {name}"}
               for name in declared if name in before]
    torch.ops.load_library(library)
    new = sorted(set(torch._C._dispatch_get_all_op_names()) - before)
    ops = [{"identity": name, "namespace": name.split("::", 1)[0],
            "name": name.split("::", 1)[1]} for name in new]
    return ops, builtin
