"""Reading TOML on every Python opforge supports: the standard library's tomllib from 3.11,
tomli (the same parser: tomllib was taken from it) on 3.10, where NGC containers of releases
23.05 to 24.10 run."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from tomllib import TOMLDecodeError, loads
else:
    from tomli import TOMLDecodeError, loads

__all__ = ["TOMLDecodeError", "loads"]
