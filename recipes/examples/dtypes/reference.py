"""numpy references of the dtypes example's ops, for its [[ops.checks]] (`opforge test`).
bfloat16 arrays are ml_dtypes'; arithmetic is float32, as in the kernels."""

import numpy as np


def silu(x):
    v = x.astype(np.float32)
    return (v / (1 + np.exp(-v))).astype(x.dtype)


def quantize_int8(x, scale, zero_point):
    v = np.rint(x / np.float32(scale)) + zero_point  # rint rounds half to even
    return np.clip(v, -128, 127).astype(np.int8)


def dequantize(q, scale, zero_point):
    return ((q.astype(np.int64) - zero_point).astype(np.float32) * np.float32(scale))


def masked_fill(x, mask, value):
    return np.where(mask, np.asarray(value).astype(x.dtype), x)
