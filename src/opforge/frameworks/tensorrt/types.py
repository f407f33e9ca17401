"""TensorRT's type map: a recipe dtype as a DataType (TensorRT has no float64 tensors), a
recipe attribute type as the plugin field type the glue writes, with what a field of it may
hold (for error messages)."""

from __future__ import annotations

DATA_TYPES = {"float16": "DataType::kHALF", "float32": "DataType::kFLOAT",
              "int32": "DataType::kINT32", "int64": "DataType::kINT64"}

# recipe attribute type -> (plugin field type written, what a field may be)
PLUGIN_FIELDS = {
    "int": ("PluginFieldType::kINT64", "one INT32 or INT64 value"),
    "float": ("PluginFieldType::kFLOAT64", "one FLOAT32 or FLOAT64 value"),
    "bool": ("PluginFieldType::kINT32", "one integer (0 or 1)"),
    "string": ("PluginFieldType::kCHAR", "CHAR data"),
    "int[]": ("PluginFieldType::kINT64", "INT32 or INT64 values"),
    "float[]": ("PluginFieldType::kFLOAT64", "FLOAT32 or FLOAT64 values"),
}
