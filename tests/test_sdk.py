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
