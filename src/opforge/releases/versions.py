"""The version policy: when an installed framework (or nvcc, or an SDK's headers) matches a
release's pin."""

from __future__ import annotations

import re

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


# NGC framework containers label their framework with the container's month, as a local
# version segment: 2.5.0a0+b465a5843b.nv24.09 (PyTorch), 2.16.1+nv24.9 (TensorFlow's
# distribution; PEP 440 normalizes 09 to 9)
_CONTAINER_LABEL = re.compile(r"(?P<sep>^|[.+])nv(?P<yy>\d{2})\.(?P<mm>\d{1,2})(?=$|[.+])")
_MONTH = re.compile(r"(\d{2})\.(\d{1,2})(?!\d)")


def month(text: str) -> str | None:
    """A container month as YY.MM from the start of `text`: '24.09' and '24.9' -> '24.09',
    '24.09-tf2' (an NGC TensorFlow container's NVIDIA_TENSORFLOW_VERSION) -> '24.09'; None
    when `text` does not start with one."""
    found = _MONTH.match(text.strip())
    return f"{found[1]}.{int(found[2]):02d}" if found and 1 <= int(found[2]) <= 12 else None


def container_label(version: str) -> str | None:
    """The NGC container month a framework version carries in its local label, as YY.MM
    ('2.5.0a0+b465a5843b.nv24.09' -> '24.09'); None when it carries none."""
    local = version.partition("+")[2]
    found = _CONTAINER_LABEL.search(local)
    return f"{found['yy']}.{int(found['mm']):02d}" if found else None


def without_container_label(version: str) -> str:
    """The version without the NGC month label, as a release pin spells it:
    '2.5.0a0+b465a5843b.nv24.09' -> '2.5.0a0+b465a5843b', '2.16.1+nv24.09' -> '2.16.1'."""
    public, plus, local = version.partition("+")
    if not plus:
        return version
    rest = _CONTAINER_LABEL.sub("", local).strip(".")
    return f"{public}+{rest}" if rest else public
