"""Release truth (issue 18): pins proven by the NGC container a build runs in, their
provenance in manifests and build reports, `opforge releases learn`, `releases --coverage`,
`releases diff` and `opforge check --release` by each framework's own rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE, have, opforge
from opforge import frameworks, releases
from opforge.core.errors import ReleaseError, VersionMismatch
from opforge.frameworks import Toolchain
from opforge.releases import learn, versions

TF_VARIABLE = "NVIDIA_TENSORFLOW_VERSION"


# --- the container's label ------------------------------------------------------------


@pytest.mark.parametrize("version,month,pin", [
    ("2.5.0a0+b465a5843b.nv24.09", "24.09", "2.5.0a0+b465a5843b"),
    ("2.16.1+nv24.9", "24.09", "2.16.1"),  # PEP 440 normalizes the month of a distribution
    ("2.7.0a0+7c8ec84dab.nv25.3", "25.03", "2.7.0a0+7c8ec84dab"),
    ("2.13.0+cpu", None, "2.13.0+cpu"),
    ("2.1.0a0+32f93b1", None, "2.1.0a0+32f93b1"),
])
def test_container_label_of_a_version(version, month, pin):
    assert versions.container_label(version) == month
    assert versions.without_container_label(version) == pin


@pytest.mark.parametrize("text,month", [("24.09", "24.09"), ("24.09-tf2", "24.09"),
                                        ("24.9", "24.09"), ("", None), ("3.10", None),
                                        ("24.13", None)])
def test_month_of_a_container_variable(text, month):
    assert versions.month(text) == month


def _tf(version: str, distribution: str = "") -> Toolchain:
    extra = {"distribution": {"name": "tensorflow", "version": distribution}} \
        if distribution else {}
    return Toolchain("tensorflow", version, "/x", [], [], [], 17, 1, extra)


def test_unknown_pin_is_proven_by_the_container_of_the_release():
    tf, release = frameworks.get("tensorflow"), releases.load_matrix()["24.09"]
    assert not release.pin("tensorflow").known
    verdict = frameworks.check_version(tf, _tf("2.16.1", "2.16.1+nv24.9"), release,
                                       {TF_VARIABLE: "24.09-tf2"})
    assert (verdict.pin, verdict.provenance, verdict.key) == ("2.16.1", "container label",
                                                              "tensorflow")
    assert verdict.evidence == (f"${TF_VARIABLE}=24.09-tf2", "TensorFlow 2.16.1+nv24.9")


def test_a_container_of_another_month_is_refused_naming_both():
    tf, release = frameworks.get("tensorflow"), releases.load_matrix()["24.09"]
    with pytest.raises(VersionMismatch) as info:
        frameworks.check_version(tf, _tf("2.17.0", "2.17.0+nv24.10"), release,
                                 {TF_VARIABLE: "24.10-tf2"})
    message = info.value.message
    assert "the NGC container of 24.10" in message and "container of 24.09" in message
    assert "nvcr.io/nvidia/tensorflow:24.09-tf2-py3" in message
    # the variable and the label disagreeing: the one of the wrong month is named
    with pytest.raises(VersionMismatch, match=r"TensorFlow 2.16.1\+nv24.8 \(the NGC "
                                              r"container of 24.08\)"):
        frameworks.check_version(tf, _tf("2.16.1", "2.16.1+nv24.8"), release,
                                 {TF_VARIABLE: "24.09-tf2"})


def test_half_a_container_proves_nothing():
    tf, release = frameworks.get("tensorflow"), releases.load_matrix()["24.09"]
    with pytest.raises(ReleaseError, match=rf"\${TF_VARIABLE} is unset, and opforge needs "
                                           r"both"):
        frameworks.check_version(tf, _tf("2.16.1", "2.16.1+nv24.9"), release, {})
    with pytest.raises(ReleaseError, match=r"carries no \+nvYY.MM label"):
        frameworks.check_version(tf, _tf("2.16.1", "2.16.1"), release,
                                 {TF_VARIABLE: "24.09-tf2"})


def test_a_label_contradicting_a_known_pin_is_refused_as_before():
    torch = frameworks.get("pytorch")
    release = releases.load_matrix()["24.09"]  # pins PyTorch 2.5.0a0+b465a5843b
    toolchain = Toolchain("pytorch", "2.4.0a0+f70bd71a48.nv24.09", "/x", [], [], [], 17, 1)
    with pytest.raises(VersionMismatch) as info:
        frameworks.check_version(torch, toolchain, release, {"NVIDIA_PYTORCH_VERSION": "24.09"})
    assert "2.4.0a0+f70bd71a48.nv24.09" in info.value.message
    assert "2.5.0a0+b465a5843b" in info.value.message
    proven = Toolchain("pytorch", "2.5.0a0+b465a5843b.nv24.09", "/x", [], [], [], 17, 1)
    verdict = frameworks.check_version(torch, proven, release)
    assert (verdict.pin, verdict.provenance) == ("2.5.0a0+b465a5843b", "table")


def test_sdk_frameworks_learn_no_pin():
    """An SDK's headers carry no container label: its unknown pin stays a skip."""
    trt = frameworks.get("tensorrt")
    release = releases.load_matrix()["24.06"]
    assert not release.pin("tensorrt").known
    assert "TensorRT version of Triton release 24.06 is unknown" in \
        frameworks.pin_problem(trt, release)
    assert frameworks.pin_problem(frameworks.get("tensorflow"), release) is None


# --- the simulated container, through the build's own probe -----------------------------


def simulated_container(root: Path, label: str) -> dict:
    """An NGC TensorFlow container as the build's probe sees one: the distribution's
    metadata carries the month label (NGC TensorFlow's does; tf.__version__ does not) and
    the environment names the container. The framework itself is the real one installed:
    the probe imports it and the glue compiles against its headers."""
    import tensorflow as tf

    site = root / "site"
    info = site / f"tensorflow-{tf.__version__}+{label}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tensorflow\n"
                                   f"Version: {tf.__version__}+{label}\n")
    month = versions.container_label(f"0+{label}")
    import os

    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
            TF_VARIABLE: f"{month}-tf2", "OPFORGE_CACHE_DIR": str(root / "cache")}


@pytest.fixture(scope="module")
def container_build(tmp_path_factory) -> dict:
    """`opforge build --release 24.09 --framework tensorflow --json` of the example inside
    a simulated NGC TensorFlow 24.09 container (24.09's TensorFlow pin is unknown)."""
    if not have("tensorflow"):
        pytest.skip("TensorFlow is not installed (pip install 'opforge[tensorflow]')")
    root = tmp_path_factory.mktemp("container")
    recipe = root / "addsub"
    shutil.copytree(EXAMPLE, recipe, ignore=shutil.ignore_patterns("build", "dist"))
    env = simulated_container(root, "nv24.9")
    result = opforge("build", str(recipe / "recipe.toml"), "--release", "24.09",
                     "--framework", "tensorflow", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = root / "build.json"
    report.write_text(result.stdout)
    return {"root": root, "recipe": recipe, "report": report, "env": env,
            "build": json.loads(result.stdout), "stderr": result.stderr}


@pytest.mark.integration
def test_container_build_records_the_provenance(container_build):
    import tensorflow as tf

    (artifact,) = container_build["build"]["artifacts"]
    assert artifact["pin"] == {
        "key": "tensorflow", "value": tf.__version__, "installed": tf.__version__,
        "provenance": "container label",
        "evidence": [f"${TF_VARIABLE}=24.09-tf2", f"TensorFlow {tf.__version__}+nv24.9"]}
    manifest = json.loads(Path(artifact["manifest"]).read_text())
    assert manifest["framework"]["pin"] == tf.__version__
    assert manifest["framework"]["pin_provenance"]["provenance"] == "container label"
    assert manifest["release"]["pins"]["tensorflow"] == tf.__version__  # the learned pin
    assert manifest["recipe"] == str(container_build["recipe"] / "recipe.toml")
    assert "proven by the NGC container" in container_build["stderr"]
    assert container_build["build"]["audit"][0]["valid"] is True


@pytest.mark.integration
def test_a_contradicting_container_is_refused(container_build, tmp_path):
    env = simulated_container(tmp_path, "nv24.10")
    result = opforge("build", str(container_build["recipe"] / "recipe.toml"), "--release",
                     "24.09", "--framework", "tensorflow", "--out", str(tmp_path / "dist"),
                     env=env)
    assert result.returncode == 3, result.stderr
    assert "the NGC container of 24.10" in result.stderr
    assert "builds its TensorFlow backend from the container of 24.09" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "dist").exists()


@pytest.mark.integration
def test_learned_pins_make_a_releases_file(container_build):
    import tensorflow as tf

    root = container_build["root"]
    learned = opforge("releases", "learn", str(container_build["report"]))
    assert learned.returncode == 0, learned.stderr
    releases_file = root / "learned.toml"
    releases_file.write_text(learned.stdout)
    as_json = opforge("releases", "learn", str(container_build["report"]), "--json")
    assert json.loads(as_json.stdout)["releases"][0]["tensorflow"] == tf.__version__

    shown = opforge("releases", "show", "24.09", "--json", "--releases-file", str(releases_file))
    pin = json.loads(shown.stdout)["pins"]["tensorflow"]
    assert pin["value"] == tf.__version__ and pin["provenance"] == "releases file"
    assert pin["attribution"] == "field" and "proven by `opforge build` in the NGC container" \
        in pin["sources"][0]
    # outside any container, the file is what pins it now
    rebuilt = opforge("build", str(container_build["recipe"] / "recipe.toml"), "--release",
                      "24.09", "--framework", "tensorflow", "--json", "--releases-file",
                      str(releases_file), "--out", str(root / "dist-file"))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["artifacts"][0]["pin"]["provenance"] == "releases file"


def test_learn_refuses_reports_that_disagree_and_files_that_are_no_reports(tmp_path):
    def report(name: str, value: str) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({"release": "24.09", "artifacts": [
            {"framework": "tensorflow", "pin": {"key": "tensorflow", "value": value,
                                                "installed": value,
                                                "provenance": "container label",
                                                "evidence": ["x"]}}]}))
        return path

    a, b = report("a.json", "2.16.1"), report("b.json", "2.16.2")
    result = opforge("releases", "learn", str(a), str(b))
    assert result.returncode == 2
    assert "disagree on the tensorflow pin of 24.09: 2.16.2 against 2.16.1" in result.stderr
    (tmp_path / "x.json").write_text("[]")
    bad = opforge("releases", "learn", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and "not an `opforge build --json` report" in bad.stderr
    assert learn.learn([a, a]) == [{"release": "24.09", "tensorflow": "2.16.1",
                                    "sources": [learn.learned_in(a)[0].source]}]


# --- the matrix -------------------------------------------------------------------------


def test_matrix_has_a_tensorflow_job_for_every_24_release_with_its_backend():
    data = json.loads(opforge("matrix", "recipes/examples/addsub/recipe.toml", "--releases",
                              "24.*", "--format", "json",
                              cwd=Path(__file__).resolve().parents[1]).stdout)
    tf = frameworks.get("tensorflow")
    shipping = [r.id for r in releases.load_matrix().values()
                if r.id.startswith("24.") and tf.ships_backend(r)]
    assert len(shipping) == 12
    jobs = {j["id"]: j for j in data["jobs"]}
    assert {f"{r}-tensorflow-cpu" for r in shipping} <= set(jobs)
    assert not data["skipped"]
    note = " ".join(jobs["24.09-tensorflow-cpu"]["notes"])
    assert "unknown to the table: the build takes the container's" in note
    assert "must name 24.09" in note
    assert not any("unknown to the table" in n for n in jobs["24.08-tensorflow-cpu"]["notes"])


# --- the facts table --------------------------------------------------------------------


def test_coverage_says_what_is_known_where():
    result = opforge("releases", "--coverage", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["fields"][:2] == ["triton_version", "pytorch"]
    assert data["releases"]["24.09"]["tensorflow"] == "unknown"
    assert data["releases"]["24.09"]["cuda"] == "uncertain"
    assert data["releases"]["24.09"]["pytorch"] == "known"
    text = opforge("releases", "--coverage").stdout
    assert any(line.split()[:4] == ["tensorflow", "0", "9", "37"] for line in text.splitlines())


def test_show_gives_every_value_its_sources_and_uncertainty():
    text = opforge("releases", "show", "24.11").stdout
    lines = text.splitlines()
    # a value filled from a secondary source in the 2026-12 refresh
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["tensorrt"])
    assert "(uncertain: secondary source)" in lines[at]
    assert "source: tensorrt (filled 2026-12, secondary)" in lines[at + 1]
    # a field beyond the main pins shows its sources too
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["git_ref"])
    assert lines[at + 1].strip().startswith("source: ")


def test_the_refreshed_table_is_imported():
    matrix = releases.load_matrix()
    assert matrix["26.03"].pin("pytorch").value == "2.11.0a0+a6c236b9fd"  # 10 hex digits
    # from 26.05 on the PyTorch backend comes from the container of upstream_container_version
    assert matrix["26.05"].pin("upstream_container_version").value == "26.04"
    torch = frameworks.get("pytorch")
    assert torch.ci_image(matrix["26.05"]) == "nvcr.io/nvidia/pytorch:26.04-py3"


# --- the upgrade report -----------------------------------------------------------------


def test_releases_diff_24_09_to_25_03():
    result = opforge("releases", "diff", "24.09", "25.03", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    facts = {c["key"]: (c["from"], c["to"]) for c in data["release"]}
    assert facts["ubuntu"] == ("22.04", "24.04")
    assert facts["python"] == ("3.10", "3.12")
    assert facts["min_compute_capability"] == (None, "7.5")
    assert facts["cuda"][0] == "12.6.1"
    assert data["ceilings"]["GLIBC"] == {"from": "2.35", "to": "2.39"}
    assert data["ceilings"]["GLIBCXX"] == {"from": "3.4.30", "to": "3.4.33"}
    fw = {f["framework"]: f for f in data["frameworks"]}
    assert fw["pytorch"]["rebuild"] is True and fw["pytorch"]["compatibility"] == "exact"
    assert fw["pytorch"]["version"]["from"] == "2.5.0a0+b465a5843b"
    assert "it was built for PyTorch 2.5.0a0+b465a5843b, but PyTorch 2.7.0a0+7c8ec84dab " \
           "is running" in fw["pytorch"]["why"][0]
    assert fw["tensorflow"]["backend"] == "removed" and fw["tensorflow"]["rebuild"] is None
    assert fw["onnxruntime"]["rebuild"] is False  # at-least: 1.19.2 headers, 1.21.0 runtime
    assert fw["tensorrt"]["rebuild"] is False  # the same major: 10.4 -> 10.9
    text = opforge("releases", "diff", "24.09", "25.03").stdout
    assert "Triton 24.09 -> 25.03" in text and "GLIBC ceiling" in text


def test_releases_diff_of_the_same_build_needs_no_rebuild():
    """23.09 and 23.10 both run PyTorch 2.1.0a0+32f93b1: the pin policy says it is one
    build, so the loader's exact rule holds between them."""
    data = json.loads(opforge("releases", "diff", "23.09", "23.10", "--json").stdout)
    (torch,) = [f for f in data["frameworks"] if f["framework"] == "pytorch"]
    assert torch["rebuild"] is False and not torch["version"]["changed"]


def test_releases_diff_needs_two_releases():
    result = opforge("releases", "diff", "24.09")
    assert result.returncode == 2
    assert "takes 2 releases, got 24.09" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.integration
def test_check_release_of_the_example_libraries(built_example):
    import tensorflow as tf
    import torch

    folders = [str(Path(a["manifest"]).parent) for a in built_example["artifacts"]]
    result = opforge("check", *folders, "--release", "25.03", "--no-load", "--json")
    assert result.returncode == 8, result.stderr
    by = {lib["framework"]: lib for lib in json.loads(result.stdout)["libraries"]}
    torch_report = by["pytorch"]
    assert torch_report["valid"] is False
    assert torch_report["rebuild"].endswith("--release 25.03 --framework pytorch (inside "
                                            "nvcr.io/nvidia/pytorch:25.03-py3)")
    assert any(f["code"] == "release" and f"built for PyTorch {torch.__version__}, but "
               f"PyTorch 2.7.0a0+7c8ec84dab is running" in f["message"]
               for f in torch_report["findings"])
    assert by["tensorflow"]["valid"] is False and by["tensorflow"]["rebuild"] is None
    assert any("has no TensorFlow backend" in f["message"] for f in by["tensorflow"]["findings"])
    if "onnxruntime" in by:  # built where the ONNX Runtime SDK was found: at-least
        assert by["onnxruntime"]["valid"] is (by["onnxruntime"]["rebuild"] is None)

    # 24.09: TensorFlow's pin is unknown there, so whether it loads cannot be told
    result = opforge("check", *folders, "--release", "24.09", "--no-load", "--json")
    by = {lib["framework"]: lib for lib in json.loads(result.stdout)["libraries"]}
    assert by["tensorflow"]["valid"] is None
    assert "nvcr.io/nvidia/tensorflow:24.09-tf2-py3" in by["tensorflow"]["rebuild"]
    assert by["pytorch"]["valid"] is False

    # a release pinned to what was built here: valid
    here = Path(folders[0]).parent.parent / "here.toml"
    here.write_text(f'[[release]]\nrelease = "24.99"\npytorch = "{torch.__version__}"\n'
                    f'tensorflow = "{tf.__version__}"\nsources = ["this machine"]\n')
    result = opforge("check", *folders, "--release", "24.99", "--no-load", "--json",
                     "--releases-file", str(here))
    by = {lib["framework"]: lib for lib in json.loads(result.stdout)["libraries"]}
    assert by["pytorch"]["valid"] is True and by["pytorch"]["rebuild"] is None
    assert by["tensorflow"]["valid"] is True
    text = opforge("check", *folders, "--release", "25.03", "--no-load").stdout
    assert "valid for 25.03: no; rebuild: opforge build " in text
