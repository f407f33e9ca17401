"""CI jobs for PyTorch run in the NGC PyTorch container that Triton builds its PyTorch
backend from: it holds exactly the release's torch (the image's version is the release's
upstream_container_version)."""

IMAGE = "nvcr.io/nvidia/pytorch:{upstream}-py3"
WHY_IMAGE = "the NGC PyTorch container Triton builds its PyTorch backend from"
