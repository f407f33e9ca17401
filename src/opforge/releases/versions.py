"""The version policy: when an installed framework (or nvcc, or an SDK's headers) matches a
release's pin."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def version_matches(installed: str, pin: str) -> bool:
    """An installed framework matches a release's pin when
      - its release numbers start with the pin's (pin 2.15 matches 2.15.1; pin 2.5.0 does not
        match 2.5.1),
      - its pre-release, post and dev segments equal the pin's (2.5.0a0 is not 2.5.0), and
      - where the pin has a local label (the NGC build hash, 2.5.0a0+b465a5843b), the installed
        local label starts with it (NGC containers report 2.5.0a0+b465a5843b.nv24.09).
    Anything else is a mismatch: opforge refuses to build rather than produce a library that
    fails in Triton with `undefined symbol`."""
    try:
        have, want = Version(installed), Version(pin)
    except InvalidVersion:
        return installed == pin
    if have.release[:len(want.release)] != want.release:
        return False
    if (have.pre, have.post, have.dev) != (want.pre, want.post, want.dev):
        return False
    if want.local:
        want_parts = want.local.split(".")
        return (have.local or "").split(".")[:len(want_parts)] == want_parts
    return True


def version_not_newer(built: str, pin: str) -> bool:
    """`built` no newer than `pin` by major.minor: headers against the release's runtime for
    libraries that negotiate the API at run time (the ORT API version is the minor), nvcc
    against the release's CUDA."""
    try:
        return Version(built).release[:2] <= Version(pin).release[:2]
    except InvalidVersion:
        return False
