"""`opforge releases learn REPORTS...`: a releases file from the pins CI builds proved.

A build inside the NGC container of a release's upstream_container_version establishes the
framework pin the facts table lacks (frameworks.base.container_pin) and its `opforge build
--json` report records it per artifact ("pin": provenance "container label" and the
evidence). This turns such reports (the build.json of each `opforge matrix` job) into
[[release]] entries in the flat format --releases-file reads, each value with its evidence
as its source, so a team's CI fills its own table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from opforge.core.errors import UserError

LEARNED = "container label"  # the provenance of a pin a build proved itself


@dataclass(frozen=True)
class Learned:
    release: str
    key: str
    value: str
    source: str
    report: Path


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UserError(f"report {path} does not exist") from None
    except ValueError as exc:
        raise UserError(f"report {path} is not JSON ({exc}); give the --json output of "
                        f"`opforge build` (a matrix job's reports/build.json)") from None
    if not (isinstance(data, dict) and isinstance(data.get("release"), str)
            and isinstance(data.get("artifacts"), list)):
        raise UserError(f"report {path} is not an `opforge build --json` report (no release "
                        f"and artifacts); a matrix job writes one to reports/build.json")
    return data


def learned_in(path: Path) -> list[Learned]:
    """The pins a build report says its container proved."""
    data = _read(path)
    found = []
    for artifact in data["artifacts"]:
        pin = artifact.get("pin") or {}
        if pin.get("provenance") != LEARNED or not pin.get("key") or not pin.get("value"):
            continue
        evidence = "; ".join(pin.get("evidence", []))
        # the pin's key leads, so that the releases file attributes the source to it
        source = (f"{pin['key']} {pin['value']}: proven by `opforge build` in the NGC "
                  f"container ({evidence}); report {path}")
        found.append(Learned(data["release"], pin["key"], pin["value"], source, path))
    return found


def learn(paths: list[Path]) -> list[dict]:
    """The [[release]] entries of every pin the reports proved, one per release, in release
    order; two reports proving different values for one pin is an error naming both."""
    chosen: dict[tuple[str, str], Learned] = {}
    for path in paths:
        for item in learned_in(path):
            seen = chosen.setdefault((item.release, item.key), item)
            if seen.value != item.value:
                raise UserError(
                    f"{item.report} and {seen.report} disagree on the {item.key} pin of "
                    f"{item.release}: {item.value} against {seen.value}; a release has one "
                    f"container, so one of the jobs ran in another: check its image")
    entries: dict[str, dict] = {}
    for (release, key), item in sorted(chosen.items(), key=lambda kv: _order(kv[0][0])):
        entry = entries.setdefault(release, {"release": release, "sources": []})
        entry[key] = item.value
        entry["sources"].append(item.source)
    return list(entries.values())


def _order(release: str) -> tuple:
    parts = release.split(".")
    return tuple(int(p) if p.isdigit() else 10**6 for p in parts), release


def to_toml(entries: list[dict], paths: list[Path]) -> str:
    """The entries as a releases file (--releases-file, $OPFORGE_RELEASES_FILE)."""
    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a TOML basic string

    lines = ["# Pins proven by NGC containers, learned by `opforge releases learn` from:",
             *[f"#   {p}" for p in paths],
             "# A releases file: pass it with --releases-file (or $OPFORGE_RELEASES_FILE).", ""]
    for entry in entries:
        lines.append("[[release]]")
        lines += [f"{key} = {quoted(value)}" for key, value in entry.items()
                  if key != "sources"]
        lines.append("sources = [" + ", ".join(quoted(s) for s in entry["sources"]) + "]")
        lines.append("")
    return "\n".join(lines)
