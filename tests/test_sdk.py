"""`opforge sdk fetch` for real, against an archive served from a loopback HTTP server:
download, checksum pass and fail, cache reuse, offline use; and missing-SDK errors."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest

from conftest import EXAMPLE, opforge

from opforge.core.errors import VersionMismatch

# A stand-in archive laid out like an official release: <top>/include/onnxruntime_c_api.h.
# The header here is this test's own two lines, not ONNX Runtime's.
HEADER = b"#pragma once\n#define ORT_API_VERSION 42\n"


def make_archive(path: Path, top: str = "onnxruntime-linux-x64-1.42.0") -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{top}/include/onnxruntime_c_api.h")
        info.size = len(HEADER)
        tar.addfile(info, io.BytesIO(HEADER))
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; counts the requests it gets."""
    www = tmp_path / "www"
    www.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            hits.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}", hits, httpd
    httpd.shutdown()


def test_fetch_verifies_caches_and_works_offline(tmp_path, server):
    www, base, hits, httpd = server
    digest = make_archive(www / "ort.tgz")
    env = {"OPFORGE_CACHE_DIR": str(tmp_path / "cache")}
    first = opforge("sdk", "fetch", "onnxruntime", "1.42.0", "--url", f"{base}/ort.tgz",
                    "--sha256", digest, "--json", env=env)
    assert first.returncode == 0, first.stderr
    found = json.loads(first.stdout)
    assert found["version"] == "1.42.0" and found["api_version"] == 42
    assert Path(found["include_dir"], "onnxruntime_c_api.h").read_bytes() == HEADER
    assert len(hits) == 1
    httpd.shutdown()  # offline from here on
    again = opforge("sdk", "fetch", "onnxruntime", "1.42.0", "--url", f"{base}/ort.tgz",
                    "--sha256", digest, env=env)
    assert again.returncode == 0 and "already in the cache" in again.stderr
    where = opforge("sdk", "where", "onnxruntime", "--json", env={**env, "ONNXRUNTIME_ROOT": ""})
    assert json.loads(where.stdout)["found_by"] == "opforge cache"


def test_checksum_mismatch_keeps_nothing(tmp_path, server):
    www, base, hits, _ = server
    make_archive(www / "ort.tgz")
    cache = tmp_path / "cache"
    result = opforge("sdk", "fetch", "onnxruntime", "1.42.0", "--url", f"{base}/ort.tgz",
                     "--sha256", "0" * 64, env={"OPFORGE_CACHE_DIR": str(cache)})
    assert result.returncode == 4
    assert "checksum mismatch" in result.stderr and "nothing was kept" in result.stderr
    assert list((cache / "sdk").iterdir()) == []


def test_unpinned_version_needs_a_checksum(tmp_path):
    result = opforge("sdk", "fetch", "onnxruntime", "1.42.0",
                     env={"OPFORGE_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "no pinned sha256 for ONNX Runtime 1.42.0 (pinned: 1.19.2)" in result.stderr
    assert "--sha256" in result.stderr


def test_unreachable_download_is_a_clear_error(tmp_path):
    result = opforge("sdk", "fetch", "onnxruntime", "1.42.0", "--url",
                     "http://127.0.0.1:9/nothing.tgz", "--sha256", "0" * 64,
                     env={"OPFORGE_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 4
    assert "downloading http://127.0.0.1:9/nothing.tgz failed" in result.stderr


def no_sdk_env(tmp_path) -> dict:
    return {"ONNXRUNTIME_ROOT": str(tmp_path / "empty"), "TENSORRT_ROOT": str(tmp_path / "empty"),
            "OPFORGE_CACHE_DIR": str(tmp_path)}


def test_missing_headers_are_named_with_both_fixes(tmp_path):
    (tmp_path / "empty").mkdir()
    result = opforge("build", str(EXAMPLE / "recipe.toml"), "--release", "local",
                     "--framework", "onnxruntime", env=no_sdk_env(tmp_path))
    assert result.returncode == 4
    assert "ONNX Runtime C/C++ headers were not found" in result.stderr
    assert f"$ONNXRUNTIME_ROOT={tmp_path / 'empty'} (no onnxruntime_c_api.h" in result.stderr
    assert "opforge sdk fetch onnxruntime" in result.stderr


def test_doctor_json_reports_the_missing_sdk(tmp_path):
    (tmp_path / "empty").mkdir()
    result = opforge("doctor", "--json", env=no_sdk_env(tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "ONNX Runtime C/C++ headers were not found" in data["sdks"]["onnxruntime"]["missing"]
    assert data["frameworks"]["onnxruntime"]["can_build"] is False
    assert set(data["frameworks"]) == {"pytorch", "tensorflow", "onnxruntime", "tensorrt"}
    assert "TensorRT headers were not found" in data["sdks"]["tensorrt"]["missing"]
    assert data["frameworks"]["tensorrt"]["can_build"] is False
    assert "cuda" in data and "can_build" in data["cuda"]
    assert data["tools"]["cmake"]


def cache_with_onnxruntime(cache: Path, *versions: str) -> None:
    """Cache folders laid out as `opforge sdk fetch` leaves them, each with this test's own
    two-line header (all that is read of it: ORT_API_VERSION)."""
    for version in versions:
        root = cache / "sdk" / f"onnxruntime-{version}"
        (root / "include").mkdir(parents=True)
        minor = version.split(".")[1]
        (root / "include" / "onnxruntime_c_api.h").write_text(
            f"#pragma once\n#define ORT_API_VERSION {minor}\n")
        (root / "VERSION_NUMBER").write_text(version + "\n")


@pytest.fixture
def ort_cache(tmp_path, monkeypatch) -> Path:
    """An empty opforge cache, with the environment and well-known paths out of the way."""
    from opforge.frameworks.onnxruntime import sdk

    well_known = [p for p in sdk.WELL_KNOWN if sdk.location(Path(p), "well-known path")]
    if well_known:
        pytest.skip(f"ONNX Runtime headers installed at {well_known[0]} come before the cache")
    monkeypatch.delenv("ONNXRUNTIME_ROOT", raising=False)
    monkeypatch.setenv("OPFORGE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_newest_cached_version_by_version_order(ort_cache):
    cache_with_onnxruntime(ort_cache, "1.9.0", "1.19.2", "1.15.1")
    result = opforge("sdk", "where", "onnxruntime", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == "1.19.2"  # not "1.9.0", the last by name
    assert ("ONNX Runtime headers 1.19.2 from the opforge cache: the newest (cached: 1.19.2, "
            "1.15.1, 1.9.0)") in result.stderr


def test_the_newest_cached_version_the_release_runtime_accepts(ort_cache, capsys):
    from opforge import frameworks
    from opforge.releases import load_matrix, resolve

    cache_with_onnxruntime(ort_cache, "1.9.0", "1.15.1", "1.19.2", "1.29.0")
    adapter, matrix = frameworks.get("onnxruntime"), load_matrix()
    for release, chosen in (("24.09", "1.19.2"), ("23.08", "1.15.1"), ("25.05", "1.19.2")):
        toolchain = adapter.detect(resolve(release, matrix))
        assert toolchain.version == chosen, release
        assert frameworks.check_version(adapter, toolchain, resolve(release, matrix))
    assert ("ONNX Runtime headers 1.15.1 from the opforge cache: the newest no newer than "
            "ONNX Runtime 1.15.1 of release 23.08 (cached: 1.29.0, 1.19.2, 1.15.1, 1.9.0)"
            ) in capsys.readouterr().err

    # none old enough: the newest, which the version check refuses (exit 3), and how to fix
    (ort_cache / "sdk" / "onnxruntime-1.9.0").rename(ort_cache / "sdk" / "old")
    toolchain = adapter.detect(resolve("23.01", matrix))
    assert toolchain.version == "1.29.0"
    assert "`opforge sdk fetch onnxruntime 1.13.1` gets them" in capsys.readouterr().err
    with pytest.raises(VersionMismatch):
        frameworks.check_version(adapter, toolchain, resolve("23.01", matrix))


def test_release_local_takes_headers_the_installed_runtime_accepts(ort_cache):
    from importlib import metadata

    from opforge import frameworks
    from opforge.releases import resolve

    try:
        installed = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        pytest.skip("onnxruntime is not installed (pip install 'opforge[onnxruntime]')")
    major, minor = (int(p) for p in installed.split(".")[:2])
    cache_with_onnxruntime(ort_cache, f"{major}.{minor}.0", f"{major}.{minor + 1}.0")
    toolchain = frameworks.get("onnxruntime").detect(resolve("local", {}))
    assert toolchain.version == f"{major}.{minor}.0"


@pytest.mark.parametrize("filters", [True, False], ids=["tarfile-filters", "python-3.10.11"])
def test_archives_unpack_only_inside_their_folder(tmp_path, monkeypatch, filters):
    """`sdk fetch` unpacks with tarfile's "data" filter; Pythons 3.10.0-3.10.11 (which
    opforge supports) have none, and the same rules are checked by hand there."""
    import io
    import tarfile

    from opforge.toolchain import sdk
    from opforge.core.errors import ToolchainError

    if not filters:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)

    def archive(*members: tuple[str, str | None]) -> Path:
        path = tmp_path / f"a{len(list(tmp_path.iterdir()))}.tgz"
        with tarfile.open(path, "w:gz") as tar:
            for name, link in members:
                info = tarfile.TarInfo(name)
                if link is None:
                    data = b"#define ORT_API_VERSION 15\n"
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                else:
                    info.type, info.linkname = tarfile.SYMTYPE, link
                    tar.addfile(info)
        return path

    good = archive(("ort/include/onnxruntime_c_api.h", None), ("ort/include/api.h", "onnxruntime_c_api.h"))
    with tarfile.open(good) as tar:
        sdk._extract(tar, tmp_path / "good", "http://x/good.tgz")
    assert (tmp_path / "good/ort/include/onnxruntime_c_api.h").read_text().startswith("#define")
    for bad in (archive(("../evil.h", None)), archive(("ort/lib", "/etc"))):
        with tarfile.open(bad) as tar, pytest.raises(ToolchainError):
            sdk._extract(tar, tmp_path / "bad", "http://x/bad.tgz")
    assert not (tmp_path / "evil.h").exists()
