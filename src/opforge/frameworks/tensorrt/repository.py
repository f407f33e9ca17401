"""TensorRT models in a Triton model repository: plans served by Triton's TensorRT backend,
which loads plugin libraries through its `plugins=` backend option (the launch script's
--backend-config=tensorrt,plugins=...). A plan names its plugins only to TensorRT, so
opforge cannot read which ops a model uses; the recipe's [[models]] says."""

from __future__ import annotations

BACKEND = "tensorrt"
PLATFORMS = ("tensorrt_plan",)  # what older configs name instead of the backend
MODEL_FILES = ("model.plan",)  # what Triton looks for in a version folder
OP_LOADING = "plugins"
OP_KIND = "TensorRT plugins"
UNREADABLE = "a TensorRT plan names its plugins only to TensorRT"
