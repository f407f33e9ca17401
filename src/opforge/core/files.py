"""Writing files so that no reader ever sees half of one: a temporary file in the same
folder, renamed over the target (atomic on POSIX); a failure leaves the target as it was."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, text: str | None = None, source: Path | None = None,
                 mode: int = 0o644) -> None:
    """Write `text` (or copy `source`) to `path`; an existing file keeps its permissions,
    a new one gets `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if source is not None:
            shutil.copyfile(source, tmp)
        else:
            Path(tmp).write_text(text or "", "utf-8")
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_per_file(folder: Path, path: Path, compute: Callable[[], str]) -> str:
    """What `compute()` says of the file at `path`, kept in `folder` under a key of the path
    as given, the file it resolves to and that file's size and mtime: a changed file (or a
    link pointing elsewhere) is computed anew."""
    real = path.resolve()
    stat = real.stat()
    key = hashlib.sha256(f"{path}|{real}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    cached = folder / f"{key.hexdigest()[:24]}.txt"
    try:
        return cached.read_text("utf-8")
    except OSError:
        pass
    text = compute()
    write_atomic(cached, text)
    return text
