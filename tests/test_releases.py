"""The release matrix: packaged data, sources, user overrides, the version policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opforge import frameworks, releases
from opforge.releases import versions
from opforge.core import toml
from opforge.core.errors import ReleaseError, UserError, VersionMismatch
from opforge.frameworks import Toolchain

from conftest import opforge

def _import_tool():
    """tools/import_releases.py, whose facts_table() finds the team's table."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "import_releases.py"
    spec = importlib.util.spec_from_file_location("import_releases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _facts_table() -> Path | None:
    try:
        return _import_tool().facts_table()
    except SystemExit:
        return None


SHARED = _facts_table()


def test_2409_pins_with_sources():
    r = releases.load_matrix()["24.09"]
    assert r.pin("pytorch").value == "2.5.0a0+b465a5843b"
    assert r.pin("onnxruntime").value == "1.19.2"
    assert r.pin("triton_version").value == "2.50.0"
    assert all(r.pin(k).sources for k in ("pytorch", "onnxruntime", "triton_version"))
    assert any("ONNX Runtime" in s or "TRITON_VERSION_MAP" in s
               for s in r.pin("onnxruntime").sources)


def test_unknown_stays_unknown():
    r = releases.load_matrix()["24.09"]
    assert r.pin("tensorflow").value == ""
    assert not r.pin("tensorflow").known
    assert r.pin("tensorflow").to_json()["value"] is None


@pytest.mark.skipif(SHARED is None, reason="the team's facts table (shared/data/"
                    "triton_releases.toml above the checkout) is absent")
def test_packaged_data_matches_facts_table():
    facts = toml.loads(SHARED.read_text())["release"]
    matrix = releases.load_matrix()
    assert [f["release"] for f in facts] == list(matrix)
    for fact in facts:
        for key, value in fact.items():
            if key not in ("release", "sources", "uncertain", "notes"):
                assert matrix[fact["release"]].pin(key).value == str(value), (fact["release"], key)


def test_user_file_overrides_a_field_and_adds_a_release(tmp_path):
    user = tmp_path / "mine.toml"
    user.write_text('[[release]]\nrelease = "24.09"\ntensorflow = "2.16.1"\n'
                    'sources = ["our NGC TensorFlow 24.09 banner"]\n\n'
                    '[[release]]\nrelease = "99.01"\npytorch = "9.9.0"\nsources = ["lab"]\n')
    matrix = releases.load_matrix(user)
    assert matrix["24.09"].pin("tensorflow").value == "2.16.1"
    assert matrix["24.09"].pin("tensorflow").sources == ("our NGC TensorFlow 24.09 banner",)
    assert matrix["24.09"].pin("pytorch").value == "2.5.0a0+b465a5843b"  # kept
    assert matrix["99.01"].pin("pytorch").value == "9.9.0"
    assert list(matrix)[-1] == "99.01"


def test_user_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[release]]\nrelease = 24.09\n")
    with pytest.raises(UserError, match=r"bad.toml: release\[0\].release must be a string"):
        releases.load_matrix(bad)
    with pytest.raises(UserError, match="does not exist"):
        releases.load_matrix(tmp_path / "nope.toml")


def test_unknown_release_suggests():
    with pytest.raises(ReleaseError, match=r"unknown Triton release '24.9'.*24.09"):
        releases.resolve("24.9", releases.load_matrix())


def test_tensorflow_refused_from_2503():
    tf = frameworks.get("tensorflow")
    tf.check_release(releases.load_matrix()["25.02"])
    with pytest.raises(ReleaseError, match="removed it in 25.03"):
        tf.check_release(releases.load_matrix()["25.03"])


@pytest.mark.parametrize("installed,pin,ok", [
    ("2.5.0a0+b465a5843b.nv24.09", "2.5.0a0+b465a5843b", True),
    ("2.5.0a0+b465a5843b", "2.5.0a0+b465a5843b", True),
    ("2.5.0a0+aaaaaaaaaa", "2.5.0a0+b465a5843b", False),
    ("2.5.0", "2.5.0a0+b465a5843b", False),
    ("2.15.1", "2.15", True),
    ("2.16.1", "2.15", False),
    ("2.13.0+cpu", "2.13.0", True),
    ("2.13.1", "2.13.0", False),
])
def test_version_policy(installed, pin, ok):
    assert versions.version_matches(installed, pin) is ok


def _toolchain(version: str) -> Toolchain:
    return Toolchain("pytorch", version, "/x", [], [], [], 17, 1)


def test_version_check_names_both_versions_and_fixes():
    fw = frameworks.get("pytorch")
    release = releases.load_matrix()["24.09"]
    with pytest.raises(VersionMismatch) as info:
        frameworks.check_version(fw, _toolchain("2.13.0+cpu"), release)
    msg = info.value.message
    assert "2.13.0+cpu" in msg and "2.5.0a0+b465a5843b" in msg
    assert "NGC container" in msg and "--release local" in msg
    verdict = frameworks.check_version(fw, _toolchain("2.5.0a0+b465a5843b.nv24.09"), release)
    assert verdict.pin == "2.5.0a0+b465a5843b"


def test_unknown_pin_is_an_error_not_a_guess():
    tf = frameworks.get("tensorflow")
    with pytest.raises(ReleaseError, match="TensorFlow version of Triton release 24.09 is "
                                           "unknown"):
        frameworks.check_version(tf, _toolchain("2.16.1"), releases.load_matrix()["24.09"])


def test_cli_releases_show_json():
    result = opforge("releases", "show", "24.09", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["pins"]["pytorch"]["value"] == "2.5.0a0+b465a5843b"
    assert data["pins"]["onnxruntime"]["value"] == "1.19.2"
    assert data["pins"]["pytorch"]["sources"] and data["pins"]["onnxruntime"]["sources"]
    assert data["pins"]["tensorflow"] == {**data["pins"]["tensorflow"], "value": None,
                                          "known": False}


def test_cli_releases_list_and_unknown():
    listing = opforge("releases")
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[0].split()[:3] == ["release", "triton", "pytorch"]
    assert any(line.startswith("24.09 ") for line in listing.stdout.splitlines())
    bad = opforge("releases", "show", "99.99")
    assert bad.returncode == 2
    assert "unknown Triton release '99.99'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_releases_file_flag_and_environment(tmp_path):
    user = tmp_path / "mine.toml"
    user.write_text('[[release]]\nrelease = "99.01"\npytorch = "9.9.0"\nsources = ["lab"]\n')
    by_flag = opforge("releases", "show", "99.01", "--json", "--releases-file", str(user))
    assert by_flag.returncode == 0, by_flag.stderr
    assert json.loads(by_flag.stdout)["pins"]["pytorch"]["sources"] == ["lab"]
    by_env = opforge("releases", "show", "99.01", "--json",
                     env={"OPFORGE_RELEASES_FILE": str(user)})
    assert json.loads(by_env.stdout)["origin"] == str(user)


def test_cli_build_unknown_release():
    from conftest import EXAMPLE

    result = opforge("build", str(EXAMPLE / "recipe.toml"), "--release", "99.99")
    assert result.returncode == 2
    assert "unknown Triton release '99.99'" in result.stderr


def test_cli_build_tensorflow_for_2503_is_refused():
    from conftest import EXAMPLE

    result = opforge("build", str(EXAMPLE / "recipe.toml"), "--release", "25.03",
                     "--framework", "tensorflow")
    assert result.returncode == 2
    assert "Triton release 25.03 has no TensorFlow backend" in result.stderr
