"""All human-facing output: colour, timed steps, progress lines.

Human output goes to stderr so that `--json` can own stdout. Colour is decided once, here,
honouring NO_COLOR and FORCE_COLOR (https://no-color.org, https://force-color.org).

On a CI system the same output speaks its log format: on GitHub Actions (GITHUB_ACTIONS=true)
every step is a collapsible `::group::`, and errors and warnings are `::error` / `::warning`
workflow commands, which the job's summary shows as annotations (the runner reads them from
stderr as from stdout); on GitLab CI (GITLAB_CI=true) every step is a collapsed section.
OPFORGE_CI=github|gitlab|none overrides the detection.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys
import threading
import time
from collections.abc import Iterator

from opforge.core import settings

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


def ci_system() -> str | None:
    """"github", "gitlab" or None: whose log format the output follows."""
    forced = settings.read().ci
    if forced:  # github | gitlab; anything else (none) means plain output
        return forced if forced in ("github", "gitlab") else None
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if os.environ.get("GITLAB_CI") == "true":
        return "gitlab"
    return None


def _github_escape(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped as the runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation(kind: str, message: str, details: list[str] | None = None) -> str | None:
    """The CI system's form of an error or warning line, or None outside CI."""
    if ci_system() != "github":
        return None
    text = message + "".join("\n  " + d for d in details or [])
    return f"::{kind} title=opforge::{_github_escape(text)}"


_section_ids = itertools.count(1)


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
    _emit(annotation("warning", message) or style("warning: ", "yellow", "bold") + message)


def error(message: str, details: list[str] | None = None) -> None:
    """An error line; `details` follow it (indented), and on GitHub Actions the annotation
    carries them too."""
    ci = annotation("error", message, details)
    if ci is not None:  # one annotation, its details within
        _emit(ci)
        return
    _emit(style("error: ", "red", "bold") + message)
    for line in details or []:
        detail(line)


def detail(message: str) -> None:
    if not _quiet:
        _emit("  " + message)


def progress(label: str, message: str) -> None:
    """One line of progress from a long-running step (a compiler line, a test vector)."""
    if not _quiet:
        _emit(f"  {style(label, 'cyan')} {message}")


def _open_section(title: str):
    """Start a collapsible section of the CI log; returns what closes it (None outside CI)."""
    ci = ci_system()
    if ci == "github":
        info(f"::group::{title}")
        return lambda: info("::endgroup::")
    if ci == "gitlab":
        name = f"opforge_{next(_section_ids)}_" + re.sub(r"[^a-z0-9_]+", "_", title.lower())[:40]
        info(f"\033[0Ksection_start:{int(time.time())}:{name}[collapsed=true]\r\033[0K"
             + style(title, "bold"))
        return lambda: info(f"\033[0Ksection_end:{int(time.time())}:{name}\r\033[0K")
    return None


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """A named, timed phase: prints its start, then its duration or that it failed. On CI
    its lines are a collapsible section; its verdict is printed after the section closes,
    so a failure stays visible."""
    close = _open_section(title)
    if close is None:
        info(style("==> ", "blue", "bold") + style(title, "bold"))
        close = lambda: None  # noqa: E731
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        close()
        info(style(f"    {title}: failed after {time.perf_counter() - start:.1f}s", "red"))
        raise
    close()
    info(style(f"    {title}: done in {time.perf_counter() - start:.1f}s", "dim"))
