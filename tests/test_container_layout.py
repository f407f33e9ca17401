"""The launch script `opforge package` writes, run as in the NGC tritonserver image: a clean
environment (`env -i`), tritonserver on PATH, and the framework's libraries only beside its
backend, in a folder laid out like /opt/tritonserver/backends/pytorch (here: the installed
torch's libraries linked there). No build venv on the library path, no RPATH into it: the op
library must find libc10.so through the launch script alone.

The server is the tritonserver bundled in nvidia-pytriton (Python backend only), so the
TorchScript model of the repository is left unloaded; a Python-backend model beside it calls
the op without loading any library itself: it works only because the launch preloaded the
op library into the process (the stub inherits LD_PRELOAD and the library path)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, have, opforge

pytestmark = pytest.mark.skipif(
    not (have("pytriton") and have("torch")),
    reason="needs the tritonserver bundled in nvidia-pytriton and PyTorch "
           "(pip install 'opforge[serve,pytorch]')")

PYTHON_MODEL = '''\
import torch
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        # no torch.ops.load_library here: the op must already be in the process
        self.op = torch.ops.acme.AddSub

    def execute(self, requests):
        responses = []
        for request in requests:
            a, b = (torch.from_numpy(pb_utils.get_input_tensor_by_name(request, n).as_numpy())
                    for n in ("a", "b"))
            total, diff = self.op(a, b, alpha=2.0)
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("sum", total.numpy()), pb_utils.Tensor("diff", diff.numpy())]))
        return responses
'''


def python_model_config(name: str) -> str:
    tensors = lambda names: ", ".join(  # noqa: E731
        f'{{ name: "{n}" data_type: TYPE_FP32 dims: [ -1 ] }}' for n in names)
    return (f'name: "{name}"\nbackend: "python"\nmax_batch_size: 0\n'
            f"input [ {tensors(('a', 'b'))} ]\noutput [ {tensors(('sum', 'diff'))} ]\n"
            "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
            'parameters { key: "EXECUTION_ENV_PATH" value: { string_value: "'
            f'{sys.prefix}" }} }}\n')


@pytest.fixture(scope="module")
def container(built_example, example_copy, tmp_path_factory) -> dict:
    """A packaged repository and a folder laid out like the image's /opt/tritonserver."""
    from opforge.deploy import serve

    bundled = serve.find_bundled()
    root = tmp_path_factory.mktemp("container")
    repo = root / "models"
    library = next(a["library"] for a in built_example["artifacts"]
                   if a["framework"] == "pytorch")
    (repo / "ts_addsub" / "1").mkdir(parents=True)
    subprocess.run([sys.executable, str(ROOT / "tests" / "sample_models.py"), "torchscript",
                    str(repo / "ts_addsub" / "1" / "model.pt"), library], check=True,
                   capture_output=True)
    (repo / "ts_addsub" / "config.pbtxt").write_text(
        'name: "ts_addsub"\nplatform: "pytorch_libtorch"\nmax_batch_size: 0\n')
    result = opforge("package", str(example_copy / "recipe.toml"), "--release", "local",
                     "--model-repository", str(repo), "--base-image", "none")
    assert result.returncode == 0, result.stderr
    (repo / "preloaded" / "1").mkdir(parents=True)
    (repo / "preloaded" / "1" / "model.py").write_text(PYTHON_MODEL)
    (repo / "preloaded" / "config.pbtxt").write_text(python_model_config("preloaded"))

    backends = root / "opt" / "tritonserver" / "backends"
    import torch

    torch_lib = Path(torch.__file__).parent / "lib"
    (backends / "pytorch").mkdir(parents=True)
    for lib in torch_lib.glob("*.so*"):
        (backends / "pytorch" / lib.name).symlink_to(lib)
    serve.python_backend(bundled, backends / "python")
    preloaded = next(repo.glob("opforge-*-libaddsub_ops_pytorch.so"))
    # what the image itself provides: tritonserver on PATH, its own libraries (here the
    # wheel's vendored ones) and the libpython the Python-backend stub links
    env = {"PATH": f"{bundled.binary.parent}:/usr/bin:/bin", "HOME": str(root),
           "LD_LIBRARY_PATH": ":".join(filter(None, [str(bundled.libs),
                                                     serve._libpython_dir()]))}
    return {"repo": repo, "backends": backends, "env": env, "library": preloaded,
            "launch": repo / "opforge-launch.sh"}


def ports() -> list[str]:
    from opforge.deploy.serve import free_port

    return [f"--http-port={free_port()}", f"--grpc-port={free_port()}",
            f"--metrics-port={free_port()}"]


def test_the_op_library_needs_the_backend_folder(container):
    """The control: preloading the library with the image's environment alone fails the way
    it did before the launch set the library path (the library links libc10.so and carries
    no RPATH to a venv)."""
    result = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in container["env"].items()),
                             f"LD_PRELOAD={container['library']}", "tritonserver", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 127, result
    assert "libc10.so: cannot open shared object file" in result.stderr


def test_launch_script_in_the_container_layout(container, tmp_path):
    launch, env = container["launch"], container["env"]
    args = ports()
    http = int(args[0].split("=")[1])
    command = ["env", "-i", *(f"{k}={v}" for k, v in env.items()),
               f"TRITON_BACKEND_DIRECTORY={container['backends']}", "sh", str(launch),
               "--model-control-mode=explicit", "--load-model=preloaded",
               "--http-address=127.0.0.1", "--grpc-address=127.0.0.1",
               "--metrics-address=127.0.0.1", *args, "--allow-gpu-metrics=false",
               f"--backend-config=python,shm-region-prefix-name=opforge-layout-{os.getpid()}"]
    log = tmp_path / "tritonserver.log"  # a file: a pipe nobody reads could fill and block it
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        ready = wait_ready(server, http, "preloaded")
        assert ready, f"server not ready (exit {server.poll()}):\n{log.read_text()[-4000:]}"
        maps = Path(f"/proc/{server.pid}/maps").read_text()
        assert str(container["library"]) in maps  # preloaded into tritonserver itself
        assert "libc10.so" in maps
        body = {"inputs": [{"name": n, "shape": [3], "datatype": "FP32", "data": d}
                           for n, d in (("a", [1.0, 2.0, 3.0]), ("b", [0.5, 0.5, 0.5]))]}
        request = urllib.request.Request(f"http://127.0.0.1:{http}/v2/models/preloaded/infer",
                                         json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        outputs = {o["name"]: o["data"] for o in
                   json.loads(urllib.request.urlopen(request, timeout=30).read())["outputs"]}
        assert outputs == {"sum": [2.0, 3.0, 4.0], "diff": [0.0, 1.0, 2.0]}  # alpha=2
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_launch_script_names_a_missing_backend_folder(container, tmp_path):
    result = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in container["env"].items()),
                             f"TRITON_BACKEND_DIRECTORY={tmp_path}", "sh",
                             str(container["launch"])], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert f"{tmp_path}/pytorch does not exist" in result.stderr
    assert "TRITON_BACKEND_DIRECTORY" in result.stderr


def wait_ready(server: subprocess.Popen, port: int, model: str, timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{model}/ready",
                                        timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False
