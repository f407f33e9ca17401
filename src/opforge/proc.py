"""The one subprocess wrapper, and the search for the programs opforge runs.

Every external command goes through `run`: it logs the exact command, applies the
environment explicitly, and either captures output or streams it line by line to a callback.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import log
from .errors import ToolchainError


@dataclass(frozen=True)
class Result:
    args: list[str]
    returncode: int
    output: str


def format_command(args: Sequence[str | os.PathLike]) -> str:
    return shlex.join(str(a) for a in args)


def run(args: Sequence[str | os.PathLike], *, cwd: Path | None = None,
        env: Mapping[str, str] | None = None, on_line: Callable[[str], None] | None = None,
        timeout: float | None = None, echo: bool = True) -> Result:
    """Run a command, stdout and stderr merged; never raises on a non-zero exit.

    `env` entries are added to (not substituted for) the current environment.
    With `on_line`, each output line is handed over as it arrives (for progress).
    """
    argv = [str(a) for a in args]
    if echo:
        log.detail(log.style("$ " + format_command(argv), "dim"))
    full_env = {**os.environ, **env} if env else None
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                errors="replace")
    except FileNotFoundError as exc:
        raise ToolchainError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise ToolchainError(f"{argv[0]} did not finish within {timeout:.0f}s: "
                             f"{format_command(argv)}") from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Result(argv, returncode, "".join(lines))


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


def find_program(name: str, *, env_var: str, module: str | None = None) -> Path:
    """Find a program: environment override, then the bundled wheel, then PATH.

    Each rejected candidate is remembered so the error says where we looked.
    """
    tried: list[str] = []
    override = os.environ.get(env_var)
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        tried.append(f"${env_var}={override} (not an executable file)")
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
