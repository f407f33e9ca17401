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

    name: str  # the recipe's spelling, which is numpy's too (ml_dtypes' for bfloat16, float8)
    triton: str | None  # config.pbtxt data_type; None: Triton has no such type
    wire: str | None  # tritonclient's (KServe v2) datatype; None: the protocol has none
    kernel: str  # the opforge::DType enumerator a kernel sees
    atol: float  # a test vector's default absolute tolerance (integers compare exactly)
    rtol: float  # and its default relative tolerance
    kind: str = "float"  # "float", "int" or "bool": what a test vector's values must be


FACTS: dict[str, DTypeFacts] = {f.name: f for f in (
    DTypeFacts("float16", "TYPE_FP16", "FP16", "Float16", 1e-3, 1e-3),
    DTypeFacts("float32", "TYPE_FP32", "FP32", "Float32", 1e-5, 1e-5),
    DTypeFacts("float64", "TYPE_FP64", "FP64", "Float64", 1e-12, 1e-12),
    DTypeFacts("int32", "TYPE_INT32", "INT32", "Int32", 0.0, 0.0, "int"),
    DTypeFacts("int64", "TYPE_INT64", "INT64", "Int64", 0.0, 0.0, "int"),
    # bfloat16 keeps 8 significant bits: 2**-8 relative is one unit in the last place
    DTypeFacts("bfloat16", "TYPE_BF16", "BF16", "BFloat16", 1e-2, 1e-2),
    DTypeFacts("int8", "TYPE_INT8", "INT8", "Int8", 0.0, 0.0, "int"),
    DTypeFacts("uint8", "TYPE_UINT8", "UINT8", "UInt8", 0.0, 0.0, "int"),
    DTypeFacts("int16", "TYPE_INT16", "INT16", "Int16", 0.0, 0.0, "int"),
    DTypeFacts("bool", "TYPE_BOOL", "BOOL", "Bool", 0.0, 0.0, "bool"),
    # FP8: 3 and 2 mantissa bits (one unit in the last place: 1/8 and 1/4 relative); neither
    # Triton's model configuration nor the KServe protocol has a datatype for them
    DTypeFacts("float8_e4m3fn", None, None, "Float8E4M3FN", 1e-1, 1.25e-1),
    DTypeFacts("float8_e5m2", None, None, "Float8E5M2", 1e-1, 2.5e-1),
)}

NAMES: tuple[str, ...] = tuple(FACTS)

# integer dtype -> (least, greatest) value a test vector may hold
INT_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-2**7, 2**7 - 1), "uint8": (0, 2**8 - 1), "int16": (-2**15, 2**15 - 1),
    "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}

NO_TRITON_TYPE = ("Triton has no FP8 datatype (neither config.pbtxt's data_type nor the KServe "
                  "protocol's), so a model cannot take or return {dtype} tensors")


def numpy_dtype(name: str):
    """The numpy dtype of a recipe dtype; bfloat16 and the float8 types are ml_dtypes'."""
    import numpy as np

    if name == "bfloat16" or name.startswith("float8"):
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def by_triton(data_type: str) -> DTypeFacts | None:
    """The recipe dtype of a Triton config data_type (TYPE_FP32), or None when no recipe
    dtype is that type."""
    return next((f for f in FACTS.values() if f.triton == data_type), None)
