"""CI jobs for TensorFlow run in the NGC TensorFlow 2 container that Triton builds its
TensorFlow backend from, while Triton still ships that backend: it holds exactly the
release's TensorFlow (the image's version is the release's upstream_container_version)."""

IMAGE = "nvcr.io/nvidia/tensorflow:{upstream}-tf2-py3"
WHY_IMAGE = "the NGC TensorFlow 2 container Triton builds its TensorFlow backend from"
