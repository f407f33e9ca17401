"""`opforge package --model-repository`: a sample repository (a TorchScript and a TensorFlow
SavedModel using the example's AddSub, an ONNX model of built-in ops only, and with the ONNX
Runtime SDK an ONNX model using acme.AddSub), packaged; configs read back with tritonclient's
ModelConfig."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, build_copy, needs_ort, opforge
import sample_models

BASE = "nvcr.io/nvidia/tritonserver:24.09-py3"


def read_config(path: Path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(), config)
    return config


def make_model(repo: Path, name: str, kind: str, library: str | None = None,
               config: str = "") -> None:
    folder = repo / name / "1"
    folder.mkdir(parents=True)
    target = ("model.pt" if kind.startswith("torchscript") else "model.pt2" if kind ==
              "exported" else "model.savedmodel" if kind == "savedmodel" else "model.onnx")
    if kind in ("torchscript", "torchscript-boom", "savedmodel", "exported"):
        subprocess.run([sys.executable, str(ROOT / "tests" / "sample_models.py"), kind,
                        str(folder / target), library], check=True, capture_output=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    elif kind == "onnx-addsub":
        sample_models.onnx_addsub(folder / target)
    else:  # built-in ops only, or an op of an unknown domain
        import onnx
        from onnx import TensorProto, helper

        node = (helper.make_node("Relu", ["x"], ["y"]) if kind == "onnx-plain" else
                helper.make_node("Frobnicate", ["x"], ["y"], domain="other"))
        graph = helper.make_graph([node], name, [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [2])], [helper.make_tensor_value_info(
                "y", TensorProto.FLOAT, [2])])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                          helper.make_opsetid("other", 1)]),
                  str(folder / target))
    if config:
        (repo / name / "config.pbtxt").write_text(config)


@pytest.fixture(scope="session")
def sample_repository(built_example, tmp_path_factory) -> Path:
    """The pristine sample repository; tests package copies of it."""
    libs = {a["framework"]: a["library"] for a in built_example["artifacts"]}
    repo = tmp_path_factory.mktemp("models") / "repo"
    make_model(repo, "ts_addsub", "torchscript", libs["pytorch"],
               'name: "ts_addsub"\nplatform: "pytorch_libtorch"\nmax_batch_size: 0\n')
    make_model(repo, "tf_addsub", "savedmodel", libs["tensorflow"],
               '# a comment\nname: "tf_addsub"\nplatform: "tensorflow_savedmodel"\n'
               'max_batch_size: 4\ninstance_group [ { kind: KIND_CPU count: 2 } ]\n'
               'model_operations { op_library_filename: "/opt/theirs/libmine.so" }\n'
               'parameters { key: "TF_NUM_INTRA_THREADS" value: { string_value: "1" } }\n')
    make_model(repo, "plain", "onnx-plain",
               config='name: "plain"\nbackend: "onnxruntime"\nmax_batch_size: 0\n')
    return repo


@pytest.fixture
def repo(sample_repository, tmp_path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(sample_repository, copy)
    return copy


def package(example_copy: Path, repo: Path, *args: str, recipe: str = "recipe.toml"):
    result = opforge("package", str(example_copy / recipe), "--release", "local",
                     "--model-repository", str(repo), "--json", *args)
    return result, (json.loads(result.stdout) if result.returncode == 0 else None)


def test_package_writes_model_operations_and_the_launch(example_copy, repo):
    before_ts = (repo / "ts_addsub" / "config.pbtxt").read_text()
    before_plain = (repo / "plain" / "config.pbtxt").read_text()
    result, plan = package(example_copy, repo, "--base-image", BASE)
    assert result.returncode == 0, result.stderr
    libs = {info["framework"]: name for name, info in plan["libraries"].items()}
    assert set(libs) == {"pytorch", "tensorflow"}
    for name, info in plan["libraries"].items():
        from opforge.artifacts.runtime import sha256_file

        assert name.startswith(f"opforge-{info['sha256'][:16]}-lib")
        assert sha256_file(repo / name) == info["sha256"]
    assert plan["models"]["ts_addsub"]["ops"] == {"acme::AddSub": "model.pt: torch.ops.acme.AddSub"}
    assert plan["models"]["tf_addsub"]["ops"] == {"Acme>AddSub": "model.savedmodel: op Acme>AddSub"}
    assert plan["models"]["plain"]["libraries"] == []

    config = read_config(repo / "tf_addsub" / "config.pbtxt")
    assert list(config.model_operations.op_library_filename) == [
        "/opt/theirs/libmine.so", f"{repo}/{libs['tensorflow']}"]
    assert (config.name, config.platform, config.max_batch_size) == (
        "tf_addsub", "tensorflow_savedmodel", 4)  # every other field kept
    assert config.instance_group[0].count == 2
    assert config.parameters["TF_NUM_INTRA_THREADS"].string_value == "1"
    # TorchScript ops are preloaded, not listed in the config; other models are untouched
    assert (repo / "ts_addsub" / "config.pbtxt").read_text() == before_ts
    assert (repo / "plain" / "config.pbtxt").read_text() == before_plain

    launch = (repo / "opforge-launch.sh").read_text()
    assert f"export LD_PRELOAD={repo}/{libs['pytorch']}" in launch
    assert ('exec "$TRITONSERVER" --model-repository="$REPOSITORY" '
            '--backend-directory="$BACKENDS" "$@"') in launch
    # the framework libraries the op libraries link come from Triton's backend folders
    assert ('export LD_LIBRARY_PATH="$REPOSITORY:$BACKENDS/pytorch:$BACKENDS/tensorflow'
            '${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"') in launch
    assert os.access(repo / "opforge-launch.sh", os.X_OK)
    assert subprocess.run(["sh", "-n", str(repo / "opforge-launch.sh")]).returncode == 0
    dockerfile = (repo / "Dockerfile").read_text()
    assert f"FROM {BASE}\nCOPY . {repo}\n" in dockerfile
    # the image starts tritonserver through the same launch script (one place says how)
    assert dockerfile.endswith(f'CMD ["sh", "{repo}/opforge-launch.sh"]\n'), dockerfile
    index = json.loads((repo / "opforge-ops.json").read_text())
    assert index["mount"] == str(repo) and list(index["packages"]) == ["addsub-ops"]
    ours = index["packages"]["addsub-ops"]
    assert ours["models"]["tf_addsub"]["libraries"] == [libs["tensorflow"]]
    assert set(ours["manifests"]) == set(plan["libraries"])


def test_packaging_again_changes_nothing(example_copy, repo):
    first, plan = package(example_copy, repo, "--base-image", "none")
    assert first.returncode == 0, first.stderr
    stored = sorted(p.name for p in repo.iterdir() if p.name.startswith("opforge-") and
                    p.suffix == ".so")
    again, plan2 = package(example_copy, repo, "--base-image", "none")
    assert again.returncode == 0, again.stderr
    assert [w for w in plan2["written"] if not w.endswith((".json", ".sh"))] == [], plan2
    assert sorted(p.name for p in repo.iterdir() if p.name.startswith("opforge-") and
                  p.suffix == ".so") == stored
    config = read_config(repo / "tf_addsub" / "config.pbtxt")
    assert len(config.model_operations.op_library_filename) == 2  # not appended twice
    assert not (repo / "Dockerfile").exists()


def test_a_release_image_and_a_mount_path(example_copy, repo):
    """Artifacts for 24.09 (here: the local ones under that name): the Dockerfile starts
    FROM that release's tritonserver, and paths are where Triton will see the repository."""
    shutil.copytree(example_copy / "dist" / "local", example_copy / "dist" / "24.09",
                    dirs_exist_ok=True)
    result = opforge("package", str(example_copy / "recipe.toml"), "--release", "24.09",
                     "--model-repository", str(repo), "--mount", "/models")
    assert result.returncode == 0, result.stderr
    assert "FROM nvcr.io/nvidia/tritonserver:24.09-py3\nCOPY . /models\n" in (
        repo / "Dockerfile").read_text()
    ops = read_config(repo / "tf_addsub" / "config.pbtxt").model_operations.op_library_filename
    assert ops[-1].startswith("/models/opforge-") and ops[-1].endswith("tensorflow.so")
    assert "REPOSITORY=/models" in (repo / "opforge-launch.sh").read_text()
    assert "tf_addsub" in result.stdout and "ts_addsub" in result.stdout


def test_a_release_without_tensorflow(example_copy, repo):
    shutil.copytree(example_copy / "dist" / "local", example_copy / "dist" / "25.03",
                    dirs_exist_ok=True)
    result = opforge("package", str(example_copy / "recipe.toml"), "--release", "25.03",
                     "--model-repository", str(repo))
    assert result.returncode == 2
    assert "model tf_addsub: a TensorFlow model, but release 25.03 no longer ships the " \
           "TensorFlow backend" in result.stderr


def test_a_model_needing_an_op_no_library_provides(example_copy, repo):
    make_model(repo, "frob", "onnx-other")
    listing = sorted(str(p) for p in repo.rglob("*"))
    result, _ = package(example_copy, repo)
    assert result.returncode == 2
    assert ("model frob uses other::Frobnicate (ONNX domain other) (model.onnx: node "
            "Frobnicate of domain other), which no library provides") in result.stderr
    assert sorted(str(p) for p in repo.rglob("*")) == listing  # nothing written


def test_declared_models_for_plans_opforge_cannot_read(example_copy, repo):
    (repo / "engine" / "1").mkdir(parents=True)
    (repo / "engine" / "1" / "model.plan").write_bytes(b"\0")
    (repo / "engine" / "config.pbtxt").write_text('name: "engine"\nplatform: "tensorrt_plan"\n')
    text = (example_copy / "recipe.toml").read_text()
    (example_copy / "with-models.toml").write_text(
        text + '\n[[models]]\nname = "engine"\nops = ["AddSub"]\n\n'
               '[[models]]\nname = "absent"\nops = ["AddSub"]\n')
    result, _ = package(example_copy, repo, recipe="with-models.toml")
    assert result.returncode == 2
    assert "models[1].name: no model folder 'absent'" in result.stderr
    assert (f"model engine uses AddSub (tensorrt) (declared in {example_copy / 'with-models.toml'}"
            f" [[models]]), which no library provides: addsub-ops has no tensorrt library "
            f"built for release local") in result.stderr


def test_not_a_repository(example_copy, tmp_path):
    result, _ = package(example_copy, tmp_path / "nope")
    assert result.returncode == 2 and "--model-repository" in result.stderr
    (tmp_path / "empty").mkdir()
    result, _ = package(example_copy, tmp_path / "empty")
    assert result.returncode == 2 and "no model folders" in result.stderr


@needs_ort
def test_onnx_model_gets_the_onnxruntime_library(example_copy, repo):
    make_model(repo, "onnx_addsub", "onnx-addsub",
               config='name: "onnx_addsub"\nbackend: "onnxruntime"\nmax_batch_size: 0\n')
    result, plan = package(example_copy, repo, "--base-image", "none")
    assert result.returncode == 0, result.stderr
    lib = next(n for n, i in plan["libraries"].items() if i["framework"] == "onnxruntime")
    config = read_config(repo / "onnx_addsub" / "config.pbtxt")
    assert list(config.model_operations.op_library_filename) == [f"{repo}/{lib}"]
    # the node inside the If branch was read too; both name the same op
    assert plan["models"]["onnx_addsub"]["ops"] == {
        "acme::AddSub (ONNX domain acme)": "model.onnx: node AddSub of domain acme"}


def test_tensorrt_plugins_and_preloads_in_the_launch(tmp_path):
    """The launch of a repository with TorchScript and TensorRT libraries (no TensorRT here
    to build one: the plan is made by hand)."""
    from opforge.deploy import repository
    from opforge.recipe import load
    from opforge.releases import load_matrix, resolve

    def lib(framework: str, sha: str) -> repository.Library:
        return repository.Library(framework, tmp_path / f"libx_{framework}.so", {}, sha * 64,
                                  set())

    libs = [lib("pytorch", "a"), lib("tensorrt", "b"), lib("tensorrt", "c")]
    plan = repository.Plan(load(ROOT / "recipes" / "examples" / "addsub" / "recipe.toml"),
                           resolve("24.09", load_matrix()), tmp_path, "/models", [], libs, BASE)
    script = repository.launch_script(plan)
    assert "export LD_PRELOAD=/models/opforge-aaaaaaaaaaaaaaaa-libx_pytorch.so${LD_PRELOAD:+:" \
           "$LD_PRELOAD}" in script
    assert ("--backend-config='tensorrt,plugins=/models/opforge-bbbbbbbbbbbbbbbb-"
            "libx_tensorrt.so;/models/opforge-cccccccccccccccc-libx_tensorrt.so'") in script
    assert 'export LD_LIBRARY_PATH="$REPOSITORY:$BACKENDS/pytorch${LD_LIBRARY_PATH' in script
    assert repository.dockerfile(plan).endswith('CMD ["sh", "/models/opforge-launch.sh"]\n')


def test_a_second_package_that_clashes_with_the_first(example_copy, repo):
    """Two recipes packaged into one repository: their ops are compared before anything is
    written (here the second is the example under another package name: same ops)."""
    first, _ = package(example_copy, repo, "--base-image", "none")
    assert first.returncode == 0, first.stderr
    text = (example_copy / "recipe.toml").read_text().replace('name = "addsub-ops"',
                                                               'name = "other-ops"')
    (example_copy / "other.toml").write_text(text)
    listing = {str(p): p.stat().st_mtime_ns for p in repo.rglob("*")}
    second, _ = package(example_copy, repo, "--base-image", "none", recipe="other.toml")
    assert second.returncode == 2
    assert "clash with ones already packaged into" in second.stderr
    assert "pytorch: acme::AddSub registered by libaddsub_ops_pytorch.so of other-ops and by " \
           "opforge-" in second.stderr and "of addsub-ops, already in the repository" in second.stderr
    assert {str(p): p.stat().st_mtime_ns for p in repo.rglob("*")} == listing


@pytest.fixture(scope="module")
def built_crashy(tmp_path_factory) -> dict:
    """tests/data/crashy (package crashy-ops, namespace crashy: PyTorch only), built."""
    return build_copy(ROOT / "tests" / "data" / "crashy", tmp_path_factory)


def test_two_recipes_in_one_repository(example_copy, repo, built_crashy):
    """A second recipe packaged into a repository that holds the first's models: those are
    the first package's (from the index), each model gets its own package's library; and
    packaging the first again keeps the second's."""
    first, _ = package(example_copy, repo, "--base-image", "none")
    assert first.returncode == 0, first.stderr
    crashy = built_crashy["folder"]
    boom = next(a["library"] for a in built_crashy["build"]["artifacts"])
    make_model(repo, "ts_boom", "torchscript-boom", boom,
               'name: "ts_boom"\nplatform: "pytorch_libtorch"\nmax_batch_size: 0\n')
    second, plan = package(crashy, repo, "--base-image", "none")
    assert second.returncode == 0, second.stderr
    (boom_stored,) = plan["libraries"]
    assert plan["models"]["ts_boom"]["libraries"] == [boom_stored]
    assert plan["models"]["ts_boom"]["other_packages"] == []
    for name in ("ts_addsub", "tf_addsub"):
        assert plan["models"][name]["libraries"] == [], plan
        assert plan["models"][name]["other_packages"] == ["addsub-ops"], plan
    index = json.loads((repo / "opforge-ops.json").read_text())
    assert sorted(index["packages"]) == ["addsub-ops", "crashy-ops"]
    ours = {n for n in index["packages"]["addsub-ops"]["libraries"]}
    assert all((repo / n).is_file() for n in ours | {boom_stored})
    preload = next(ln for ln in (repo / "opforge-launch.sh").read_text().splitlines()
                   if ln.startswith("export LD_PRELOAD="))
    assert f"{repo}/{boom_stored}" in preload
    assert any(f"{repo}/{n}" in preload for n in ours if n.endswith("pytorch.so"))

    again, plan = package(example_copy, repo, "--base-image", "none")
    assert again.returncode == 0, again.stderr
    assert plan["models"]["ts_boom"]["other_packages"] == ["crashy-ops"]
    assert plan["models"]["ts_boom"]["libraries"] == []
    assert len(plan["models"]["ts_addsub"]["libraries"]) == 1
    assert (repo / boom_stored).is_file()  # still the second package's

    # an op that neither recipe nor any package in the repository provides is still refused
    make_model(repo, "frob", "onnx-other")
    refused, _ = package(crashy, repo, "--base-image", "none")
    assert refused.returncode == 2
    assert ("model frob uses other::Frobnicate (ONNX domain other) (model.onnx: node "
            "Frobnicate of domain other), which no library provides") in refused.stderr
    assert "nor does a package already in the repository (addsub-ops)" in refused.stderr


@pytest.mark.parametrize("mount", ["/my models", "/a:b", "/x;y", "/$HOME/m"])
def test_a_mount_the_loader_would_split_is_refused(example_copy, repo, mount):
    """LD_PRELOAD splits on spaces and colons, LD_LIBRARY_PATH on colons, plugins= on ';'
    and ','; a Dockerfile's COPY on spaces: such a mount would make a launch that loads
    nothing (or fails to parse). Refused before anything is written."""
    listing = {str(p): p.stat().st_mtime_ns for p in repo.rglob("*")}
    result, _ = package(example_copy, repo, "--mount", mount, "--base-image", BASE)
    assert result.returncode == 2, result.stderr
    assert f"--mount {mount}: the path at which tritonserver sees the repository cannot " \
           f"contain" in result.stderr and "Traceback" not in result.stderr
    assert {str(p): p.stat().st_mtime_ns for p in repo.rglob("*")} == listing


def test_artifacts_ship_the_assembled_runtime_loader(built_example):
    """opforge_runtime.py in each artifact folder is the core with every framework's
    loader.py (what tests/test_runtime.py runs standalone), and the manifest vouches for it."""
    from opforge.artifacts.loader import shipped_source
    from opforge.artifacts.runtime import sha256_file

    for art in built_example["artifacts"]:
        folder = Path(art["manifest"]).parent
        assert (folder / "opforge_runtime.py").read_text("utf-8") == shipped_source()
        manifest = json.loads(Path(art["manifest"]).read_text())
        assert manifest["files"]["opforge_runtime.py"] == sha256_file(folder /
                                                                      "opforge_runtime.py")


# --- AOTInductor packages (platform torch_aoti): the example's, made once per session -----


@pytest.fixture(scope="session")
def aoti_models(example_repository) -> list[Path]:
    found = sorted(example_repository.glob("addsub_torch_aoti*"))
    if not found:
        pytest.skip("the example's maker made no AOTInductor package here (it needs PyTorch "
                    "2.6 or newer and a C++ compiler)")
    return found


def test_package_matches_the_ops_an_aoti_package_calls(example_repository, aoti_models):
    index = json.loads((example_repository / "opforge-ops.json").read_text())
    package = index["packages"]["addsub-ops"]
    pytorch_lib = next(n for n, lib in package["libraries"].items()
                       if lib["framework"] == "pytorch")
    for folder in aoti_models:
        model = package["models"][folder.name]
        assert model == {"backend": "pytorch",
                         "ops": {"acme::AddSub": "model.pt2: extern kernel acme::AddSub"},
                         "libraries": [pytorch_lib], "loaded_by": "LD_PRELOAD (launch script)",
                         "other_packages": []}
    launch = (example_repository / "opforge-launch.sh").read_text()
    assert "export LD_PRELOAD=" in launch and pytorch_lib in launch


def test_package_refuses_torch_aoti_for_a_release_before_26_03(aoti_models, example_copy,
                                                               tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(aoti_models[0], repo / aoti_models[0].name)
    result = opforge("package", str(example_copy / "recipe.toml"), "--release", "24.09",
                     "--model-repository", str(repo), "--base-image", "none")
    assert result.returncode == 2, result.stderr
    assert (f"model {aoti_models[0].name}: platform 'torch_aoti' came in Triton 26.03; "
            f"release 24.09's PyTorch backend cannot load it") in result.stderr
    assert sorted(p.name for p in repo.iterdir()) == [aoti_models[0].name]  # nothing written


def test_a_torch_export_archive_is_not_a_torch_aoti_model(built_example, example_copy,
                                                          tmp_path):
    libs = {a["framework"]: a["library"] for a in built_example["artifacts"]}
    repo = tmp_path / "repo"
    make_model(repo, "exported", "exported", libs["pytorch"],
               'name: "exported"\nplatform: "torch_aoti"\nmax_batch_size: 0\n')
    result = opforge("package", str(example_copy / "recipe.toml"), "--release", "local",
                     "--model-repository", str(repo), "--base-image", "none")
    assert result.returncode == 2, result.stderr
    assert "model.pt2: a PT2 archive without AOTInductor models (data/aotinductor/)" in \
        result.stderr
    assert "torch._inductor.aoti_compile_and_package, not torch.export.save" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_serve_runner_names_the_torch_aoti_packages_need():
    from opforge.frameworks.pytorch.serve_runner import aoti_problem

    assert aoti_problem("2.13.0+cpu", True) is None
    assert aoti_problem("2.6.0", True) is None
    for version, has_loader in (("2.5.1+cu124", True), ("2.4.0", False), ("2.13.0", False)):
        why = aoti_problem(version, has_loader)
        assert why.startswith(f"PyTorch {version} cannot load AOTInductor packages")
        assert "needs PyTorch 2.6 or newer" in why
