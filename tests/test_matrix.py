"""`opforge matrix` and the ci/ templates: the jobs per (release, framework, device), their
NGC images and commands, the GitHub / GitLab renderings checked against the published
schemas of each CI system (vendored by check-jsonschema), and one job's commands run here."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.specifiers import SpecifierSet

from conftest import EXAMPLE, ROOT, have, opforge
from opforge import __version__, releases
from opforge.ci import matrix as matrix_mod

RECIPE = "recipes/examples/addsub/recipe.toml"
IMAGE = {"pytorch": r"nvcr\.io/nvidia/pytorch:{r}-py3",
         "tensorflow": r"nvcr\.io/nvidia/tensorflow:{r}-tf2-py3",
         "onnxruntime": r"nvcr\.io/nvidia/tritonserver:{r}-py3",
         "tensorrt": r"nvcr\.io/nvidia/tritonserver:{r}-py3"}


def schema(name: str) -> dict:
    """A CI system's published schema, as check-jsonschema vendors it."""
    base = resources.files("check_jsonschema") / "builtin_schemas" / "vendor"
    return json.loads((base / f"{name}.json").read_text("utf-8"))


def matrix(*args: str, cwd: Path = ROOT, expect: int = 0):
    result = opforge("matrix", *args, cwd=cwd)
    assert result.returncode == expect, result.stderr
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def github_24():
    out = matrix(RECIPE, "--releases", "24.*", "--format", "github").stdout
    assert out.count("\n") == 1  # one line, for $GITHUB_OUTPUT
    return json.loads(out)["include"]


def test_releases_24_give_a_job_per_framework_each_release_ships(github_24):
    known = releases.load_matrix()
    expected = set()
    for r in (r for rid, r in known.items() if rid.startswith("24.")):
        for fw in ("pytorch", "tensorflow", "onnxruntime"):
            # a TensorFlow pin the table lacks is learned in the job's NGC container
            if r.pin(fw).known or fw == "tensorflow":
                expected.add(f"{r.id}-{fw}-cpu")
    assert {e["id"] for e in github_24} == expected
    assert len(expected) == 36 and {"24.02-tensorflow-cpu", "24.08-tensorflow-cpu",
                                    "24.09-tensorflow-cpu", "24.12-tensorflow-cpu"} < expected
    for entry in github_24:
        r, fw = entry["release"], entry["framework"]
        assert re.fullmatch(IMAGE[fw].format(r=re.escape(r)), entry["image"]), entry
        assert f"opforge build {RECIPE} --release {r} --framework {fw} " in entry["build"]
        assert entry["check"].startswith(f"opforge check {entry['path']}/dist/{r}/{fw} ")
        assert f"--release {r} --framework {fw} --device cpu" in entry["test"]
        assert entry["artifact"] == f"addsub-ops-{r}-{fw}-cpu"
        assert entry["runs-on"] == ["ubuntu-latest"] and entry["container-options"] == ""
        assert (f"python3 -m pip install --progress-bar off "
                f"'./opforge-dist/opforge-{__version__}-py3-none-any.whl[cache]'"
                in entry["setup"].split("\n"))  # the wheel the plan job built
        if fw == "onnxruntime":
            pin = releases.load_matrix()[r].pin("onnxruntime").value
            assert f"onnxruntime=={pin} onnx" in entry["setup"]
            assert f"opforge sdk fetch onnxruntime {pin}" in entry["setup"]
            assert "apt-get install" in entry["setup"]  # tritonserver images have no g++
    assert len({e["artifact"] for e in github_24}) == len(github_24)


def test_github_template_consumes_the_matrix_and_is_a_valid_workflow(github_24):
    template = (ROOT / "ci" / "github" / "opforge.yml").read_text("utf-8")
    workflow = yaml.safe_load(template)
    workflow["on"] = workflow.pop(True)  # PyYAML reads the key `on` as YAML 1.1's true
    jsonschema.validate(workflow, schema("github-workflows"))
    build = workflow["jobs"]["build"]
    assert build["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    # every matrix value the template reads is in every entry, and nothing else is needed
    used = set(re.findall(r"(?<![\w.])matrix\.([a-z][a-z-]*)", template))
    assert used and all(used <= set(entry) for entry in github_24), used
    steps = " ".join(str(s.get("run", "")) + str(s.get("uses", "")) for s in build["steps"])
    for needed in ("${{ matrix.build }}", "${{ matrix.check }}", "${{ matrix.test }}",
                   "actions/upload-artifact", "actions/cache"):
        assert needed in steps
    assert "--format github" in template and "GITHUB_OUTPUT" in template
    # the plan job builds opforge's wheel into the folder the jobs install it from, and
    # hands it over as an artifact that each job downloads before its setup
    plan = workflow["jobs"]["plan"]["steps"]
    built = next(s["run"] for s in plan if "pip wheel" in s.get("run", ""))
    assert f"--no-deps -w {matrix_mod.WHEEL_DIR} " in built
    upload = next(s for s in plan if s.get("uses") == "actions/upload-artifact@v4")
    assert upload["with"] == {"name": matrix_mod.WHEEL_ARTIFACT,
                              "path": f"{matrix_mod.WHEEL_DIR}/", "if-no-files-found": "error"}
    uses = [s.get("uses") or s.get("name") for s in build["steps"]]
    download = build["steps"][uses.index("actions/download-artifact@v4")]
    assert download["with"] == {"name": matrix_mod.WHEEL_ARTIFACT,
                                "path": matrix_mod.WHEEL_DIR}
    assert uses.index("actions/download-artifact@v4") < uses.index("setup")
    # with the generated matrix in place of the expression, still a valid workflow
    build["strategy"]["matrix"] = {"include": github_24}
    jsonschema.validate(workflow, schema("github-workflows"))


def test_gitlab_child_pipeline_and_template_are_valid(github_24):
    text = matrix(RECIPE, "--releases", "24.*", "--format", "gitlab").stdout
    assert text.startswith("# generated by opforge")
    doc = yaml.safe_load(text)
    jsonschema.validate(doc, schema("gitlab-ci"))
    jobs = {k.removeprefix("opforge "): v for k, v in doc.items() if k.startswith("opforge ")}
    by_id = {e["id"]: e for e in github_24}
    assert set(jobs) == set(by_id)
    for jid, job in jobs.items():
        entry = by_id[jid]
        assert job["image"] == {"name": entry["image"]} and job["stage"] in doc["stages"]
        assert job["script"] == entry["setup"].split("\n") + [entry["build"], entry["check"],
                                                              entry["test"]]
        assert job["artifacts"]["paths"] == [entry["path"]]
        assert job["artifacts"]["name"] == entry["artifact"] and "tags" not in job
        assert job["cache"]["paths"] == [".cache/sccache"]
        # opforge's wheel comes from the plan job of the parent pipeline
        assert job["needs"] == [{"pipeline": "$PARENT_PIPELINE_ID", "job": "opforge-plan"}]
    template = yaml.safe_load((ROOT / "ci" / "gitlab" / "opforge.gitlab-ci.yml").read_text())
    jsonschema.validate(template, schema("gitlab-ci"))
    plan = template[matrix_mod.GITLAB_PLAN_JOB]
    assert any("--format gitlab > opforge-jobs.yml" in line for line in plan["script"])
    assert any(f"pip wheel --progress-bar off --no-deps -w {matrix_mod.WHEEL_DIR} " in line
               for line in plan["script"])
    assert any("[matrix]" in line for line in plan["script"])  # PyYAML, for --format gitlab
    assert plan["artifacts"]["paths"] == ["opforge-jobs.yml", f"{matrix_mod.WHEEL_DIR}/"]
    trigger = template["opforge-build"]
    assert trigger["trigger"]["include"] == [
        {"artifact": "opforge-jobs.yml", "job": "opforge-plan"}]
    assert trigger["variables"] == {"PARENT_PIPELINE_ID": "$CI_PIPELINE_ID"}


def test_dry_run_table_names_jobs_and_why_others_are_skipped():
    out = matrix(RECIPE, "--releases", "24.*", "--dry-run").stdout.splitlines()
    assert out[0].split() == ["job", "image", "runner", "steps"]
    assert "36 job(s) for recipes/examples/addsub/recipe.toml" in out[37]
    assert len(out) == 38  # nothing skipped
    out = matrix(RECIPE, "--releases", "26.0[1-3]", "--dry-run").stdout.splitlines()
    skipped = out[out.index("3 skipped:") + 1:]
    assert [line.split(":")[0].strip() for line in skipped] == [
        "26.01-tensorflow-cpu", "26.02-tensorflow-cpu", "26.03-tensorflow-cpu"]
    assert all("has no TensorFlow backend" in line for line in skipped)


def test_releases_without_a_tensorflow_backend_skip_it():
    data = json.loads(matrix(RECIPE, "--releases", "25.03", "--format", "json").stdout)
    assert [j["id"] for j in data["jobs"]] == ["25.03-pytorch-cpu", "25.03-onnxruntime-cpu"]
    assert data["skipped"][0]["id"] == "25.03-tensorflow-cpu"
    assert "has no TensorFlow backend" in data["skipped"][0]["reason"]


def test_releases_whose_python_opforge_does_not_support_are_skipped():
    """23.01-23.04 run Python 3.8; opforge's requires-python (from its installed metadata)
    excludes it, so no job would get past `pip install`."""
    supported = metadata.metadata("opforge")["Requires-Python"]
    data = json.loads(matrix(RECIPE, "--releases", "23.0?", "--format", "json").stdout)
    old = {s["id"]: s["reason"] for s in data["skipped"] if s["release"] < "23.05"}
    assert set(old) == {f"23.0{m}-{fw}-cpu" for m in range(1, 5)
                        for fw in ("pytorch", "tensorflow", "onnxruntime")}
    assert all(f"run Python 3.8 (the release's python pin), and opforge needs Python "
               f"{SpecifierSet(supported)} (its requires-python)" in r for r in old.values())
    assert not [j for j in data["jobs"] if j["release"] < "23.05"]
    assert {"23.05-pytorch-cpu", "23.05-onnxruntime-cpu"} <= {j["id"] for j in data["jobs"]}


def test_python_of_a_release_against_requires_python():
    def release(python: str) -> releases.Release:
        return releases.release_from_flat({"release": "24.99", "python": python},
                                          origin="test")

    supported = SpecifierSet(">=3.10")
    assert "run Python 3.9" in matrix_mod.python_too_old(release("3.9"), supported)
    assert matrix_mod.python_too_old(release("3.10"), supported) is None
    assert matrix_mod.python_too_old(release("3.12"), supported) is None
    assert matrix_mod.python_too_old(release(""), supported) is None  # unknown: no guess
    assert matrix_mod.python_too_old(release("3.9"), None) is None  # not installed


@pytest.fixture()
def gpu_recipe(tmp_path, monkeypatch) -> Path:
    """The example with TensorRT and both devices, in a checkout of its own."""
    folder = tmp_path / "checkout"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "dist"))
    text = (folder / "recipe.toml").read_text()
    text = text.replace('frameworks = ["pytorch", "tensorflow", "onnxruntime"]',
                        'frameworks = ["pytorch", "tensorrt"]')
    text = text.replace('devices = ["cpu"]', 'devices = ["cpu", "cuda"]')
    (folder / "recipe.toml").write_text(text)
    return folder


def test_devices_runners_and_tensorrt(gpu_recipe):
    data = json.loads(matrix("recipe.toml", "--releases", "24.01,24.09", "--format", "github",
                             "--gpu-runner", "self-hosted,h100", cwd=gpu_recipe).stdout)
    ids = [e["id"] for e in data["include"]]
    assert ids == ["24.01-pytorch-cpu", "24.01-pytorch-cuda", "24.09-pytorch-cpu",
                   "24.09-pytorch-cuda", "24.09-tensorrt-cuda"]
    trt = data["include"][-1]
    assert trt["image"] == "nvcr.io/nvidia/tritonserver:24.09-py3" and trt["test"] == ""
    assert trt["runs-on"] == ["self-hosted", "h100"] and trt["container-options"] == "--gpus all"
    assert "--device cuda" in data["include"][1]["test"]
    full = json.loads(matrix("recipe.toml", "--releases", "24.01,24.09", cwd=gpu_recipe).stdout)
    reasons = {s["id"]: s["reason"] for s in full["skipped"]}
    assert "IPluginV3" in reasons["24.01-tensorrt-cuda"]
    assert "on the GPU only" in reasons["24.09-tensorrt-cpu"]
    lab = yaml.safe_load(matrix("recipe.toml", "--releases", "24.09", "--format", "gitlab",
                                cwd=gpu_recipe).stdout)
    jsonschema.validate(lab, schema("gitlab-ci"))
    assert lab["opforge 24.09-tensorrt-cuda"]["tags"] == ["gpu"]
    assert "tags" not in lab["opforge 24.09-pytorch-cpu"]


def test_a_stable_abi_library_is_one_job_per_device_cuda_major_and_architectures(gpu_recipe):
    """build.stable_abi: releases below the target (or of unknown version) are left out, and
    each group of the others (cpu; cuda by CUDA major and lowest compute capability) is one
    job, its oldest release's, serving the group."""
    recipe = gpu_recipe / "recipe.toml"
    recipe.write_text(recipe.read_text() + '\n[build]\nstable_abi = { pytorch = "2.10" }\n')
    data = json.loads(matrix("recipe.toml", "--releases", "25.*,26.*", "--select",
                             "*-pytorch-*", cwd=gpu_recipe).stdout)
    jobs = {j["id"]: j for j in data["jobs"]}
    reasons = {s["id"]: s["reason"] for s in data["skipped"]}
    assert "25.09-pytorch-cpu" not in jobs
    assert reasons["25.09-pytorch-cpu"].endswith("is older than the stable-ABI target 2.10 "
                                                 "(build.stable_abi)")
    cpu = [j for j in jobs.values() if j["device"] == "cpu"]
    assert len(cpu) == 1 and cpu[0]["serves"][0] == cpu[0]["release"]
    assert len(cpu[0]["serves"]) > 5 and "26.08" in cpu[0]["serves"]
    served = {r for j in jobs.values() for r in j["serves"]}
    for release in cpu[0]["serves"][1:]:
        assert reasons[f"{release}-pytorch-cpu"] == (f"served by the stable-ABI library of "
                                                     f"job {cpu[0]['id']}")
    cuda = [j for j in jobs.values() if j["device"] == "cuda"]
    assert set(cpu[0]["serves"]) <= served and all(
        f"stable ABI (target 2.10): this one library serves {', '.join(j['serves'])}"
        in j["notes"] for j in cuda + cpu)


def test_select_and_skip_globs(gpu_recipe):
    data = json.loads(matrix("recipe.toml", "--releases", "24.*", "--select", "*-pytorch-*",
                             "--skip", "*-cuda 24.0?-*", cwd=gpu_recipe).stdout)
    assert [j["id"] for j in data["jobs"]] == ["24.10-pytorch-cpu", "24.11-pytorch-cpu",
                                               "24.12-pytorch-cpu"]


@pytest.mark.parametrize("args, message", [
    (["--releases", "local"], "--releases local: a CI job builds inside a release's NGC"),
    (["--releases", "24.13"], "unknown Triton release '24.13'"),
    (["--releases", "19.*"], "--releases '19.*' matches no known release"),
    (["--releases", "24.09", "--select", "*-tensorrt-*"], "no job left for"),
    (["--releases", "25.03", "--select", "*-tensorflow-*"], "25.03-tensorflow-cpu: Triton"),
])
def test_bad_selections_are_user_errors(args, message):
    result = matrix(RECIPE, *args, expect=2)
    assert message in result.stderr


def test_recipe_outside_the_checkout_is_refused(tmp_path):
    result = matrix(str(EXAMPLE / "recipe.toml"), cwd=tmp_path, expect=2)
    assert "relative to the checkout" in result.stderr


@pytest.mark.integration
def test_a_jobs_commands_run_as_written(tmp_path):
    """The pytorch job of a release pinned (by a releases file) to the torch installed here:
    its build, check and test commands, run by a shell in the checkout, leave the reports."""
    if not have("torch"):
        pytest.skip("PyTorch is not installed (pip install 'opforge[pytorch]')")
    import torch

    checkout = tmp_path / "checkout"
    shutil.copytree(EXAMPLE, checkout, ignore=shutil.ignore_patterns("build", "dist"))
    (checkout / "releases.toml").write_text(
        '[[release]]\nrelease = "24.99"\nupstream_container_version = "24.99"\n'
        f'pytorch = "{torch.__version__}"\nsources = ["this test: the torch installed here"]\n')
    data = json.loads(matrix("recipe.toml", "--releases", "24.99", "--releases-file",
                             "releases.toml", "--select", "*-pytorch-*", cwd=checkout).stdout)
    (job,) = data["jobs"]
    assert "--releases-file releases.toml" in job["build"] + job["check"] + job["test"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "NO_COLOR": "1"}
    for step in ("build", "check", "test"):
        result = subprocess.run(["bash", "-eo", "pipefail", "-c", job[step]], cwd=checkout,
                                env=env, capture_output=True, text=True)
        assert result.returncode == 0, (step, result.stderr[-3000:])
    reports = checkout / job["path"] / "reports"
    assert json.loads((reports / "build.json").read_text())["release"] == "24.99"
    assert json.loads((reports / "check.json").read_text())["ok"] is True
    assert json.loads((reports / "test.json").read_text())["failed"] == 0
    assert (checkout / job["path"] / "dist" / "24.99" / "pytorch" / "manifest.json").is_file()
