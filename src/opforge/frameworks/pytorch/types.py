"""PyTorch's type map: a recipe dtype as a c10::ScalarType, a recipe attribute type as the
op schema writes it and as the C++ argument TORCH_LIBRARY binds it to."""

from __future__ import annotations

SCALAR_TYPES = {"float16": "c10::ScalarType::Half", "float32": "c10::ScalarType::Float",
                "float64": "c10::ScalarType::Double", "int32": "c10::ScalarType::Int",
                "int64": "c10::ScalarType::Long", "bfloat16": "c10::ScalarType::BFloat16",
                "int8": "c10::ScalarType::Char", "uint8": "c10::ScalarType::Byte",
                "int16": "c10::ScalarType::Short", "bool": "c10::ScalarType::Bool",
                "float8_e4m3fn": "c10::ScalarType::Float8_e4m3fn",
                "float8_e5m2": "c10::ScalarType::Float8_e5m2"}

# recipe dtype -> why PyTorch has no tensors of it (none: it has them all)
MISSING: dict[str, str] = {}
# recipe dtype -> the first PyTorch with it (torch.float8_* came in 2.1, pytorch#104242)
ADDED = {"float8_e4m3fn": "2.1", "float8_e5m2": "2.1"}

# recipe attribute type -> (schema type, C++ argument type)
ATTR_TYPES = {
    "int": ("int", "int64_t"),
    "float": ("float", "double"),
    "bool": ("bool", "bool"),
    "string": ("str", "std::string"),
    "int[]": ("int[]", "c10::ArrayRef<int64_t>"),
    "float[]": ("float[]", "c10::ArrayRef<double>"),
}

# recipe attribute type -> the C++ type a stable-ABI kernel unboxes it as (glue_stable.cc.j2):
# lists and strings unbox from PyTorch 2.10 on (torch/csrc/stable/stableivalue_conversions.h)
STABLE_ATTR_TYPES = {"int": "int64_t", "float": "double", "bool": "bool", "string": "std::string",
                     "int[]": "std::vector<int64_t>", "float[]": "std::vector<double>"}
