"""`opforge doctor`: what this machine can build, and for which releases."""

from __future__ import annotations

import sys

from opforge import frameworks, releases
from opforge.build import cmake
from opforge.toolchain import cuda, sdk
from opforge.core.errors import OpforgeError


def report(matrix: dict[str, releases.Release]) -> dict:
    out: dict = {"python": sys.executable, "frameworks": {}, "sdks": {}, "tools": {},
                 "buildable": {}}
    toolchains: dict[str, frameworks.Toolchain] = {}
    for name, fw in frameworks.registry().items():
        entry: dict = {"installed": None}
        dist = frameworks.installed_distribution(fw)
        if dist is not None:
            entry["installed"] = {"distribution": dist.metadata["Name"], "version": dist.version}
        try:
            tc = toolchains[name] = fw.detect()
            entry["toolchain"] = {"version": tc.version, "location": tc.location,
                                  "cxx_standard": tc.cxx_standard, "cxx11_abi": tc.cxx11_abi}
            entry["can_build"] = True
        except OpforgeError as exc:
            entry["can_build"] = False
            entry["why_not"] = exc.message
        out["frameworks"][name] = entry
        if entry["can_build"]:
            fit = []
            for release in matrix.values():
                try:
                    fw.check_release(release)
                    # the probed toolchain: an NGC container's label may be in its extra
                    frameworks.check_version(fw, toolchains[name], release)
                except OpforgeError:
                    continue
                fit.append(release.id)
            out["buildable"][name] = ["local"] + fit
    for name, fw in frameworks.registry().items():
        found = fw.find_sdk()
        if found is not None:
            out["sdks"][name] = (found.to_json() if isinstance(found, sdk.SdkLocation)
                                 else {"missing": sdk.missing_message(found, None)})
    try:
        tools = cmake.find_build_tools()
        out["tools"] = tools.to_json()
    except OpforgeError as exc:
        out["tools"] = {"error": exc.message}
    try:
        found_nvcc = cuda.find_nvcc()
        out["cuda"] = {**found_nvcc.to_json(), "can_build": True}
    except OpforgeError as exc:
        out["cuda"] = {"can_build": False, "why_not": exc.message}
    for name, tc in toolchains.items():
        support = frameworks.get(name).cuda_support(tc)
        out["frameworks"][name]["cuda"] = {
            "can_build": not support.problem and out["cuda"]["can_build"],
            "why_not": support.problem or out["cuda"].get("why_not", "")}
    return out


def print_report(data: dict) -> None:
    from opforge.core import log, tables

    def section(title: str, rows: list[list[str]], widths=(12,)) -> None:
        print(log.style(title, "bold"))
        for line in tables.lines(rows, widths, gap=" ", indent="  "):
            print(line)

    rows = []
    for name, fw in data["frameworks"].items():
        have = fw["installed"]["version"] if fw["installed"] else "not installed"
        if fw["can_build"]:
            tc = fw["toolchain"]
            state = log.style("can build", "green") + (
                f" (against {tc['version']}, C++{tc['cxx_standard']}, "
                f"_GLIBCXX_USE_CXX11_ABI={tc['cxx11_abi']})")
        else:
            state = log.style("cannot build", "yellow") + f": {fw['why_not']}"
        rows.append([name, have, state])
    section("frameworks", rows, (12, 14))
    rows = []
    for name, entry in data["sdks"].items():
        if "missing" in entry:
            rows.append([name, f"{log.style('missing', 'yellow')}: {entry['missing']}"])
        else:
            api = f", C API {entry['api_version']}" if entry["api_version"] else ""
            rows.append([name, f"{entry['version']} at {entry['root']} (found by "
                               f"{entry['found_by']}{api})"])
    section("SDKs", rows)
    tools = data["tools"]
    rows = [[key, f"{tools[key]}  {tools.get(f'{key}_version', '')}"]
            for key in ("cmake", "ninja", "compiler") if key in tools]
    section("tools", rows)
    if "error" in tools:
        print(f"  {log.style(tools['error'], 'red')}")
    nvcc = data["cuda"]
    section_rows = [["nvcc", (f"{nvcc['nvcc']}  {nvcc['version']} (SASS "
                              f"{', '.join(f'sm_{c}' for c in nvcc['codes'])})"
                              if nvcc["can_build"] else log.style(nvcc["why_not"], "yellow"))]]
    for line in tables.lines(section_rows, (12,), gap=" ", indent="  "):
        print(line)
    rows = [[name, log.style("can build", "green") if fw["cuda"]["can_build"] else
             log.style("cannot build", "yellow") + f": {fw['cuda']['why_not']}"]
            for name, fw in data["frameworks"].items() if "cuda" in fw]
    section("CUDA ops (devices = [\"cuda\"])", rows)
    section("buildable here (framework: releases whose pin the installed version satisfies)",
            [[name, ", ".join(ids)] for name, ids in data["buildable"].items()])
