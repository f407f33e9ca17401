"""TensorRT's type map: a recipe dtype as a DataType (TensorRT has no float64 tensors), a
recipe attribute type as the plugin field type the glue writes, with what a field of it may
hold (for error messages)."""

from __future__ import annotations

DATA_TYPES = {"float16": "DataType::kHALF", "float32": "DataType::kFLOAT",
              "int32": "DataType::kINT32", "int64": "DataType::kINT64",
              "bfloat16": "DataType::kBF16", "int8": "DataType::kINT8",
              "uint8": "DataType::kUINT8", "bool": "DataType::kBOOL",
              "float8_e4m3fn": "DataType::kFP8"}

# recipe dtype -> why TensorRT has no tensors of it (NvInferRuntimeBase.h's DataType, 10.x
# and 11.x alike)
MISSING = {
    "float64": "TensorRT has no float64 tensors (its DataType has no 64-bit float)",
    "int16": "TensorRT has no int16 tensors (its DataType has 8, 32 and 64-bit integers)",
    "float8_e5m2": "TensorRT's only FP8 type, kFP8, is e4m3 (float8_e4m3fn); it has no e5m2",
}
# recipe dtype -> the first TensorRT with it (every TensorRT opforge builds for, 10 and
# later, has kBF16 and kFP8)
ADDED: dict[str, str] = {}

# recipe attribute type -> (plugin field type written, what a field may be)
PLUGIN_FIELDS = {
    "int": ("PluginFieldType::kINT64", "one INT32 or INT64 value"),
    "float": ("PluginFieldType::kFLOAT64", "one FLOAT32 or FLOAT64 value"),
    "bool": ("PluginFieldType::kINT32", "one integer (0 or 1)"),
    "string": ("PluginFieldType::kCHAR", "CHAR data"),
    "int[]": ("PluginFieldType::kINT64", "INT32 or INT64 values"),
    "float[]": ("PluginFieldType::kFLOAT64", "FLOAT32 or FLOAT64 values"),
}
