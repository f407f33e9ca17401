"""PyTorch's type map: a recipe dtype as a c10::ScalarType, a recipe attribute type as the
op schema writes it and as the C++ argument TORCH_LIBRARY binds it to."""

from __future__ import annotations

SCALAR_TYPES = {"float16": "c10::ScalarType::Half", "float32": "c10::ScalarType::Float",
                "float64": "c10::ScalarType::Double", "int32": "c10::ScalarType::Int",
                "int64": "c10::ScalarType::Long"}

# recipe attribute type -> (schema type, C++ argument type)
ATTR_TYPES = {
    "int": ("int", "int64_t"),
    "float": ("float", "double"),
    "bool": ("bool", "bool"),
    "string": ("str", "std::string"),
    "int[]": ("int[]", "c10::ArrayRef<int64_t>"),
    "float[]": ("float[]", "c10::ArrayRef<double>"),
}
