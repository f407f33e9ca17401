"""ONNX Runtime's type map: a recipe dtype as an ONNXTensorElementDataType enumerator of the
C API."""

from __future__ import annotations

ELEMENT_TYPES = {"float16": "ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16",
                 "float32": "ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT",
                 "float64": "ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE",
                 "int32": "ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32",
                 "int64": "ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64"}
