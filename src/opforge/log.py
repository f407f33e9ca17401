"""All human-facing output: colour, timed steps, progress lines.

Human output goes to stderr so that `--json` can own stdout. Colour is decided once, here,
honouring NO_COLOR and FORCE_COLOR (https://no-color.org, https://force-color.org).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator

_lock = threading.Lock()
_quiet = False


def use_colour(stream=sys.stderr) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
           "cyan": "36"}


def style(text: str, *names: str) -> str:
    if not names or not use_colour():
        return text
    codes = ";".join(_STYLES[n] for n in names)
    return f"\033[{codes}m{text}\033[0m"


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def _emit(line: str) -> None:
    with _lock:
        print(line, file=sys.stderr, flush=True)


def info(message: str) -> None:
    if not _quiet:
        _emit(message)


def warn(message: str) -> None:
    _emit(style("warning: ", "yellow", "bold") + message)


def error(message: str) -> None:
    _emit(style("error: ", "red", "bold") + message)


def detail(message: str) -> None:
    if not _quiet:
        _emit("  " + message)


def progress(label: str, message: str) -> None:
    """One line of progress from a long-running step (a compiler line, a test vector)."""
    if not _quiet:
        _emit(f"  {style(label, 'cyan')} {message}")


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """A named, timed phase: prints its start, then its duration or that it failed."""
    info(style("==> ", "blue", "bold") + style(title, "bold"))
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        info(style(f"    {title}: failed after {time.perf_counter() - start:.1f}s", "red"))
        raise
    info(style(f"    {title}: done in {time.perf_counter() - start:.1f}s", "dim"))
