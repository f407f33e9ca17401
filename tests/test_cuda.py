"""CUDA: architecture lists from releases, nvcc checks, fatbin reading, and real nvcc builds
of the CUDA glue (compiled and linked here; running needs a GPU: benchmarks/gpu_check.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, have, needs_torch, opforge, ort_sdk_found, with_cuda
from opforge.frameworks.tensorrt import sdk as trt_sdk
from opforge.toolchain import cuda
from opforge.toolchain.sdk import SdkLocation
from opforge import releases
from opforge.artifacts.audit import read_elf
from opforge.core.errors import ToolchainError, UserError, VersionMismatch

RICH = ROOT / "tests" / "data" / "rich"
NVCC = cuda.nvcc_or_none()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found (install the CUDA "
                                "toolkit or set CUDACXX): CUDA compilation is not tested")
needs_tf = pytest.mark.skipif(not have("tensorflow"), reason="TensorFlow is not installed "
                              "(pip install 'opforge[tensorflow]')")


def fake_nvcc(version: str, codes: tuple[int, ...]) -> cuda.Nvcc:
    return cuda.Nvcc(Path("/cuda/bin/nvcc"), Path("/cuda"), version, codes)


def example_with(folder: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the example recipe folder at `folder`, its recipe.toml edited; its path."""
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    recipe = folder / "recipe.toml"
    text = recipe.read_text()
    for old, new in replacements:
        text = text.replace(old, new)
    recipe.write_text(text)
    return recipe


def release(rid: str) -> releases.Release:
    return releases.resolve(rid, releases.load_matrix())


def test_default_archs_follow_the_release_and_its_cuda():
    # 25.01: minimum compute capability 7.5, CUDA 12.8 (Blackwell supported)
    plan = cuda.plan_archs(release("25.01"), fake_nvcc("12.8.61", (75, 80, 86, 89, 90, 100, 120)))
    assert plan.archs == ("75", "80", "86", "89", "90", "100", "120")
    assert plan.ptx == "120"
    assert plan.cmake == "75-real;80-real;86-real;89-real;90-real;100-real;120"
    assert "7.5" in plan.why and "12.8" in plan.why


def test_unknown_minimum_falls_back_to_the_oldest_arch_of_the_cuda():
    # 24.09 gives no minimum compute capability: CUDA 12.6's oldest (sm_50) is used, and said
    plan = cuda.plan_archs(release("24.09"), fake_nvcc("12.6.20", (50, 52, 60, 61, 70, 75, 80,
                                                                   86, 89, 90)))
    assert plan.archs[0] == "50" and plan.archs[-1] == "90"
    assert "oldest CUDA 12.6.1 compiles for" in plan.why


def test_nvcc_newer_than_the_release_is_refused():
    with pytest.raises(VersionMismatch) as exc:
        cuda.plan_archs(release("24.09"), fake_nvcc("13.0.88", (75, 80, 90)))
    assert "nvcc 13.0.88 is newer than the CUDA 12.6.1 of Triton release 24.09" in exc.value.message
    assert "--release local" in exc.value.message


def test_arch_overrides_are_validated():
    nvcc = fake_nvcc("13.0.88", (75, 80, 90))
    plan = cuda.plan_archs(release("local"), nvcc, ["sm_80", "9.0"], "--cuda-arch")
    assert plan.archs == ("80", "90") and plan.cmake == "80-real;90"
    with pytest.raises(UserError, match="--cuda-arch: 'ampere' is not a GPU architecture"):
        cuda.plan_archs(release("local"), nvcc, ["ampere"], "--cuda-arch")
    with pytest.raises(ToolchainError, match="cannot compile for sm_60"):
        cuda.plan_archs(release("local"), nvcc, ["60"], "--cuda-arch")


@needs_nvcc
def test_fatbin_archs_are_read_from_the_binary(tmp_path):
    source = tmp_path / "k.cu"
    source.write_text("__global__ void k(float* x) { x[threadIdx.x] *= 2; }\n"
                      "void launch(float* x) { k<<<1, 32>>>(x); }\n")
    lib = tmp_path / "libk.so"
    subprocess.run([str(NVCC.path), "-shared", "-Xcompiler", "-fPIC", "-o", str(lib),
                    str(source), "-gencode", "arch=compute_75,code=sm_75",
                    "-gencode", "arch=compute_90,code=[sm_90,compute_90]"], check=True)
    assert cuda.fatbin_archs(lib) == {"sass": [75, 90], "ptx": [90]}


def test_recipe_refuses_tensorrt_without_cuda(tmp_path):
    recipe = example_with(tmp_path / "r", ('frameworks = ["pytorch", "tensorflow", "onnxruntime"]',
                                           'frameworks = ["tensorrt"]'),
                          ('cuda = "kernels/addsub.cu"\n', ''))
    result = opforge("build", str(recipe), "--release", "local")
    assert result.returncode == 2
    assert "target.devices: target.frameworks includes 'tensorrt', which runs on GPUs only" \
        in result.stderr
    assert "op AddSub has no cuda kernel, but TensorRT" in result.stderr


def test_cpu_kernel_must_not_be_cuda_source(tmp_path):
    recipe = example_with(tmp_path / "r", ('cpu = "kernels/addsub.cc"', 'cpu = "kernels/addsub.cu"'))
    result = opforge("build", str(recipe), "--release", "local")
    assert result.returncode == 2
    assert "ops[0].cpu: 'kernels/addsub.cu': a cuda kernel is a .cu file" in result.stderr


@needs_torch  # nvcc is looked for once a framework of the recipe can be built
def test_cuda_without_nvcc_is_a_clear_error(tmp_path):
    recipe = example_with(tmp_path / "r", ('devices = ["cpu"]', 'devices = ["cpu", "cuda"]'))
    result = opforge("build", str(recipe), "--release", "local",
                     env={"OPFORGE_NVCC": str(tmp_path / "no-nvcc")})
    assert result.returncode == 4, result.stderr
    assert "no CUDA compiler (nvcc) found" in result.stderr
    assert f"{tmp_path / 'no-nvcc'}: not an executable" in result.stderr
    doctor = opforge("doctor", "--json", env={"OPFORGE_NVCC": str(tmp_path / "no-nvcc")})
    data = json.loads(doctor.stdout)
    assert data["cuda"]["can_build"] is False and "nvcc" in data["cuda"]["why_not"]


# --- real builds with nvcc -------------------------------------------------------------


@pytest.fixture(scope="session")
def cuda_example(tmp_path_factory) -> dict:
    """The example with devices cpu+cuda for TensorFlow (whose CPU wheel has what the GPU
    kernel registration needs), built once, for sm_80 only to keep it quick."""
    if NVCC is None or not have("tensorflow"):
        pytest.skip("needs nvcc and TensorFlow")
    recipe = example_with(tmp_path_factory.mktemp("cuda") / "addsub",
                          ('devices = ["cpu"]', 'devices = ["cpu", "cuda"]'))
    folder = recipe.parent
    result = opforge("build", str(recipe), "--release", "local", "--framework",
                     "tensorflow", "--cuda-arch", "80,90", "--json")
    assert result.returncode == 0, result.stderr
    return {"folder": folder, "build": json.loads(result.stdout), "stderr": result.stderr}


@needs_nvcc
@needs_tf
def test_cuda_build_records_the_architectures_in_the_binary(cuda_example):
    manifest = json.loads(Path(cuda_example["build"]["artifacts"][0]["manifest"]).read_text())
    assert manifest["cuda"]["fatbin"] == {"sass": [80, 90], "ptx": [90]}
    assert manifest["cuda"]["requested"]["sass"] == ["80", "90"]
    assert manifest["cuda"]["runtime"] == "static"
    assert manifest["ops"][0]["devices"] == ["cpu", "cuda"]
    lib = Path(cuda_example["build"]["artifacts"][0]["library"])
    needed = read_elf(lib).needed
    assert not [n for n in needed if "cudart" in n], needed  # the runtime is linked statically


@needs_nvcc
@needs_tf
def test_cuda_build_still_passes_cpu_vectors(cuda_example):
    result = opforge("test", str(cuda_example["folder"] / "recipe.toml"), "--release", "local",
                     "--framework", "tensorflow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed, 0 failed" in result.stdout


@pytest.fixture(scope="session")
def rich_cuda(tmp_path_factory) -> dict:
    """The every-attribute recipe with a CUDA kernel, compiled (not published) for every
    framework whose headers are here, TensorRT included."""
    if NVCC is None:
        pytest.skip("needs nvcc")
    if not (have("torch") or have("tensorflow") or ort_sdk_found()
            or isinstance(trt_sdk.find(), SdkLocation)):
        pytest.skip("no framework of the recipe can be built here: neither PyTorch nor "
                    "TensorFlow is installed, nor ONNX Runtime or TensorRT headers found")
    folder = tmp_path_factory.mktemp("richcuda") / "rich"
    shutil.copytree(RICH, folder)
    text = with_cuda((folder / "recipe.toml").read_text(), "tensorrt")
    (folder / "recipe.toml").write_text(text.replace('devices = ["cpu", "cuda"]',
                                                     'devices = ["cpu", "cuda"]\n'
                                                     'cuda_archs = ["80"]'))
    result = opforge("build", str(folder / "recipe.toml"), "--compile-only", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return {"built": {a["framework"]: Path(a["library"]) for a in data["artifacts"]},
            "skipped": {s["framework"]: s["reason"] for s in data["skipped"]},
            "stderr": result.stderr, "folder": folder}


@needs_nvcc
def test_tensorrt_plugin_library_compiles_and_links(rich_cuda):
    if "tensorrt" not in rich_cuda["built"]:
        pytest.skip("TensorRT headers not found: set TENSORRT_ROOT to an unpacked TensorRT "
                    f"(>= 10) release ({rich_cuda['skipped'].get('tensorrt', '')[:80]}...)")
    lib = rich_cuda["built"]["tensorrt"]
    facts = read_elf(lib)
    assert set(facts.defined) == {"getCreators", "setLoggerFinder"}
    major = trt_sdk.find().version.split(".")[0]
    assert f"libnvinfer.so.{major}" in facts.needed
    assert not facts.search_paths  # never a path to the link-time stub
    assert cuda.fatbin_archs(lib) == {"sass": [80], "ptx": [80]}


@needs_nvcc
@needs_tf
def test_tensorflow_cuda_glue_compiles_for_every_attr_and_shape_rule(rich_cuda):
    assert "tensorflow" in rich_cuda["built"], rich_cuda["stderr"]


@needs_nvcc
def test_onnxruntime_cuda_glue_compiles(rich_cuda):
    if "onnxruntime" not in rich_cuda["built"]:
        pytest.skip("ONNX Runtime headers not found: set ONNXRUNTIME_ROOT or run `opforge sdk "
                    "fetch onnxruntime 1.19.2`")
    assert set(read_elf(rich_cuda["built"]["onnxruntime"]).defined) == {"RegisterCustomOps"}


@needs_nvcc
@needs_torch
def test_cpu_only_torch_is_named_precisely(rich_cuda):
    import torch

    if torch.version.cuda:
        assert "pytorch" in rich_cuda["built"]
        return
    why = rich_cuda["skipped"]["pytorch"]
    assert "CPU-only build" in why and "libc10_cuda.so" in why
    assert "c10/cuda/impl/cuda_cmake_macros.h" in why


def _trt_recipe(tmp_path: Path) -> Path:
    return example_with(tmp_path / "r", ('frameworks = ["pytorch", "tensorflow", "onnxruntime"]',
                                         'frameworks = ["tensorrt"]'),
                        ('devices = ["cpu"]', 'devices = ["cuda"]'))


def test_release_with_tensorrt_8_is_refused(tmp_path):
    result = opforge("build", str(_trt_recipe(tmp_path)), "--release", "24.01")
    assert result.returncode == 2, result.stderr
    assert "Triton release 24.01 ships TensorRT 8.6.1.6, which has no IPluginV3" in result.stderr


def test_tensorrt_headers_older_than_10_are_refused(tmp_path):
    include = tmp_path / "trt8" / "include"
    include.mkdir(parents=True)
    (include / "NvInfer.h").write_text("// TensorRT 8 stand-in: only the version header matters\n")
    (include / "NvInferVersion.h").write_text(
        "#define NV_TENSORRT_MAJOR 8\n#define NV_TENSORRT_MINOR 6\n"
        "#define NV_TENSORRT_PATCH 1\n#define NV_TENSORRT_BUILD 6\n")
    result = opforge("build", str(_trt_recipe(tmp_path)), "--release", "local",
                     env={"TENSORRT_ROOT": str(tmp_path / "trt8")})
    assert result.returncode == 4, result.stderr
    assert "TensorRT 8.6.1.6" in result.stderr and "has no IPluginV3" in result.stderr


def test_missing_tensorrt_names_both_ways_to_get_it(tmp_path):
    result = opforge("build", str(_trt_recipe(tmp_path)), "--release", "local",
                     env={"TENSORRT_ROOT": str(tmp_path / "nowhere")})
    assert result.returncode == 4, result.stderr
    assert f"$TENSORRT_ROOT={tmp_path / 'nowhere'} (no include/NvInfer.h)" in result.stderr
    assert "nvcr.io/nvidia/tritonserver:<release>-py3" in result.stderr


def test_tensorrt_op_with_only_float64_is_refused(tmp_path):
    recipe = example_with(tmp_path / "r", ('frameworks = ["pytorch", "tensorflow", "onnxruntime"]',
                                           'frameworks = ["tensorrt"]'),
                          ('devices = ["cpu"]', 'devices = ["cuda"]'),
                          ('T = ["float32", "float16"]', 'T = ["float64"]'))
    result = opforge("build", str(recipe), "--release", "local")
    assert result.returncode == 2, result.stderr
    assert "op AddSub: TensorRT has no float64 tensors" in result.stderr
