"""CI-aware logs: collapsible groups and error annotations on GitHub Actions, collapsed
sections on GitLab CI, NO_COLOR / FORCE_COLOR; checked in-process and through the CLI."""

from __future__ import annotations

import pytest

from conftest import opforge
from opforge.core import log

CI_VARS = ("GITHUB_ACTIONS", "GITLAB_CI", "OPFORGE_CI", "NO_COLOR", "FORCE_COLOR")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)
    log.set_quiet(False)


def test_github_steps_are_groups_and_the_verdict_follows_the_group(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with log.step("compile"):
        log.detail("inside")
    with pytest.raises(RuntimeError), log.step("publish"):
        raise RuntimeError("boom")
    lines = capsys.readouterr().err.splitlines()
    assert lines[:3] == ["::group::compile", "  inside", "::endgroup::"]
    assert lines[3].strip().startswith("compile: done in")
    assert lines[4:6] == ["::group::publish", "::endgroup::"]
    assert "publish: failed after" in lines[6]


def test_github_errors_and_warnings_are_annotations(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    log.error("50% broken\nsecond", ["a detail"])
    log.warn("careful")
    assert capsys.readouterr().err.splitlines() == [
        "::error title=opforge::50%25 broken%0Asecond%0A  a detail",
        "::warning title=opforge::careful"]


def test_gitlab_steps_are_collapsed_sections(monkeypatch, capsys):
    monkeypatch.setenv("GITLAB_CI", "true")
    with log.step("toolchains for release 24.09"):
        pass
    err = capsys.readouterr().err
    start, end = err.split("\n")[:2]
    assert start.startswith("\033[0Ksection_start:") and "[collapsed=true]\r\033[0K" in start
    name = start.split(":")[2].split("[")[0]
    assert name.startswith("opforge_") and name.endswith("toolchains_for_release_24_09")
    assert end.startswith("\033[0Ksection_end:") and f":{name}\r" in end
    log.error("plain")  # GitLab has no annotations: the usual line
    assert capsys.readouterr().err == "error: plain\n"


def test_outside_ci_and_opforge_ci_override(monkeypatch, capsys):
    with log.step("compile"):
        pass
    assert capsys.readouterr().err.startswith("==> compile")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("OPFORGE_CI", "none")
    log.error("x")
    assert capsys.readouterr().err == "error: x\n"


def test_cli_error_is_an_annotation_on_github():
    result = opforge("releases", "show", "24.13", env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 2
    assert result.stderr.startswith("::error title=opforge::unknown Triton release '24.13'")


@pytest.mark.parametrize("env, coloured", [
    ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False), ({}, False)])
def test_no_color_and_force_color(env, coloured):
    base = {"NO_COLOR": ""}  # conftest's opforge() sets NO_COLOR=1; start from none
    result = opforge("releases", "show", "24.13", env={**base, **env})
    assert ("\033[" in result.stderr) is coloured, result.stderr
