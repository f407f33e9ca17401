"""`opforge serve`: a real tritonserver on loopback with the repository's op libraries loaded,
supervised until Ctrl-C or SIGTERM.

Two ways to run it:
- native: a tritonserver with its framework backends is on PATH (inside an NGC container);
  it runs the repository's `opforge-launch.sh` (written by `opforge package`) as is.
- bundled: the tritonserver of the nvidia-pytriton wheel (Triton 2.51, Python backend only).
  A generated repository in a private work folder puts a Python-backend model
  (`serve_model.py`) in front of every model; it runs the model in its own framework with the
  op libraries loaded, one stub process per model instance, through the runner file of the
  framework's adapter (`serve_runner`, copied beside it). Frameworks without one need the
  native server.

Triton does not restart a Python-backend stub that died (an op that aborted) and keeps
reporting the model ready; the supervisor watches the stubs and reloads such a model.
On exit nothing is left: the server runs in its own process group, its shared-memory
regions carry a prefix of ours, and the work folder is removed.

The server is the one child opforge does not start through `proc.run`: it lives until
Ctrl-C, its log is read by a thread, and it is stopped by signal.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from opforge.core import extras, log, proc
from opforge.deploy import repository
from opforge.core.errors import ServerError, ToolchainError, UserError

STUB = "triton_python_backend_stub"
RUNNER = "opforge_runner.py"  # the framework's runner beside the wrapper (serve_model.RUNNER)
# seconds a request to the server may take: readiness while starting, a model's readiness
# while supervising, a model's reload
_READY_TIMEOUT_S, _PROBE_TIMEOUT_S, _LOAD_TIMEOUT_S = 1.0, 2.0, 60.0
_POLL_S = 0.2
_LOADED = re.compile(r"successfully loaded '([^']+)'")
_LOAD_FAILED = re.compile(r"failed to load '([^']+)'.*?: (.*)$")


# --- finding a tritonserver ------------------------------------------------------------


@dataclass(frozen=True)
class Bundled:
    """The tritonserver of the nvidia-pytriton wheel and what it needs to run here."""

    root: Path  # .../pytriton/tritonserver
    libs: Path  # the wheel's vendored libraries

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    def stub(self) -> Path:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        stub = self.root / "python_backend_stubs" / version / STUB
        if not stub.is_file():
            have = sorted(p.name for p in (self.root / "python_backend_stubs").iterdir())
            raise ToolchainError(f"the nvidia-pytriton wheel has Python-backend stubs for "
                                 f"Python {', '.join(have)}, not {version}; run opforge with "
                                 f"one of those")
        return stub


def find_bundled() -> Bundled | None:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    for libs in (root.parents[1] / "nvidia_pytriton.libs", root / "external_libs"):
        if (root / "bin" / "tritonserver").is_file() and libs.is_dir():
            return Bundled(root, libs)
    return None


def find_native() -> tuple[Path, Path] | None:
    """A tritonserver on PATH that has framework backends beside it (an NGC container), and
    that backend directory."""
    binary = shutil.which("tritonserver")
    if binary is None:
        return None
    for backends in (Path(binary).resolve().parents[1] / "backends",
                     Path("/opt/tritonserver/backends")):
        if backends.is_dir() and any(p.name != "python" for p in backends.iterdir()):
            return Path(binary), backends
    return None


def _libpython_dir() -> str | None:
    """The folder of the libpython the stub must link (a pyenv Python keeps it off the
    loader's path)."""
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and soname and (Path(libdir) / soname).exists():
        return libdir
    return None


def _check_libpython() -> None:
    if _libpython_dir():
        return
    soname = f"libpython{sys.version_info.major}.{sys.version_info.minor}.so.1.0"
    if not any(soname in line for line in proc.output_lines(["/sbin/ldconfig", "-p"])):
        raise ToolchainError(f"the Python-backend stub links {soname}, which is not on this "
                             f"machine (this Python was built without --enable-shared): "
                             f"install it (apt install libpython{sys.version_info.major}."
                             f"{sys.version_info.minor}) or run opforge from a Python that has it")


# --- ports ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_port(flag: str, port: int) -> int:
    if port == 0:
        return free_port()
    if not 0 < port < 65536:
        raise UserError(f"{flag} {port}: give a port between 1 and 65535 (0: any free port)")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UserError(f"{flag} {port}: 127.0.0.1:{port} is taken ({exc.strerror}); pick "
                            f"another port, or 0 for any free one") from None
    return port


# --- the generated repository for the bundled server ------------------------------------


@dataclass
class Served:
    name: str
    backend: str  # the model's own backend
    versions: list[str]
    libraries: list[str] = field(default_factory=list)


def _index_libraries(repo: Path) -> dict[str, list[str]]:
    """model -> the op libraries `opforge package` matched to it (paths in this folder)."""
    index = repository.read_index(repo)
    found: dict[str, list[str]] = {}
    for entry in index.get("packages", {}).values():
        for name, model in entry.get("models", {}).items():
            found.setdefault(name, []).extend(str(repo / lib) for lib in model["libraries"])
    for name, libs in found.items():
        for lib in libs:
            if not Path(lib).is_file():
                raise UserError(f"{repo / repository.INDEX}: model {name} needs {lib}, which "
                                f"is missing; run `opforge package` again")
    return found


def _wrapper_config(config, served: Served):
    """The model's config, served by the Python backend on CPU; everything else kept."""
    pb = repository.model_config_pb2()
    wrapped = pb.ModelConfig()
    wrapped.CopyFrom(config)
    wrapped.platform, wrapped.backend = "", "python"
    wrapped.default_model_filename = ""
    wrapped.ClearField("model_operations")
    wrapped.ClearField("optimization")
    for group in wrapped.instance_group:
        if group.kind in (pb.ModelInstanceGroup.KIND_GPU, pb.ModelInstanceGroup.KIND_AUTO):
            group.kind = pb.ModelInstanceGroup.KIND_CPU
        del group.gpus[:]
    wrapped.parameters["opforge.framework"].string_value = served.backend
    env = execution_env()
    if env:
        wrapped.parameters["EXECUTION_ENV_PATH"].string_value = env
    return wrapped


def execution_env() -> str | None:
    """The virtual environment the stubs must run in (the one running opforge, which holds
    the frameworks). The stub's interpreter is isolated (PYTHONPATH is ignored); the Python
    backend activates an EXECUTION_ENV_PATH folder before starting it. None outside a venv:
    the stub's own interpreter is then this one."""
    if sys.prefix != sys.base_prefix and (Path(sys.prefix) / "bin" / "activate").is_file():
        return sys.prefix
    return None


def generate(repo: Path, out: Path, bundled: Bundled) -> list[Served]:
    """Write the Python-backend repository under `out`/models and the backend folder (the
    wheel's Python backend and the stub for this Python) under `out`/backends; return what
    will be served."""
    stub = bundled.stub()
    libraries = _index_libraries(repo)
    folders = sorted(p for p in repo.iterdir() if p.is_dir())
    if not folders:
        raise UserError(f"{repo}: no model folders in it; give a Triton model repository")
    unsupported, served = [], []
    models_dir = out / "models"
    models_dir.mkdir(parents=True)
    for folder in folders:
        config_path = folder / "config.pbtxt"
        config = repository.read_config(config_path) if config_path.is_file() else None
        backend = repository.backend_of(folder, config)
        if backend == "python":
            os.symlink(folder, models_dir / folder.name)
            served.append(Served(folder.name, backend, []))
            continue
        fw = repository.framework_of(backend)
        if fw is None or fw.serve_runner is None:
            unsupported.append(f"model {folder.name}: {backend} models need Triton's own "
                               f"{backend} backend")
            continue
        if config is None:
            unsupported.append(f"model {folder.name}: no config.pbtxt (the bundled server "
                               f"cannot derive inputs and outputs from the model file); "
                               f"write one")
            continue
        model = repository.Model(folder.name, folder, backend, config)
        files = {f.parent.name: f for f in repository.model_files(model)}
        if not files:
            unsupported.append(f"model {folder.name}: no model file in its version folders")
            continue
        item = Served(folder.name, backend, sorted(files, key=int),
                      libraries.get(folder.name, []))
        target = models_dir / folder.name
        for version, model_file in files.items():
            (target / version).mkdir(parents=True)
            shutil.copyfile(Path(__file__).with_name("serve_model.py"), target / version /
                            "model.py")
            shutil.copyfile(fw.serve_runner, target / version / RUNNER)
            (target / version / "opforge-serve.json").write_text(json.dumps(
                {"framework": backend, "platform": config.platform,
                 "model_file": str(model_file.resolve()),
                 "libraries": item.libraries}, indent=2), "utf-8")
        (target / "config.pbtxt").write_text(
            repository.config_text(_wrapper_config(config, item)), "utf-8")
        served.append(item)
    if unsupported:
        raise UserError(f"the tritonserver bundled in nvidia-pytriton has only the Python "
                        f"backend, and cannot serve every model of {repo}", details=unsupported
                        + ["run `opforge serve` inside the release's container "
                           "(nvcr.io/nvidia/tritonserver:<release>-py3), where tritonserver "
                           "and its backends are on PATH"])
    python_backend(bundled, out / "backends" / "python", stub)
    return served


def python_backend(bundled: Bundled, folder: Path, stub: Path | None = None) -> None:
    """Lay out a Python-backend folder from the wheel's backend and the stub for this
    Python (the wheel's default stub is for another one)."""
    stub = stub or bundled.stub()
    folder.mkdir(parents=True)
    source = bundled.root / "backends" / "python"
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copyfile(source / name, folder / name)
    shutil.copyfile(stub, folder / STUB)
    os.chmod(folder / STUB, 0o755)


# --- the running server -----------------------------------------------------------------


@dataclass
class Options:
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    ready_timeout: float = 180.0
    exit_timeout: float = 5.0
    supervise: bool = True
    server: str = "auto"  # auto / bundled / native


class Server:
    """A started tritonserver: readiness, supervision, shutdown."""

    def __init__(self, repo: Path, options: Options) -> None:
        self.repo = repo.resolve()
        self.options = options
        self.mode = ""
        self.process: subprocess.Popen | None = None
        self.workdir: Path | None = None
        self.shm_prefix = f"opforge-{os.getpid()}-{os.urandom(3).hex()}-"
        self.served: list[Served] = []
        self.events: list[dict] = []
        self.log_tail: deque[str] = deque(maxlen=400)
        self.loaded: list[str] = []
        self.failed: dict[str, str] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.on_event = None  # callable(dict) for supervision events
        self._http = None  # tritonclient.http, once start() found it

    # -- start --
    def command(self) -> tuple[list[str], dict[str, str]]:
        o = self.options
        common = ["--http-address=127.0.0.1", f"--http-port={o.http_port}",
                  "--grpc-address=127.0.0.1", f"--grpc-port={o.grpc_port}",
                  "--metrics-address=127.0.0.1", f"--metrics-port={o.metrics_port}",
                  "--allow-gpu-metrics=false", "--model-control-mode=explicit",
                  "--load-model=*", "--strict-readiness=true", "--log-info=true",
                  f"--exit-timeout-secs={max(1, round(o.exit_timeout))}",
                  f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}"]
        native = find_native() if o.server in ("auto", "native") else None
        if o.server == "native" and native is None:
            raise ToolchainError("--server native: no tritonserver with framework backends "
                                 "on PATH (run inside nvcr.io/nvidia/tritonserver:<release>-py3)")
        if native is not None:
            self.mode = "native"
            launch = self.repo / repository.LAUNCH
            if not launch.is_file():
                raise UserError(f"{self.repo}: no {repository.LAUNCH}; run `opforge package "
                                f"RECIPE --model-repository {self.repo}` first")
            index = repository.read_index(self.repo)
            if index.get("mount") and Path(index["mount"]).resolve() != self.repo:
                raise UserError(f"{self.repo} was packaged for {index['mount']} (opforge "
                                f"package --mount); package it again for {self.repo} to serve "
                                f"it here")
            binary, backends = native
            return ["sh", str(launch), *common], {"TRITONSERVER": str(binary),
                                                  "TRITON_BACKEND_DIRECTORY": str(backends)}
        bundled = find_bundled()
        if bundled is None:
            raise ToolchainError("no tritonserver: neither one with its backends on PATH nor "
                                 "the one bundled in nvidia-pytriton; pip install "
                                 "'opforge[serve]', or run inside nvcr.io/nvidia/tritonserver")
        self.mode = "bundled"
        _check_libpython()
        self.workdir = Path(tempfile.mkdtemp(prefix="opforge-serve-"))
        self.served = generate(self.repo, self.workdir, bundled)
        paths = [str(bundled.libs), _libpython_dir() or "", os.environ.get("LD_LIBRARY_PATH", "")]
        env = {"LD_LIBRARY_PATH": ":".join(p for p in paths if p),
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        return [str(bundled.binary), f"--model-repository={self.workdir / 'models'}",
                f"--backend-directory={self.workdir / 'backends'}", *common], env

    def start(self) -> None:
        o = self.options
        o.http_port = _check_port("--http-port", o.http_port)
        o.grpc_port = _check_port("--grpc-port", o.grpc_port)
        o.metrics_port = _check_port("--metrics-port", o.metrics_port)
        if len({o.http_port, o.grpc_port, o.metrics_port}) < 3:
            raise UserError("--http-port, --grpc-port and --metrics-port must differ")
        if not self.repo.is_dir():
            raise UserError(f"{self.repo}: not a folder; give a Triton model repository "
                            f"(opforge package writes one)")
        try:
            argv, env = self.command()
            # readiness through tritonclient: with a native tritonserver (an NGC image) the
            # verify extra has it; the bundled server comes with the serve extra
            self._http = extras.need("tritonclient.http", "opforge serve",
                                     "serve" if self.mode == "bundled" else "verify")
            log.detail(log.style("$ " + " ".join(argv), "dim"))
            self.process = subprocess.Popen(
                argv, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                start_new_session=True)
        except BaseException:
            self.cleanup()
            raise
        reader = threading.Thread(target=self._read_log, daemon=True)
        reader.start()
        self._threads.append(reader)

    def _read_log(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.log_tail.append(line)
            loaded = _LOADED.search(line)
            if loaded:
                self.loaded.append(loaded.group(1))
            failed = _LOAD_FAILED.search(line)
            if failed:  # the log escapes newlines; the stub's traceback follows "At:"
                parts = [p.strip() for p in failed.group(2).rstrip('"').split("\\n")]
                if "At:" in parts:
                    parts = parts[:parts.index("At:")]
                self.failed[failed.group(1)] = " ".join(p for p in parts if p)[:500]

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.options.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.options.grpc_port}"

    def client(self, timeout: float):
        """A tritonclient HTTP client of the server whose requests give up after `timeout`
        seconds; one per thread that uses it (its connections are gevent's)."""
        return self._http.InferenceServerClient(self.http_url, connection_timeout=timeout,
                                                network_timeout=timeout)

    @staticmethod
    def _ready(client, model: str = "") -> bool:
        """Whether the server (or `model`) is ready; not while it does not answer."""
        try:
            return client.is_model_ready(model) if model else client.is_server_ready()
        except OSError:  # refused while it starts, or a timeout
            return False

    def _load(self, client, model: str) -> tuple[int, str]:
        """Load `model` again: the HTTP status (200, or 0 when the server did not answer)
        and the server's error message."""
        try:
            client.load_model(model)
        except self._http.InferenceServerException as exc:
            return int(exc.status() or 0), exc.message()
        except OSError as exc:
            return 0, str(exc)
        return 200, ""

    def _exited(self, what: str) -> ServerError:
        tail = [ln for ln in self.log_tail if ln.strip()][-15:]
        if self.failed:
            return ServerError(f"tritonserver {what} (exit status {self.process.returncode}): "
                               f"{len(self.failed)} model(s) failed to load", details=[
                                   f"{name}: {why}" for name, why in self.failed.items()])
        return ServerError(f"tritonserver {what} (exit status {self.process.returncode}); "
                           f"its last lines follow", details=tail)

    def wait_ready(self, stopping: threading.Event | None = None) -> float | None:
        """Poll readiness, showing which models loaded; the seconds it took, or None when
        `stopping` was set first."""
        assert self.process is not None
        start = time.monotonic()
        total = len(self.served) or None
        shown = 0
        client = self.client(_READY_TIMEOUT_S)
        try:
            while not (stopping is not None and stopping.is_set()):
                if self.process.poll() is not None:
                    raise self._exited("exited before it was ready")
                while shown < len(self.loaded):
                    shown += 1
                    log.progress("loaded", f"{self.loaded[shown - 1]} ({shown}"
                                           f"{f'/{total}' if total else ''}, "
                                           f"{time.monotonic() - start:.1f}s)")
                if self._ready(client):
                    return time.monotonic() - start
                if time.monotonic() - start > self.options.ready_timeout:
                    raise ServerError(f"tritonserver was not ready within "
                                      f"{self.options.ready_timeout:.0f}s (--ready-timeout)",
                                      details=[ln for ln in self.log_tail if ln.strip()][-15:])
                time.sleep(0.1)
            return None
        finally:
            client.close()

    # -- supervision --
    def stubs(self) -> dict[str, set[int]]:
        """model -> pids of the Python-backend stubs the server runs for it now."""
        assert self.process is not None
        found: dict[str, set[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read().decode("utf-8", "replace")
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.process.pid:
                    continue
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    argv = f.read().decode("utf-8", "replace").split("\0")
            except (OSError, IndexError, ValueError):
                continue
            if not argv or not argv[0].endswith(STUB) or len(argv) < 2:
                continue
            model = Path(argv[1]).parents[1].name  # .../<model>/<version>/model.py
            found.setdefault(model, set()).add(int(entry.name))
        return found

    def _emit(self, event: dict) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def supervise(self) -> None:
        """Reload a model whose stub process died; runs until stop(). A model that is not
        ready (unloaded through the API) is left alone."""
        probe, loader = self.client(_PROBE_TIMEOUT_S), self.client(_LOAD_TIMEOUT_S)
        try:
            known = self.stubs()
            while not self._stop.wait(_POLL_S):
                if self.process.poll() is not None:
                    return
                now = self.stubs()
                for model, pids in known.items():
                    gone = pids - now.get(model, set())
                    if not gone or not self._ready(probe, model):
                        continue
                    started = time.monotonic()
                    self._emit({"event": "stub-died", "model": model, "pids": sorted(gone)})
                    status, message = self._load(loader, model)
                    if status == 200:
                        self._emit({"event": "reloaded", "model": model,
                                    "seconds": round(time.monotonic() - started, 2)})
                    else:
                        self._emit({"event": "reload-failed", "model": model,
                                    "status": status, "message": message[:300]})
                    now = self.stubs()
                known = now
        finally:
            probe.close()
            loader.close()

    def run_supervisor(self) -> None:
        thread = threading.Thread(target=self.supervise, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- stop --
    def stop(self) -> None:
        """SIGINT (Triton unloads its models and exits), then SIGKILL to the whole group;
        then remove our shared-memory regions and the work folder."""
        self._stop.set()
        timeout = self.options.exit_timeout + 10  # its own unloading takes seconds too
        if self.process is not None and self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGINT)  # not the group: the stubs are
                # the server's to stop
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warn(f"tritonserver did not stop within {timeout:.0f}s; killing it")
            except ProcessLookupError:
                pass
        self.cleanup()

    def cleanup(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # stubs left behind, if any
            except ProcessLookupError:
                pass
            self.process.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        for shm in Path("/dev/shm").glob(f"{self.shm_prefix}*"):
            shm.unlink(missing_ok=True)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def summary(self, ready_s: float) -> dict:
        return {"mode": self.mode, "repository": str(self.repo),
                "http": self.http_url, "grpc": self.grpc_url,
                "metrics": f"127.0.0.1:{self.options.metrics_port}",
                "pid": self.process.pid if self.process else None,
                "ready_seconds": round(ready_s, 2),
                "work_folder": str(self.workdir) if self.workdir else None,
                "shm_prefix": self.shm_prefix,
                "models": {s.name: {"backend": s.backend, "versions": s.versions,
                                    "libraries": s.libraries} for s in self.served}}


def serve(repo: Path, options: Options, as_json: bool) -> int:
    """Start, wait until ready, supervise until SIGINT/SIGTERM, stop. Returns an exit code."""
    server = Server(repo, options)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_event(event: dict) -> None:
        if as_json:
            print(json.dumps(event), flush=True)
        if event["event"] == "stub-died":
            log.warn(f"model {event['model']}: its stub process died (pid "
                     f"{', '.join(map(str, event['pids']))}); reloading it")
        elif event["event"] == "reloaded":
            log.info(f"model {event['model']}: reloaded in {event['seconds']:.1f}s")
        else:
            log.error(f"model {event['model']}: reload failed ({event['status']}): "
                      f"{event['message']}")

    server.on_event = on_event
    try:
        with log.step(f"start tritonserver on {repo}"):
            server.start()
            log.detail(f"{server.mode} tritonserver"
                       + (f", work folder {server.workdir}" if server.workdir else ""))
            ready_s = server.wait_ready(stopping)
        if ready_s is None:
            return 130
        summary = server.summary(ready_s)
        if as_json:
            print(json.dumps({"event": "ready", **summary}), flush=True)
        log.info(log.style(f"ready in {ready_s:.1f}s: ", "green", "bold") +
                 f"HTTP {server.http_url}, gRPC {server.grpc_url}, metrics "
                 f"127.0.0.1:{options.metrics_port}; Ctrl-C stops it")
        if options.supervise:
            server.run_supervisor()
        while not stopping.wait(0.2):
            if server.process.poll() is not None:
                raise server._exited("stopped")
        log.info("stopping tritonserver")
        return 0
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if as_json:
            print(json.dumps({"event": "stopped", "reloads": sum(
                e["event"] == "reloaded" for e in server.events)}), flush=True)
