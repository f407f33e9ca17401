"""CI jobs for TensorRT run in the release's tritonserver image, whose TensorRT is the one
the plugins load into (the image and its setup: base.TritonserverImage)."""

WHY_IMAGE = "the tritonserver image (its TensorRT)"
