"""The one subprocess wrapper, and the search for the programs opforge runs.

Every external command goes through `run`: it logs the exact command, applies the
environment explicitly, and either captures output or streams it line by line to a callback.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from opforge.core import log, settings
from opforge.core.errors import ToolchainError


@dataclass(frozen=True)
class Result:
    args: list[str]
    returncode: int
    output: str


def format_command(args: Sequence[str | os.PathLike]) -> str:
    return shlex.join(str(a) for a in args)


_TAIL_LINES = 15  # of a command's output, in the error when it timed out
# The children running now, each the leader of its own process group (a session of its
# own), so that an interrupt of opforge can reach them: a terminal's Ctrl-C does not.
_running: set[int] = set()
_running_lock = threading.Lock()
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _registry() -> Iterator[set[int]]:
    """The set of running children, locked, with SIGINT and SIGTERM held back meanwhile on
    this thread: their handler (on the main thread) takes the same lock to hand the signal
    on, and would wait for ever on a lock its own thread holds. A held-back signal arrives
    as the block ends, when the child it must reach is registered."""
    blocked = threading.current_thread() is threading.main_thread()
    if blocked:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        with _running_lock:
            yield _running
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class TimedOut(ToolchainError):
    """A command ran past its timeout; its process group was killed. `output` is what it
    printed until then (its last lines are the error's details)."""

    def __init__(self, message: str, output: str) -> None:
        tail = [ln for ln in output.splitlines() if ln.strip()][-_TAIL_LINES:]
        super().__init__(message, details=(["its last output:", *tail] if tail else
                                           ["it printed nothing"]))
        self.output = output


def run(args: Sequence[str | os.PathLike], *, cwd: Path | None = None,
        env: Mapping[str, str] | None = None, on_line: Callable[[str], None] | None = None,
        timeout: float | None = None, echo: bool = True) -> Result:
    """Run a command, stdout and stderr merged; never raises on a non-zero exit.

    `env` entries are added to (not substituted for) the current environment.
    With `on_line`, each output line is handed over as it arrives (for progress).
    `timeout` bounds the whole run, reading its output included: past it, the command's
    whole process group (its own children too) is killed and `TimedOut` raised.
    """
    argv = [str(a) for a in args]
    if echo:
        log.detail(log.style("$ " + format_command(argv), "dim"))
    full_env = {**os.environ, **env} if env else None
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with _registry() as running:  # started and registered at once
            # its own session: its children can be killed with it, as one group
            child = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
            running.add(child.pid)
    except FileNotFoundError as exc:
        raise ToolchainError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
    lines: list[str] = []
    try:
        for line in _read_lines(child, deadline):
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))
        returncode = child.wait(timeout=_left(deadline))
    except subprocess.TimeoutExpired:
        _kill_group(child)
        raise TimedOut(f"{argv[0]} did not finish within {timeout:g}s and was killed, with "
                       f"its child processes: {format_command(argv)}", "".join(lines)) from None
    except BaseException:
        _kill_group(child)
        raise
    finally:
        assert child.stdout is not None
        child.stdout.close()
        with _registry() as running:
            running.discard(child.pid)
    return Result(argv, returncode, "".join(lines))


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _read_lines(child: subprocess.Popen, deadline: float | None) -> Iterator[str]:
    """The child's output lines as they arrive (universal newlines, undecodable bytes
    replaced); subprocess.TimeoutExpired when the deadline passes first."""
    assert child.stdout is not None
    fd = child.stdout.fileno()
    decoder = io.IncrementalNewlineDecoder(
        codecs.getincrementaldecoder("utf-8")(errors="replace"), translate=True)
    pending = ""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = _left(deadline)  # checked first: a child that never stops printing
            if left == 0.0 or not selector.select(left):
                raise subprocess.TimeoutExpired(child.args, 0)
            chunk = os.read(fd, 65536)
            pending += decoder.decode(chunk, final=not chunk)
            *complete, pending = pending.split("\n")
            yield from (line + "\n" for line in complete)
            if not chunk:
                if pending:
                    yield pending
                return


def _kill_group(child: subprocess.Popen) -> None:
    """Kill the child's process group (it leads it: start_new_session), then reap it."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:  # the whole group is gone already
        pass
    child.wait()


def interrupt_children(signum: int = signal.SIGINT) -> None:
    """Hand a signal on to every running child's process group, as a terminal's Ctrl-C (or
    a runner's SIGTERM to the group) would if they shared opforge's (called from the signal
    handler of the command line)."""
    with _running_lock:  # the handler's own thread holds it never: see _registry
        groups = list(_running)
    for group in groups:
        try:
            os.killpg(group, signum)
        except ProcessLookupError:
            pass


def output_lines(args: Sequence[str | os.PathLike]) -> list[str]:
    """The non-empty output lines of a quick query (`tool --version`); [] when it fails."""
    try:
        result = run(args, echo=False, timeout=30)
    except ToolchainError:
        return []
    return [ln for ln in result.output.splitlines() if ln.strip()] if result.returncode == 0 else []


def _bundled_script(name: str) -> Path | None:
    """The copy a PyPI wheel (cmake, ninja) installed next to this interpreter."""
    scripts = Path(sysconfig.get_path("scripts"))
    candidate = scripts / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    exe_dir = Path(sys.executable).parent / name
    if exe_dir.is_file() and os.access(exe_dir, os.X_OK):
        return exe_dir
    return None


def locate(name: str) -> Path | None:
    """A program installed next to this interpreter (by a PyPI wheel), else on PATH."""
    bundled = _bundled_script(name)
    if bundled is not None:
        return bundled
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


def find_program(name: str, *, setting: str, module: str | None = None) -> Path:
    """Find a program: the setting that names it (its environment variable), then the
    bundled wheel, then PATH.

    Each rejected candidate is remembered so the error says where we looked.
    """
    tried: list[str] = []
    env_var = settings.env_var(setting)
    path = getattr(settings.read(), setting)
    if path is not None:
        if path.is_file() and os.access(path, os.X_OK):
            return path
        tried.append(f"${env_var}={path} (not an executable file)")
    if module is not None:
        try:
            mod = __import__(module)
            bin_dir = Path(getattr(mod, "BIN_DIR", ""))
            if (bin_dir / name).is_file():
                return bin_dir / name
            tried.append(f"the {module} wheel ({bin_dir} has no {name})")
        except ImportError:
            tried.append(f"the {module} wheel (not installed)")
    found = locate(name)
    if found is not None:
        return found
    tried.append("PATH")
    raise ToolchainError(
        f"{name} not found; looked at: {', '.join(tried)}. "
        f"Install it with `pip install {module or name}` or set {env_var}.")
