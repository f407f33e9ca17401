"""TensorFlow's type map: a recipe dtype as an op attr's type and as a DataType enumerator,
a recipe attribute type as an attr's type and the C++ type OpKernelConstruction reads it
into."""

from __future__ import annotations

# recipe dtype -> (attr type, DataType enumerator)
DTYPES = {"float16": ("half", "DT_HALF"), "float32": ("float", "DT_FLOAT"),
          "float64": ("double", "DT_DOUBLE"), "int32": ("int32", "DT_INT32"),
          "int64": ("int64", "DT_INT64"), "bfloat16": ("bfloat16", "DT_BFLOAT16"),
          "int8": ("int8", "DT_INT8"), "uint8": ("uint8", "DT_UINT8"),
          "int16": ("int16", "DT_INT16"), "bool": ("bool", "DT_BOOL"),
          "float8_e4m3fn": ("float8_e4m3fn", "DT_FLOAT8_E4M3FN"),
          "float8_e5m2": ("float8_e5m2", "DT_FLOAT8_E5M2")}

# recipe dtype -> why TensorFlow has no tensors of it (none: it has them all)
MISSING: dict[str, str] = {}
# recipe dtype -> the first TensorFlow with it (tf.dtypes.experimental.float8_* from 2.12)
ADDED = {"float8_e4m3fn": "2.12", "float8_e5m2": "2.12"}

# recipe attribute type -> (attr type, C++ type)
ATTR_TYPES = {
    "int": ("int", "int64_t"),
    "float": ("float", "float"),
    "bool": ("bool", "bool"),
    "string": ("string", "std::string"),
    "int[]": ("list(int)", "std::vector<int64_t>"),
    "float[]": ("list(float)", "std::vector<float>"),
}


def attr_dtype(dtype: str) -> str:
    """The dtype as an op's attr or argument type spells it (`float`, `half`)."""
    return DTYPES[dtype][0]


def data_type(dtype: str) -> str:
    """The dtype as a DataType enumerator (`DT_FLOAT`)."""
    return DTYPES[dtype][1]
