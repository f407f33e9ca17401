"""The dtypes a recipe may name, and what each one is wherever no single framework is
involved: numpy (test vectors), Triton's model configuration and its wire protocol (verify),
the kernel API, and the tolerance a test vector gets by default.

Adding a dtype: a row here, a row in each framework's type map (frameworks/<name>/types.py),
and its enumerator in opforge::DType (templates/include/opforge/kernel.h).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DTypeFacts:
    """One recipe dtype outside any framework."""

    name: str  # the recipe's spelling, which is numpy's too
    triton: str  # config.pbtxt data_type
    wire: str  # tritonclient's (KServe v2) datatype
    kernel: str  # the opforge::DType enumerator a kernel sees
    atol: float  # a test vector's default absolute tolerance (integers compare exactly)
    rtol: float  # and its default relative tolerance


FACTS: dict[str, DTypeFacts] = {f.name: f for f in (
    DTypeFacts("float16", "TYPE_FP16", "FP16", "Float16", 1e-3, 1e-3),
    DTypeFacts("float32", "TYPE_FP32", "FP32", "Float32", 1e-5, 1e-5),
    DTypeFacts("float64", "TYPE_FP64", "FP64", "Float64", 1e-12, 1e-12),
    DTypeFacts("int32", "TYPE_INT32", "INT32", "Int32", 0.0, 0.0),
    DTypeFacts("int64", "TYPE_INT64", "INT64", "Int64", 0.0, 0.0),
)}

NAMES: tuple[str, ...] = tuple(FACTS)


def by_triton(data_type: str) -> DTypeFacts | None:
    """The recipe dtype of a Triton config data_type (TYPE_FP32), or None when no recipe
    dtype is that type."""
    return next((f for f in FACTS.values() if f.triton == data_type), None)
