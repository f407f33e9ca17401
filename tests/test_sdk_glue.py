"""The ONNX Runtime and TensorRT glue compiled, linked and run against every SDK header set
you have: one command for what CI cannot do, since no package registry carries those headers.

    ONNXRUNTIME_ROOT=/sdk/ort-1.15.1:/sdk/ort-1.19.0 \\
    TENSORRT_ROOT=/sdk/trt-10.4.0:/sdk/trt-11.1 pytest tests/test_sdk_glue.py

Each variable names one SDK root, as opforge itself reads it, or several joined with
os.pathsep (':'). A root is an unpacked official release: ONNX Runtime's holds
include/onnxruntime_c_api.h and the headers it includes, TensorRT's include/NvInfer.h.
Without a variable its tests skip, saying so.

For each ONNX Runtime root, the path a user takes: its include/ is packed into an archive laid
out like the official release (onnxruntime-linux-x64-<version>.tgz holding
onnxruntime-linux-x64-<version>/{include/, VERSION_NUMBER}; lib/ is left out because the glue
links nothing of ONNX Runtime), served on a loopback port and fetched with `opforge sdk fetch
onnxruntime <version> --url ... --sha256 ...` into a private OPFORGE_CACHE_DIR, where the
builds find it. Every recipe here that builds for onnxruntime is built and its vectors run
(`opforge test`) in the installed onnxruntime, which may be newer than the headers (the
at-least rule). The rich op's failures are checked at the C boundary: statuses, never an
exception into ONNX Runtime (tests/data/sdk_glue/ort_boundary.cc); its CUDA execution-provider
glue is compiled and linked (nvcc, no GPU).

For each TensorRT root: the same recipes' plugin libraries are compiled and linked
(`opforge build --framework tensorrt --compile-only`: nvcc, no GPU), and the rich plugin is run
on the host under ThreadSanitizer (tests/data/sdk_glue/trt_host.cc).

A summary per SDK follows pytest's own ("SDK glue"). docs/ci.md: "Checking the SDK glue".
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.metadata
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, TERMINAL_SUMMARY, have, opforge, with_cuda
from opforge.frameworks.onnxruntime.sdk import api_version
from opforge.frameworks.tensorrt.sdk import version_of as tensorrt_version
from opforge.toolchain import cuda
from opforge.artifacts.audit import read_elf

HARNESS = ROOT / "tests" / "data" / "sdk_glue"
# Every recipe of the repository with ops for onnxruntime; the same for tensorrt, with their
# CUDA kernels (the native one has a TensorRT source of its own).
RECIPES = {"addsub": EXAMPLE, "native": ROOT / "recipes" / "examples" / "native",
           "shapes": ROOT / "recipes" / "examples" / "shapes",
           "dtypes": ROOT / "recipes" / "examples" / "dtypes",
           "rich": ROOT / "tests" / "data" / "rich",
           "layernorm": ROOT / "recipes" / "examples" / "layernorm",
           "detection": ROOT / "recipes" / "examples" / "detection"}
# Recipes TensorRT refuses -> what the refusal says (a recipe error, exit 2, no library)
TRT_REFUSED = {"layernorm": "a plugin (IPluginV3) has a fixed number of inputs"}
CXX = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
NVCC = cuda.nvcc_or_none()


def sdk_roots(variable: str) -> list[Path]:
    """The SDK roots an environment variable names: one path, or several joined by
    os.pathsep."""
    return [Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p]


ORT_ROOTS = sdk_roots("ONNXRUNTIME_ROOT")
TRT_ROOTS = sdk_roots("TENSORRT_ROOT")

# --- the summary printed after the run ----------------------------------------------------

RESULTS: dict[str, dict[str, str]] = {}  # SDK -> check -> outcome


def note(sdk_label: str, check: str, outcome: str) -> None:
    RESULTS.setdefault(sdk_label, {})[check] = outcome


def summary() -> list[str]:
    lines = []
    for variable, roots in (("ONNXRUNTIME_ROOT", ORT_ROOTS), ("TENSORRT_ROOT", TRT_ROOTS)):
        if not roots:
            lines.append(f"{variable} is not set: that SDK's glue was not checked")
    for label, checks in RESULTS.items():
        lines.append(label)
        lines += [f"  {check:<9} {outcome}" for check, outcome in checks.items()]
    return lines


TERMINAL_SUMMARY["SDK glue"] = summary


def settle(sdk_label: str, check: str, ok: bool, outcome: str, detail: str = "") -> None:
    """Record a check's outcome for the summary, then fail the test when it is not ok."""
    note(sdk_label, check, outcome if ok else f"FAILED: {outcome}")
    if not ok:
        pytest.fail(f"{sdk_label}: {check}: {outcome}\n{detail}", pytrace=False)


def skip(sdk_label: str, check: str, why: str) -> None:
    note(sdk_label, check, f"skipped: {why}")
    pytest.skip(why)


def copy_recipe(source: Path, dest: Path, edit=None) -> Path:
    """A private copy of a recipe folder (without build/ and dist/); its recipe.toml path."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("build", "dist"))
    recipe = dest / "recipe.toml"
    if edit is not None:
        recipe.write_text(edit(recipe.read_text("utf-8")), "utf-8")
    return recipe


def json_of(result: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(result.stdout)
    except ValueError:
        return {}


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


# --- ONNX Runtime -----------------------------------------------------------------------


def release_version(root: Path, api: int) -> str:
    """The release a root holds: its VERSION_NUMBER (official archives have one), else the
    version in its folder name (ort-1.19.0), else 1.<API>.0."""
    if (root / "VERSION_NUMBER").is_file():
        return (root / "VERSION_NUMBER").read_text().strip()
    named = re.search(r"(\d+\.\d+\.\d+)", root.name)
    return named[1] if named else f"1.{api}.0"


def missing_includes(include: Path) -> list[str]:
    """Headers the SDK's headers include by quoted name that are not in its include/."""
    missing = []
    for header in sorted(include.rglob("*.h")):
        text = header.read_text("utf-8", errors="replace")
        for name in re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
            if not ((header.parent / name).is_file() or (include / name).is_file()):
                missing.append(f'{header.relative_to(include)} includes "{name}"')
    return missing


def pack_release(include: Path, version: str, archive: Path) -> str:
    """onnxruntime-linux-x64-<version>.tgz as the official release lays it out, from the
    headers of `include`; its sha256."""
    top = f"onnxruntime-linux-x64-{version}"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(p for p in include.rglob("*") if p.is_file()):
            tar.add(path, f"{top}/include/{path.relative_to(include).as_posix()}")
        stamp = tarfile.TarInfo(f"{top}/VERSION_NUMBER")
        data = f"{version}\n".encode()
        stamp.size = len(data)
        tar.addfile(stamp, io.BytesIO(data))
    return hashlib.sha256(archive.read_bytes()).hexdigest()


def installed_onnxruntime() -> str | None:
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@dataclass
class OrtSdk:
    label: str  # "onnxruntime 1.19.0 (C API 19, /sdk/ort-1.19.0)"
    version: str
    api: int
    cache: Path  # the private OPFORGE_CACHE_DIR the SDK was fetched into
    include: Path  # its include/ inside that cache
    work: Path
    runtime: str  # the installed onnxruntime the vectors run in
    runs_vectors: bool  # that runtime is at least as new as the headers
    built: dict[str, Path] = field(default_factory=dict)  # recipe name -> its built copy

    @property
    def env(self) -> dict[str, str]:
        # ONNXRUNTIME_ROOT emptied: the builds must find the fetched SDK, in the cache
        return {"OPFORGE_CACHE_DIR": str(self.cache), "ONNXRUNTIME_ROOT": ""}


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    """A folder served over HTTP on a loopback port: (folder, base URL)."""
    folder = tmp_path_factory.mktemp("www")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module", params=ORT_ROOTS or [None],
                ids=lambda root: root.name if root else "ONNXRUNTIME_ROOT-unset")
def ort_sdk(request, www, tmp_path_factory) -> OrtSdk:
    """One ONNX Runtime root, packed, served and fetched with `opforge sdk fetch`."""
    root = request.param
    if root is None:
        pytest.skip("ONNXRUNTIME_ROOT is not set: name one or more unpacked ONNX Runtime "
                    f"releases (joined with {os.pathsep!r}) to check the glue against them")
    if not (have("onnxruntime") and have("onnx")):
        pytest.skip("onnxruntime and onnx are not installed (pip install "
                    "'opforge[onnxruntime]'): the vectors run in them")
    include = root / "include"
    if not (include / "onnxruntime_c_api.h").is_file():
        pytest.fail(f"{root} has no include/onnxruntime_c_api.h: ONNXRUNTIME_ROOT must name "
                    f"unpacked official ONNX Runtime releases")
    api = api_version(include) or 0
    version = release_version(root, api)
    label = f"onnxruntime {version} (C API {api}, {root})"
    missing = missing_includes(include)
    settle(label, "headers", not missing,
           f"incomplete: {'; '.join(missing)} - not in {include}. An official release "
           f"archive has them: use its whole include/ folder" if missing else
           f"{sum(1 for _ in include.rglob('*.h'))} header(s), every included one present")
    folder, base = www
    name = f"onnxruntime-linux-x64-{version}.tgz"
    digest = pack_release(include, version, folder / name)
    cache = tmp_path_factory.mktemp(f"cache-{version}")
    env = {"OPFORGE_CACHE_DIR": str(cache), "ONNXRUNTIME_ROOT": ""}
    command = ["sdk", "fetch", "onnxruntime", version, "--url", f"{base}/{name}",
               "--sha256", digest]
    fetched = opforge(*command, "--json", env=env)
    where = json_of(opforge("sdk", "where", "onnxruntime", "--json", env=env))
    shown = (f"opforge sdk fetch onnxruntime {version} --url {base}/{name} --sha256 "
             f"{digest[:12]}...")
    settle(label, "fetch", fetched.returncode == 0 and where.get("found_by") == "opforge cache"
           and where.get("version") == version,
           f"{shown} -> {where.get('root')} (found by {where.get('found_by')})",
           fetched.stderr)
    runtime = installed_onnxruntime() or "?"
    runs = int(runtime.split(".")[1]) >= api if runtime[:2] == "1." else False
    return OrtSdk(label, version, api, cache, Path(where["include_dir"]),
                  tmp_path_factory.mktemp(f"ort-{version}"), runtime, runs)


def native_headers_missing(recipe: Path, framework: str, include: Path) -> list[str]:
    """The SDK headers a recipe's native sources for `framework` include (<onnxruntime_*.h>)
    that the SDK lacks: such a source cannot compile against these headers."""
    text = recipe.read_text("utf-8")
    sources = []
    for block in re.split(r"^\[\[native\]\]", text, flags=re.M)[1:]:
        if re.search(rf'^framework\s*=\s*"{framework}"', block, re.M):
            sources += re.findall(r'"([^"]+\.(?:cc|cpp|cu))"', block)
    wanted = set()
    for source in sources:
        wanted |= set(re.findall(r"#\s*include\s+<(onnxruntime_\w+\.h)>",
                                 (recipe.parent / source).read_text("utf-8")))
    return sorted(h for h in wanted if not (include / h).is_file())


def ort_build(ort: OrtSdk, name: str) -> Path:
    """`opforge build --framework onnxruntime` of a copy of RECIPES[name] with the fetched SDK
    (once per SDK); the copy's recipe.toml."""
    if name in ort.built:
        return ort.built[name]
    recipe = ort.work / name / "recipe.toml"
    if not recipe.is_file():
        copy_recipe(RECIPES[name], ort.work / name)
    missing = native_headers_missing(recipe, "onnxruntime", ort.include)
    if missing:
        skip(ort.label, name, f"its native ONNX Runtime source includes {', '.join(missing)}, "
             f"which these headers lack (official releases ship the C++ API headers)")
    args = ["build", str(recipe), "--release", "local", "--framework", "onnxruntime", "--json"]
    if not ort.runs_vectors:
        args.append("--compile-only")
    built = opforge(*args, env=ort.env)
    if built.returncode != 0:
        settle(ort.label, name, False, "build failed", built.stderr[-4000:])
    ort.built[name] = recipe
    return recipe


@pytest.mark.parametrize("name", list(RECIPES))
def test_onnxruntime_recipe_builds_and_passes_its_vectors(ort_sdk, name):
    recipe = ort_build(ort_sdk, name)
    if not ort_sdk.runs_vectors:
        skip(ort_sdk.label, name, f"compiled; vectors not run: the installed onnxruntime "
             f"{ort_sdk.runtime} is older than these headers (C API {ort_sdk.api})")
    tested = opforge("test", str(recipe), "--release", "local", "--framework", "onnxruntime",
                     "--json", env=ort_sdk.env)
    report = json_of(tested)
    rows = [r for r in report.get("results", []) if r["framework"] == "onnxruntime"]
    failed = [f"{r['vector']}: {r.get('why', '')}" for r in rows if not r["ok"]]
    settle(ort_sdk.label, name, tested.returncode == 0 and bool(rows) and not failed,
           f"built; vectors {len(rows) - len(failed)} passed, {len(failed)} failed in "
           f"onnxruntime {ort_sdk.runtime}", "\n".join(failed) + tested.stderr[-4000:])


# A Mix node that fails while ONNX Runtime creates its kernel (a required attribute missing)
# and one that fails in compute (mode "fail"), each in a real session of the installed
# onnxruntime, in a child: a crash there is a finding, not the end of pytest.
ORT_FAILURES = r"""
import sys
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

def session(**attrs):
    node = helper.make_node("Mix", ["x", "y", "idx"], ["b", "d"], domain="my_lab", **attrs)
    graph = helper.make_graph([node], "g", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, None),
        helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
        helper.make_tensor_value_info("idx", TensorProto.INT64, None)], [
        helper.make_tensor_value_info("b", TensorProto.FLOAT, None),
        helper.make_tensor_value_info("d", TensorProto.INT32, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("my_lab", 1)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.register_custom_ops_library(sys.argv[1])
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])

try:
    session()
    print("create: no error")
except Exception as e:
    print("create:", type(e).__name__, e)
feed = {"x": np.ones(1, np.float32), "y": np.ones(1, np.float32), "idx": np.ones(1, np.int64)}
try:
    session(scale=1.0, mode="fail").run(None, feed)
    print("compute: no error")
except Exception as e:
    print("compute:", type(e).__name__, e)
"""


def test_onnxruntime_errors_come_back_as_statuses(ort_sdk):
    """A failing Mix in the installed onnxruntime: the compute error arrives as the glue's
    INVALID_ARGUMENT status (an exception thrown into ONNX Runtime would arrive as
    RUNTIME_EXCEPTION), the create error with its message, and nothing crashes."""
    recipe = ort_build(ort_sdk, "rich")
    if not ort_sdk.runs_vectors:
        skip(ort_sdk.label, "errors", f"the installed onnxruntime {ort_sdk.runtime} is older "
             f"than these headers")
    library = next((recipe.parent / "dist" / "local" / "onnxruntime").glob("*.so"))
    result = run([sys.executable, "-c", ORT_FAILURES, str(library)])
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    create, compute = lines.get("create", ""), lines.get("compute", "")
    ok = (result.returncode == 0
          and "my_lab.Mix: required attribute 'scale' is missing from the node" in create
          and compute.startswith("InvalidArgument")
          and "Mix: mode 'fail' asks the kernel to fail" in compute)
    settle(ort_sdk.label, "errors", ok, f"in onnxruntime {ort_sdk.runtime}: compute error -> "
           f"{compute.split(' ')[0] or '?'} (the glue's status), create error -> raised with "
           f"its message: {'scale' in create}, exit {result.returncode}",
           result.stdout + result.stderr[-3000:])


def test_onnxruntime_glue_throws_nothing_across_the_c_boundary(ort_sdk, tmp_path):
    """Mix's create callback failing on an exception inside the glue (an allocation that
    throws), driven through a fake OrtApi as an ONNX Runtime of the installed version and
    of the headers' own version would call it."""
    if CXX is None:
        skip(ort_sdk.label, "boundary", "no C++ compiler (set CXX or install g++)")
    recipe = ort_build(ort_sdk, "rich")
    build = recipe.parent / "build" / "local"
    program = tmp_path / "ort_boundary"
    compiled = run([CXX, "-std=c++17", "-I", str(build / "gen" / "include"), "-isystem",
                    str(ort_sdk.include), "-include", str(build / "gen/onnxruntime/glue.cc"),
                    str(HARNESS / "ort_boundary.cc"),
                    str(build / "cmake/kernels/libopforge_kernels.a"), "-o", str(program)])
    settle(ort_sdk.label, "boundary", compiled.returncode == 0,
           "tests/data/sdk_glue/ort_boundary.cc does not compile", compiled.stderr[-4000:])
    seen, problems = [], []
    for running in sorted({ort_sdk.runtime, f"1.{ort_sdk.api}.0"}):
        result = run([str(program), running])
        lines = result.stdout.splitlines()
        got = lines[-1] if lines else f"exit {result.returncode}"
        # an ONNX Runtime from 1.16 on takes a status; before, only a std::runtime_error
        expect = "status 6 Mix: " if int(running.split(".")[1]) >= 16 else "runtime_error Mix: "
        seen.append(f"as {running} ({lines[0] if lines else '?'}): {got.split(' Mix:')[0]}")
        if result.returncode != 0 or not got.startswith(expect):
            problems.append(f"as ONNX Runtime {running}: expected {expect!r}..., got "
                            f"{result.stdout!r} {result.stderr[-2000:]}")
    settle(ort_sdk.label, "boundary", not problems,
           "create throwing inside the glue: " + "; ".join(seen), "\n".join(problems))


def test_onnxruntime_cuda_glue_compiles(ort_sdk):
    """The rich op's CUDA execution-provider glue, compiled and linked (nvcc, no GPU)."""
    if NVCC is None:
        skip(ort_sdk.label, "cuda", "nvcc not found (install the CUDA toolkit or set CUDACXX)")
    recipe = copy_recipe(RECIPES["rich"], ort_sdk.work / "rich-cuda",
                         lambda text: with_cuda(text, "onnxruntime"))
    library, stderr = compile_only(recipe, "onnxruntime", ort_sdk.env)
    exports = set(read_elf(library).defined) if library else set()
    settle(ort_sdk.label, "cuda", exports == {"RegisterCustomOps"},
           f"CUDA glue compiled and linked ({library.name if library else 'no library'}; "
           f"exports {', '.join(sorted(exports)) or 'nothing'})", stderr)


# --- TensorRT ---------------------------------------------------------------------------


@dataclass
class TrtSdk:
    label: str
    root: Path
    version: str
    cache: Path
    work: Path
    built: dict[str, Path] = field(default_factory=dict)  # recipe name -> its library

    @property
    def env(self) -> dict[str, str]:
        return {"OPFORGE_CACHE_DIR": str(self.cache), "TENSORRT_ROOT": str(self.root)}


@pytest.fixture(scope="module", params=TRT_ROOTS or [None],
                ids=lambda root: root.name if root else "TENSORRT_ROOT-unset")
def trt_sdk(request, tmp_path_factory) -> TrtSdk:
    root = request.param
    if root is None:
        pytest.skip("TENSORRT_ROOT is not set: name one or more unpacked TensorRT releases "
                    f"(joined with {os.pathsep!r}) to check the plugin glue against them")
    version = tensorrt_version(root / "include")
    if not (root / "include" / "NvInfer.h").is_file() or not version:
        pytest.fail(f"{root} has no include/NvInfer.h with a NvInferVersion.h: TENSORRT_ROOT "
                    f"must name unpacked TensorRT releases")
    label = f"tensorrt {version} ({root})"
    if NVCC is None:
        skip(label, "nvcc", "nvcc not found (install the CUDA toolkit or set CUDACXX): "
             "TensorRT plugins need CUDA kernels")
    return TrtSdk(label, root, version, tmp_path_factory.mktemp(f"cache-trt-{version}"),
                  tmp_path_factory.mktemp(f"trt-{version}"))


def compile_only(recipe: Path, framework: str, env: dict[str, str]) -> tuple[Path | None, str]:
    """`opforge build --framework F --compile-only --cuda-arch 80`: (the library, or None, and
    the build's stderr)."""
    built = opforge("build", str(recipe), "--release", "local", "--framework", framework,
                    "--compile-only", "--cuda-arch", "80", "--json", env=env)
    artifacts = json_of(built).get("artifacts", [])
    ok = built.returncode == 0 and len(artifacts) == 1
    return (Path(artifacts[0]["library"]) if ok else None), built.stderr[-4000:]


def trt_build(trt: TrtSdk, name: str) -> Path:
    """`opforge build --framework tensorrt --compile-only --cuda-arch 80` of a copy of
    RECIPES[name] (once per SDK); the library."""
    if name in trt.built:
        return trt.built[name]
    folder = trt.work / name
    if not (folder / "recipe.toml").is_file():
        copy_recipe(RECIPES[name], folder, lambda text: with_cuda(text, "tensorrt"))
    library, stderr = compile_only(folder / "recipe.toml", "tensorrt", trt.env)
    if library is None:
        settle(trt.label, name, False, "compile failed", stderr)
    trt.built[name] = library
    return library


@pytest.mark.parametrize("name", list(RECIPES))
def test_tensorrt_plugins_compile_and_link(trt_sdk, name):
    if name in TRT_REFUSED:  # with its CUDA kernels, refused for what TensorRT cannot do
        folder = trt_sdk.work / name
        copy_recipe(RECIPES[name], folder, lambda text: with_cuda(text, "tensorrt"))
        built = opforge("build", str(folder / "recipe.toml"), "--release", "local",
                        "--framework", "tensorrt", "--compile-only", "--cuda-arch", "80",
                        env=trt_sdk.env)
        settle(trt_sdk.label, name, built.returncode == 2 and
               TRT_REFUSED[name] in built.stderr and "Traceback" not in built.stderr,
               f"refused as expected ({TRT_REFUSED[name]})", built.stderr[-4000:])
        return
    library = trt_build(trt_sdk, name)
    facts = read_elf(library)
    exports, needed = set(facts.defined), facts.needed
    nvinfer = f"libnvinfer.so.{trt_sdk.version.split('.')[0]}"
    entry_points = {"getCreators", "setLoggerFinder"}
    ok = nvinfer in needed and (name == "native" or exports == entry_points)
    settle(trt_sdk.label, name, ok, f"compiled and linked {library.name} (needs {nvinfer}: "
           f"{nvinfer in needed}; exports {', '.join(sorted(exports)) or 'nothing'})",
           f"DT_NEEDED {needed}")


def cuda_include() -> Path:
    """The CUDA toolkit's headers (cuda_runtime_api.h, which TensorRT's headers include)."""
    for candidate in (NVCC.root / "include", *sorted(NVCC.root.glob("targets/*/include"))):
        if (candidate / "cuda_runtime_api.h").is_file():
            return candidate
    return NVCC.root / "include"


def tsan_missing(tmp_path: Path) -> str:
    """Why the C++ compiler cannot build a ThreadSanitizer program here ("" when it can)."""
    source = tmp_path / "tsan_probe.cc"
    source.write_text("int main() { return 0; }\n")
    probe = run([CXX, "-fsanitize=thread", str(source), "-o", str(tmp_path / "tsan_probe")])
    return "" if probe.returncode == 0 else (
        f"{CXX} cannot build with -fsanitize=thread (is libtsan installed?): "
        f"{probe.stderr.strip().splitlines()[-1:]}")


def test_tensorrt_plugin_runs_on_the_host(trt_sdk, tmp_path):
    """The rich plugin created and enqueued on the host, its kernel replaced by one that
    records its attributes: float attributes arrive as float32 values from FLOAT64 and FLOAT32
    fields alike; setLoggerFinder racing with error reports is race-free under TSAN."""
    if CXX is None:
        skip(trt_sdk.label, "host run", "no C++ compiler (set CXX or install g++)")
    if why := tsan_missing(tmp_path):
        skip(trt_sdk.label, "host run", why)
    trt_build(trt_sdk, "rich")
    gen = trt_sdk.work / "rich" / "build" / "local" / "gen"
    program = tmp_path / "trt_host"
    compiled = run([CXX, "-std=c++17", "-fsanitize=thread", "-g", "-O1", "-pthread",
                    "-I", str(gen / "include"), "-isystem", str(trt_sdk.root / "include"),
                    "-isystem", str(cuda_include()), "-include",
                    str(gen / "tensorrt" / "glue.cc"), str(HARNESS / "trt_host.cc"),
                    "-o", str(program)])
    settle(trt_sdk.label, "host run", compiled.returncode == 0,
           "tests/data/sdk_glue/trt_host.cc does not compile", compiled.stderr[-4000:])
    result = run([str(program)], env={**os.environ, "TSAN_OPTIONS": "halt_on_error=1"})
    out = result.stdout
    f32 = "scale 0.10000000149011612 weight 0.20000000298023224"
    fields_ok = (f"float64 fields: enqueue 0 {f32}" in out
                 and f"float32 fields: enqueue 0 {f32}" in out)
    race_free = result.returncode == 0 and "ThreadSanitizer" not in result.stderr
    settle(trt_sdk.label, "host run", fields_ok and race_free and "logged 2000" in out,
           f"float attrs reach the kernel as float32 from FLOAT64 and FLOAT32 fields: "
           f"{fields_ok}; setLoggerFinder race-free under ThreadSanitizer: {race_free}",
           out + result.stderr[-4000:])
