"""ONNX Runtime's type map: a recipe dtype as an ONNXTensorElementDataType enumerator of the
C API."""

from __future__ import annotations

ELEMENT_TYPES = {"float16": "ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16",
                 "float32": "ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT",
                 "float64": "ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE",
                 "int32": "ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32",
                 "int64": "ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64",
                 "bfloat16": "ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16",
                 "int8": "ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8",
                 "uint8": "ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8",
                 "int16": "ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16",
                 "bool": "ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL",
                 "float8_e4m3fn": "ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E4M3FN",
                 "float8_e5m2": "ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E5M2"}

# recipe dtype -> why ONNX Runtime has no tensors of it (none: it has them all)
MISSING: dict[str, str] = {}
# recipe dtype -> the first ONNX Runtime whose C API has it (the FLOAT8 element types came
# with ONNX's float8 in 1.16; the 1.15 headers lack them)
ADDED = {"float8_e4m3fn": "1.16", "float8_e5m2": "1.16"}
