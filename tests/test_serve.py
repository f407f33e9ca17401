"""`opforge serve` and `opforge verify` against a real tritonserver (the one bundled in the
nvidia-pytriton wheel): the example's models (made by its own script, packaged by opforge)
served on free loopback ports and verified over HTTP and gRPC; bad requests; bounded load;
an op that aborts its process, recovered without restarting the server; Ctrl-C leaves no
process, shared-memory file or work folder behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLE, ROOT, build_copy, check_json, have, opforge, ort_sdk_found

needs_server = pytest.mark.skipif(
    not have("pytriton"), reason="the tritonserver bundled in nvidia-pytriton is not installed "
    "(pip install 'opforge[serve]')")
pytestmark = needs_server
ENV = {**os.environ, "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


class Served:
    """`opforge serve REPO --json` in a child, ready; `stop()` sends SIGINT like Ctrl-C."""

    def __init__(self, repo: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "opforge", "serve", str(repo), "--http-port", "0",
             "--grpc-port", "0", "--metrics-port", "0", "--json"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=ENV)
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr),
                         daemon=True).start()
        if not self._ready.wait(240) or self.process.poll() is not None:
            self.process.kill()
            raise AssertionError("opforge serve did not become ready:\n"
                                 + "".join(self.stderr[-30:]))
        self.info = self.events[0]
        check_json("serve-event", self.info)
        self.http, self.grpc = self.info["http"], self.info["grpc"]

    def _read(self) -> None:
        for line in self.process.stdout:
            self.events.append(json.loads(line))
            if self.events[-1]["event"] == "ready":
                self._ready.set()
        self._ready.set()

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Stop it; every event it printed follows docs/cli.schema.json, `stopped` last."""
        self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self._reader.join(10)
        for event in self.events:
            check_json("serve-event", event)
        assert self.events[-1]["event"] == "stopped", self.events[-3:]
        return code

    def leftovers(self) -> list[str]:
        """Processes of the server, its shared memory and work folder that still exist."""
        found = [f"/dev/shm/{n}" for n in os.listdir("/dev/shm")
                 if n.startswith(self.info["shm_prefix"])]
        if self.info["work_folder"] and Path(self.info["work_folder"]).exists():
            found.append(self.info["work_folder"])
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if self.info["shm_prefix"] in cmdline or (
                    self.info["work_folder"] and self.info["work_folder"] in cmdline):
                found.append(f"process {pid}: {cmdline.replace(chr(0), ' ')[:120]}")
        return found


def post(url: str, path: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(f"http://{url}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{url}/v2/health/ready", timeout=5) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def infer_body(inputs: dict[str, list], datatype: str = "FP32") -> bytes:
    return json.dumps({"inputs": [{"name": n, "shape": list(np.asarray(v).shape),
                                   "datatype": datatype, "data": np.asarray(v).ravel().tolist()}
                                  for n, v in inputs.items()]}).encode()


# --- the example, made by its own script, packaged and served ----------------------------


@pytest.fixture(scope="session")
def served(example_repository):
    server = Served(example_repository)
    yield server
    if server.process.poll() is None:
        assert server.stop(signal.SIGTERM) == 0, "".join(server.stderr[-20:])
        assert server.leftovers() == []


def built_frameworks(built_example) -> set[str]:
    return {a["framework"] for a in built_example["artifacts"]}


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_verify_passes_every_vector_in_every_framework(served, built_example, protocol):
    url = served.http if protocol == "http" else served.grpc
    result = opforge("verify", str(EXAMPLE / "recipe.toml"), "--url", url, "--protocol",
                     protocol, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == 0 and report["passed"] > 0
    frameworks = {r["framework"] for r in report["results"]}
    assert frameworks == built_frameworks(built_example)  # pytorch, tensorflow (+ onnxruntime)
    vectors = {(r["framework"], r["vector"]) for r in report["results"]}
    assert vectors == {(f, v) for f in frameworks for v in ("vector", "matrix-alpha")}
    assert all(r["max_error"] == 0 for r in report["results"])


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_verify_passes_every_vector_through_the_aoti_packages(served, example_repository,
                                                             protocol):
    """The torch_aoti models (model.pt2) run in the bundled server's Python-backend wrapper,
    loaded with torch._inductor.aoti_load_package after the op library."""
    if not (example_repository / "addsub_torch_aoti").is_dir():
        pytest.skip("the example's maker made no AOTInductor package here (it needs PyTorch "
                    "2.6 or newer and a C++ compiler)")
    url = served.http if protocol == "http" else served.grpc
    result = opforge("verify", str(EXAMPLE / "recipe.toml"), "--url", url, "--protocol",
                     protocol, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)["results"]
    assert {(r["model"], r["vector"], r["ok"], r["max_error"]) for r in rows
            if "torch_aoti" in r["model"]} == {
        ("addsub_torch_aoti", "vector", True, 0),
        ("addsub_torch_aoti_alpha0p5_rank2", "matrix-alpha", True, 0)}


def test_serve_ready_summary_names_each_model_and_its_library(served, built_example):
    models = served.info["models"]
    assert served.info["mode"] == "bundled"
    for name, model in models.items():
        assert model["libraries"] and all(Path(p).is_file() for p in model["libraries"])
        assert model["backend"] in built_frameworks(built_example)


def test_verify_fails_a_vector_no_model_runs(served, tmp_path):
    """The crashy recipe's Boom has a vector, and the example's server no model for it."""
    result = opforge("verify", str(ROOT / "tests/data/crashy/recipe.toml"), "--url",
                     served.http)
    assert result.returncode == 6, result.stdout + result.stderr
    assert "no model in the server fits it" in result.stdout
    assert "Boom" in result.stdout


def test_verify_without_a_server_says_so(tmp_path):
    from opforge.deploy.serve import free_port

    url = f"127.0.0.1:{free_port()}"
    result = opforge("verify", str(EXAMPLE / "recipe.toml"), "--url", url)
    assert result.returncode == 9
    assert f"no Triton answers http at {url}" in result.stderr
    assert "opforge serve" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("case", ["wrong-shape", "wrong-dtype", "unknown-model",
                                  "invalid-json", "missing-input"])
def test_bad_requests_get_4xx_and_the_server_stays_up(served, case):
    a, b = [1.0, 2.0], [3.0, 4.0]
    path, body = "/v2/models/addsub_torchscript/infer", infer_body({"a": a, "b": b})
    if case == "wrong-shape":
        body = infer_body({"a": [a, a], "b": [b, b]})  # rank 2 for dims [-1]
    elif case == "wrong-dtype":
        body = infer_body({"a": [1, 2], "b": [3, 4]}, datatype="INT32")
    elif case == "unknown-model":
        path = "/v2/models/no_such_model/infer"
    elif case == "invalid-json":
        body = b'{"inputs": [ {"name": "a", '
    elif case == "missing-input":
        body = infer_body({"a": a})
    status, text = post(served.http, path, body)
    if case == "invalid-json":
        # Triton 2.51's HTTP frontend itself answers a JSON parse failure with 500 (measured);
        # the request never reaches a model, and the server stays up.
        assert status == 500 and "failed to parse the request JSON" in text, (status, text)
    else:
        assert 400 <= status < 500, (status, text)
    assert "error" in json.loads(text)
    assert ready(served.http)
    ok_status, _ = post(served.http, "/v2/models/addsub_torchscript/infer",
                        infer_body({"a": a, "b": b}))
    assert ok_status == 200


def test_an_op_error_reaches_the_client_as_4xx(served):
    """Shapes that Triton accepts but the op refuses (a and b differ): the op's message."""
    status, text = post(served.http, "/v2/models/addsub_torchscript/infer",
                        infer_body({"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]}))
    assert status == 400, text
    assert "a and b must have the same shape" in text
    assert ready(served.http)


def test_bounded_load_eight_clients_without_errors(served):
    import tritonclient.http as tc

    models = sorted(served.info["models"])
    per_client, clients = 400, 8
    a = np.arange(16, dtype=np.float32)
    b = np.ones(16, dtype=np.float32)

    def work(index: int) -> list[str]:
        client = tc.InferenceServerClient(served.http)
        errors = []
        rank1 = [m for m in models if "rank2" not in m]
        try:
            for i in range(per_client):
                model = rank1[(index + i) % len(rank1)]
                inputs = []
                for name, value in (("a", a), ("b", b)):
                    item = tc.InferInput(name, [16], "FP32")
                    item.set_data_from_numpy(value)
                    inputs.append(item)
                try:
                    result = client.infer(model, inputs)
                    if not np.array_equal(result.as_numpy("sum"), a + b):
                        errors.append(f"{model}: wrong sum")
                except Exception as exc:  # counted, not raised: the test reports them all
                    errors.append(f"{model}: {exc}")
        finally:
            client.close()
        return errors

    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        errors = [e for result in pool.map(work, range(clients)) for e in result]
    elapsed = time.monotonic() - start
    assert errors == [], errors[:5]
    assert elapsed < 30, f"{clients * per_client} requests took {elapsed:.1f}s"
    assert ready(served.http)


def test_a_model_that_fails_to_load_is_named_with_its_error(example_repository, tmp_path):
    """A TorchScript model copied into a repository opforge did not package: no op library
    is loaded for it, so torch.jit.load cannot resolve acme::AddSub."""
    import shutil

    shutil.copytree(example_repository / "addsub_torchscript", tmp_path / "orphan")
    config = tmp_path / "orphan" / "config.pbtxt"
    config.write_text(config.read_text().replace('"addsub_torchscript"', '"orphan"'))
    result = opforge("serve", str(tmp_path), "--http-port", "0", "--grpc-port", "0",
                     "--metrics-port", "0")
    assert result.returncode == 9, result.stderr
    assert "tritonserver exited before it was ready" in result.stderr
    assert "orphan:" in result.stderr and "AddSub" in result.stderr
    assert "Traceback" not in result.stderr.split("orphan:")[0]


# --- an op that aborts: supervision ---------------------------------------------------


@pytest.fixture(scope="module")
def crashy_repository(tmp_path_factory) -> Path:
    built = build_copy(ROOT / "tests" / "data" / "crashy", tmp_path_factory)
    library = built["build"]["artifacts"][0]["library"]
    repo = built["folder"].parent / "models"
    (repo / "boom" / "1").mkdir(parents=True)
    made = subprocess.run([sys.executable, str(ROOT / "tests" / "sample_models.py"),
                           "torchscript-boom", str(repo / "boom" / "1" / "model.pt"), library],
                          capture_output=True, text=True, env=ENV)
    assert made.returncode == 0, made.stderr
    (repo / "boom" / "config.pbtxt").write_text(
        'name: "boom"\nplatform: "pytorch_libtorch"\nmax_batch_size: 0\n'
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
        'parameters { key: "opforge.op" value: { string_value: "Boom" } }\n')
    result = opforge("package", str(built["folder"] / "recipe.toml"), "--release", "local",
                     "--model-repository", str(repo), "--base-image", "none")
    assert result.returncode == 0, result.stderr
    return repo


def test_an_aborting_op_is_reloaded_within_5s_and_ctrl_c_leaves_nothing(crashy_repository):
    server = Served(crashy_repository)
    try:
        server_pid = server.info["pid"]
        assert post(server.http, "/v2/models/boom/infer", infer_body({"x": [1.0, 2.0]}))[0] == 200
        status, text = post(server.http, "/v2/models/boom/infer", infer_body({"x": [13.0]}))
        assert status >= 400, text  # the stub died under this request
        crashed = time.monotonic()
        while True:
            status, text = post(server.http, "/v2/models/boom/infer",
                                infer_body({"x": [3.0, 4.0]}))
            if status == 200:
                break
            assert time.monotonic() - crashed < 5, f"not serving 5 s after the crash: {text}"
            assert ready(server.http)
            time.sleep(0.1)
        assert json.loads(text)["outputs"][0]["data"] == [3.0, 4.0]
        assert [e["event"] for e in server.events[1:3]] == ["stub-died", "reloaded"]
        assert server.info["pid"] == server_pid and ready(server.http)  # not restarted
        verified = opforge("verify", str(ROOT / "tests/data/crashy/recipe.toml"), "--url",
                           server.http, "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        code = server.stop()
    assert code == 0, "".join(server.stderr[-20:])
    assert server.events[-1]["event"] == "stopped"
    assert server.leftovers() == []


# --- narrow dtypes: BF16 (and BOOL, INT8, UINT8, INT16) through the server ------------

DTYPES = ROOT / "recipes" / "examples" / "dtypes"


@pytest.fixture(scope="module")
def dtypes_served(tmp_path_factory):
    """recipes/examples/dtypes built once (PyTorch, and ONNX Runtime when its headers are
    found), its maker's TorchScript and ONNX models packaged and served."""
    frameworks = ("pytorch",) + (("onnxruntime",) if have("onnx") and ort_sdk_found() else ())
    built = build_copy(DTYPES, tmp_path_factory, frameworks=frameworks)
    folder = built["folder"]
    repo = folder.parent / "models"
    made = subprocess.run([sys.executable, str(folder / "models" / "make_models.py"),
                           str(repo), "--release", "local"], capture_output=True, text=True,
                          env=ENV)
    assert made.returncode == 0, made.stderr
    result = opforge("package", str(folder / "recipe.toml"), "--release", "local",
                     "--model-repository", str(repo), "--base-image", "none")
    assert result.returncode == 0, result.stderr
    server = Served(repo)
    yield {"server": server, "folder": folder, "frameworks": frameworks}
    assert server.stop(signal.SIGTERM) == 0, "".join(server.stderr[-20:])
    assert server.leftovers() == []


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_verify_sends_bf16_tensors_through_every_model_format(dtypes_served, protocol):
    """Every vector of the dtypes example, BF16 ones among them (Silu's bfloat16 vector and
    MaskedFill's, bound to bfloat16 by its model), through TorchScript and ONNX models in the
    bundled server's Python-backend wrapper, over HTTP and gRPC."""
    server = dtypes_served["server"]
    url = server.http if protocol == "http" else server.grpc
    result = opforge("verify", str(dtypes_served["folder"] / "recipe.toml"), "--url", url,
                     "--protocol", protocol, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)["results"]
    formats = {"pytorch": "torchscript", "onnxruntime": "onnx"}
    bf16 = {(r["model"], r["vector"]) for r in rows if r["ok"] and
            "bfloat16" in r["types"].values()}
    assert bf16 == {(name, vector) for fw in dtypes_served["frameworks"]
                    for name, vector in ((f"silu_{formats[fw]}_bfloat16", "bfloat16"),
                                         (f"masked_fill_{formats[fw]}_bfloat16_valuem1_rank2",
                                          "fill"))}
    silu = next(r for r in rows if r["model"] == "silu_torchscript_bfloat16")
    assert silu["max_error"] < 1e-2  # bfloat16's default tolerance, well inside it


def test_bf16_in_a_json_body_is_refused_by_triton_naming_binary_data(dtypes_served):
    """Triton 2.51's HTTP frontend takes no BF16 in a JSON body (measured): a 400 that says
    to send binary data, which tritonclient does; the server stays up."""
    server = dtypes_served["server"]
    status, text = post(server.http, "/v2/models/silu_torchscript_bfloat16/infer",
                        infer_body({"x": [1.0, 100.0]}, datatype="BF16"))
    assert status == 400, text
    assert "BF16 data via JSON is not supported" in json.loads(text)["error"]
    assert ready(server.http)


# --- errors before anything starts ------------------------------------------------------


def _model(repo: Path, name: str, config: str, file: str) -> None:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "1" / file).write_bytes(b"\0")
    (repo / name / "config.pbtxt").write_text(config)


def test_serve_refuses_what_the_bundled_server_cannot_run(tmp_path):
    _model(tmp_path, "plan", 'name: "plan"\nplatform: "tensorrt_plan"\n', "model.plan")
    result = opforge("serve", str(tmp_path), "--http-port", "0", "--grpc-port", "0",
                     "--metrics-port", "0", "--server", "bundled")
    assert result.returncode == 2, result.stderr
    assert "model plan: tensorrt models need Triton's own tensorrt backend" in result.stderr
    assert "nvcr.io/nvidia/tritonserver" in result.stderr


def test_serve_without_tritonclient_names_its_extra(monkeypatch, tmp_path):
    """serve talks to the server through tritonclient's HTTP client: without it, the error
    names the extra, before any tritonserver starts, and the work folder is gone."""
    from opforge.core.errors import ToolchainError
    from opforge.deploy import serve

    (tmp_path / "py" / "1").mkdir(parents=True)
    (tmp_path / "py" / "config.pbtxt").write_text('name: "py"\nbackend: "python"\n')
    monkeypatch.setitem(sys.modules, "tritonclient.http", None)
    server = serve.Server(tmp_path, serve.Options(0, 0, 0, server="bundled"))
    try:
        with pytest.raises(ToolchainError) as info:
            server.start()
    finally:
        server.stop()
    assert info.value.message.startswith("opforge serve needs tritonclient ("), info.value
    assert info.value.message.endswith(": pip install 'opforge[serve]'")
    assert info.value.exit_code == 4
    assert server.process is None and server.workdir is None


def test_serve_flags_errors(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = opforge("serve", str(tmp_path), "--http-port", str(port))
    assert result.returncode == 2
    assert f"--http-port {port}: 127.0.0.1:{port} is taken" in result.stderr
    missing = opforge("serve", str(tmp_path / "nope"), "--http-port", "0", "--grpc-port", "0",
                      "--metrics-port", "0")
    assert missing.returncode == 2 and "not a folder" in missing.stderr


def test_wrapper_config_runs_on_cpu_in_this_environment(tmp_path):
    from opforge.deploy import repository, serve

    _model(tmp_path, "ts", 'name: "ts"\nplatform: "pytorch_libtorch"\nmax_batch_size: 4\n'
           'input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]\n'
           'output [ { name: "y" data_type: TYPE_FP32 dims: [ 2 ] } ]\n'
           'instance_group [ { kind: KIND_GPU count: 2 gpus: [ 0 ] } ]\n'
           'model_operations { op_library_filename: "/opt/x.so" }\n'
           'parameters { key: "mine" value: { string_value: "kept" } }\n', "model.pt")
    bundled = serve.find_bundled()
    out = tmp_path / "out"
    served = serve.generate(tmp_path, out, bundled)
    assert [s.name for s in served] == ["ts"]
    config = repository.read_config(out / "models" / "ts" / "config.pbtxt")
    assert (config.backend, config.platform, config.max_batch_size) == ("python", "", 4)
    cpu = repository.model_config_pb2().ModelInstanceGroup.KIND_CPU
    assert [(g.kind, g.count, list(g.gpus)) for g in config.instance_group] == [(cpu, 2, [])]
    assert not config.model_operations.op_library_filename
    assert config.parameters["mine"].string_value == "kept"
    assert config.parameters["opforge.framework"].string_value == "pytorch"
    assert config.parameters["EXECUTION_ENV_PATH"].string_value == (serve.execution_env() or "")
    spec = json.loads((out / "models" / "ts" / "1" / "opforge-serve.json").read_text())
    assert spec == {"framework": "pytorch", "platform": "pytorch_libtorch",
                    "model_file": str(tmp_path / "ts/1/model.pt"), "libraries": []}
    assert (out / "backends" / "python" / "triton_python_backend_stub").is_file()


def test_serve_native_without_a_native_server_says_where_to_run(tmp_path):
    from opforge.deploy.serve import find_native

    if find_native() is not None:
        pytest.skip("a tritonserver with framework backends is on PATH here")
    result = opforge("serve", str(tmp_path), "--server", "native", "--http-port", "0",
                     "--grpc-port", "0", "--metrics-port", "0")
    assert result.returncode == 4, result.stderr
    assert "no tritonserver with framework backends on PATH" in result.stderr
    assert "nvcr.io/nvidia/tritonserver" in result.stderr


@pytest.mark.skipif(not __import__("shutil").which("tritonserver"),
                    reason="no tritonserver with its framework backends on PATH (run the suite "
                    "inside nvcr.io/nvidia/tritonserver:<release>-py3 to serve natively)")
def test_native_server_serves_the_example(example_repository, built_example):
    from opforge.deploy.serve import find_native

    if find_native() is None:
        pytest.skip("the tritonserver on PATH has no framework backends beside it")
    server = Served(example_repository)
    try:
        assert server.info["mode"] == "native"
        result = opforge("verify", str(EXAMPLE / "recipe.toml"), "--url", server.http)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        assert server.stop() == 0
