"""The `opforge` command line's parser: one function per command, each with the help
that teaches it (docs/cli.md is the longer story)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from opforge import __version__
from opforge.core import log


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: exit 2 with usage, like ours
        self.print_usage(sys.stderr)
        log.error(f"{message} (see `{self.prog} --help`)")
        raise SystemExit(2)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print a machine-readable result on stdout (human output goes to stderr)")
    p.add_argument("--releases-file", type=Path, metavar="TOML",
                   help="extra or overriding [[release]] entries (default: "
                        "$OPFORGE_RELEASES_FILE)")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors and results")


def _launcher_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compiler-launcher", metavar="LAUNCHER",
                   help="compile cache around every compile: sccache, ccache, a path, 'none' "
                   "or 'auto' (default: $OPFORGE_COMPILER_LAUNCHER, else the recipe's "
                   "build.compiler_launcher, else auto: sccache or ccache when found)")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="opforge", description="Build custom-op libraries for NVIDIA "
                     "Triton Inference Server, against exactly the framework versions of a "
                     "Triton release.", epilog="""\
typical use:
  opforge new myops                                  scaffold a recipe that builds as is
  opforge releases show 24.09                        what Triton 24.09 pins, with sources
  opforge build recipe.toml --release local          libraries for the installed frameworks
  opforge test recipe.toml --release local           run the recipe's test vectors on them
  opforge describe recipe.toml                       the kernel API: Args structs, functions
  opforge package recipe.toml --model-repository M  put the libraries into a model repository
  opforge serve M                                    a real tritonserver on 127.0.0.1, ops loaded
  opforge verify recipe.toml --url 127.0.0.1:8000    every test vector through that server
  opforge matrix recipe.toml --releases '24.*' --dry-run   CI jobs: release x framework x device
  opforge doctor                                     what this machine can build, for which releases
  opforge sdk fetch onnxruntime 1.19.2               ONNX Runtime headers, checksum-verified

exit codes: 0 ok, 2 bad input (recipe, flag, release), 3 installed framework does not match
the release, 4 missing toolchain, 5 build failed, 6 a test vector failed, 7 loader refused,
8 `opforge check` (or the audit after a build) found errors, 9 tritonserver did not come up
or cannot be reached, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)
""",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"opforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_releases(sub)
    _add_build(sub)
    _add_test(sub)
    _add_check(sub)
    _add_package(sub)
    _add_wheel(sub)
    _add_serve(sub)
    _add_verify(sub)
    _add_matrix(sub)
    _add_doctor(sub)
    _add_sdk(sub)
    _add_new(sub)
    _add_describe(sub)
    return parser


def _add_releases(sub) -> None:
    p = sub.add_parser("releases", help="the release matrix: Triton release -> framework "
                       "versions", description="List Triton releases (--coverage: which "
                       "fields are known for which), show one release's pins with their "
                       "sources and uncertainty, diff two releases (what an upgrade changes "
                       "for op libraries), or learn the pins CI builds proved in NGC "
                       "containers into a releases file. Unknown values are shown as unknown.",
                       epilog="examples:\n"
                       "  opforge releases show 24.09\n"
                       "  opforge releases --coverage\n"
                       "  opforge releases diff 24.09 25.03\n"
                       "  opforge releases learn opforge-out/*/reports/build.json > "
                       "releases.toml",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("action", nargs="?", choices=["list", "show", "diff", "learn"],
                   default="list")
    p.add_argument("operands", nargs="*", metavar="ARG",
                   help="show: a release such as 24.09; diff: FROM TO; learn: the JSON "
                   "reports of `opforge build --json` (a matrix job's reports/build.json)")
    p.add_argument("--coverage", action="store_true",
                   help="with list: per release, which fields are known, uncertain (a "
                   "secondary source) or unknown")


def _add_build(sub) -> None:
    p = sub.add_parser("build", help="generate, compile and package the op libraries",
                       description="Build one op library per framework for a Triton release: "
                       "generate glue, compile with cmake+ninja, write artifacts with a "
                       "manifest and the runtime loader.")
    _common(p)
    p.add_argument("recipe", type=Path)
    p.add_argument("--release", help="Triton release (default: target.release of the "
                   "recipe); 'local' builds for the frameworks installed here")
    p.add_argument("--framework", action="append", metavar="NAME",
                   help="build only this framework (repeatable)")
    p.add_argument("--out", type=Path, help="artifact folder (default: dist/ beside the recipe)")
    p.add_argument("--build-dir", type=Path,
                   help="build folder (default: build/<release>/ beside the recipe)")
    p.add_argument("--cuda-arch", metavar="LIST", type=lambda v: [a for a in v.split(",") if a],
                   help="GPU architectures for CUDA kernels, e.g. 80,90 (SASS for each, PTX "
                   "for the last); default: target.cuda_archs, else the release's range")
    _launcher_flag(p)
    p.add_argument("--compile-only", action="store_true",
                   help="compile and link every library but publish nothing; CUDA glue is "
                   "compiled even for frameworks installed without CUDA (a CPU-only torch), "
                   "to check it on a machine without a GPU")


def _add_test(sub) -> None:
    p = sub.add_parser("test", help="run the recipe's test vectors against the built libraries",
                       description="Load each built library in a child process per framework "
                       "and check every op's test vectors; exits 6 on any failure.")
    _common(p)
    p.add_argument("recipe", type=Path)
    p.add_argument("--release", help="release whose artifacts to test (default: the recipe's)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="run the vectors on this device (cuda: inputs on the first GPU; the "
                   "library must have been built with that device)")
    p.add_argument("--framework", action="append", metavar="NAME")
    p.add_argument("--out", type=Path, help="artifact folder the build wrote (default: dist/ "
                   "beside the recipe)")


def _add_describe(sub) -> None:
    p = sub.add_parser("describe", help="the kernel API of each op: its Args struct, the "
                       "kernel functions to define, dtypes, shapes, constraints",
                       description="Print, per op, the Args struct its kernel receives (from "
                       "the generated opforge/ops.h: inputs as ConstTensorView, outputs as "
                       "TensorView, attributes in their C++ types), the kernel function each "
                       "device's source must define, the dtypes of each type variable, the "
                       "shapes and the constraints the glue checks. Needs no build.")
    _common(p)
    p.add_argument("recipe", type=Path)


def _add_check(sub) -> None:
    p = sub.add_parser("check", help="audit op libraries against a Triton release (ELF)",
                       description="Read each library with pyelftools and report, with a "
                       "severity and a fix: DT_NEEDED the target does not provide, GLIBC/GLIBCXX/"
                       "CXXABI versions above the release's Ubuntu, C++ ABI mix-ups, undefined "
                       "symbols the framework does not define, exports beyond the entry points, "
                       "CUDA architectures below the release's minimum. Then load each library "
                       "in a child process and list the ops it registers (torch ops, "
                       "TensorFlow op names, ONNX Runtime domain/op through RegisterCustomOps, "
                       "TensorRT plugins): ops the manifest declares but the library does not "
                       "register, clashes with the framework's built-in ops, and op identities "
                       "two of the given libraries both register. Exits 8 on errors.")
    _common(p)
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                   help="artifact folder (with manifest.json), manifest.json or library file")
    p.add_argument("--release", help="check against this release (default: each manifest's): "
                   "before an upgrade, whether each library is valid for it by its "
                   "framework's own rule, and if not, why and the command that rebuilds it")
    p.add_argument("--no-load", dest="load", action="store_false",
                   help="do not load the libraries: compare the op inventories their "
                   "manifests recorded at build time (for a machine without the framework)")


def _add_package(sub) -> None:
    p = sub.add_parser("package", help="put the built libraries into a Triton model "
                       "repository and make its models load them",
                       description="Read each model of the repository (config.pbtxt through "
                       "tritonclient's ModelConfig; the custom ops of ONNX and TorchScript "
                       "models from their files, of others from the recipe's [[models]]), "
                       "match every op to a library `opforge build` made for the release, and "
                       "write: each library once (a top-level file named by its sha256), "
                       "model_operations into the config.pbtxt of ONNX Runtime and "
                       "TensorFlow models, opforge-ops.json (the index), opforge-launch.sh "
                       "(LD_PRELOAD for TorchScript ops, LD_LIBRARY_PATH, TensorRT plugins) "
                       "and a Dockerfile FROM the release's tritonserver image. A model that "
                       "needs an op no library provides is an error; nothing is written then.")
    _common(p)
    p.add_argument("recipe", type=Path)
    p.add_argument("--model-repository", type=Path, required=True, metavar="DIR",
                   help="the Triton model repository to package into (changed in place)")
    p.add_argument("--release", help="Triton release whose artifacts to use (default: "
                   "target.release of the recipe)")
    p.add_argument("--out", type=Path, help="artifact folder `opforge build` wrote (default: "
                   "dist/ beside the recipe)")
    p.add_argument("--mount", metavar="PATH", help="absolute path at which tritonserver will "
                   "see the repository, e.g. /models (default: the repository's own path); "
                   "config.pbtxt, the launch script and the Dockerfile use it")
    p.add_argument("--base-image", metavar="IMAGE", help="FROM of the Dockerfile (default: "
                   "nvcr.io/nvidia/tritonserver:<release>-py3; required for --release local; "
                   "'none' writes no Dockerfile)")
    p.add_argument("--dry-run", action="store_true", help="read and match, print the plan, "
                   "write nothing")


def _add_wheel(sub) -> None:
    p = sub.add_parser("wheel", help="build a wheel of the libraries (scikit-build-core)",
                       description="Build the recipe for a release (as `opforge build`, audit "
                       "included), then one wheel of its libraries with scikit-build-core: per "
                       "framework the library, its manifest and the loader, plus a package "
                       "loader: `import <package>; <package>.load(\"pytorch\")`, "
                       "`<package>.library_path(\"onnxruntime\")`. The version carries the "
                       "release and the frameworks (0.1.0+r24.09.pytorch.tensorflow): one wheel "
                       "per release and framework set.")
    _common(p)
    p.add_argument("recipe", type=Path)
    p.add_argument("--release", help="Triton release (default: target.release of the recipe)")
    p.add_argument("--framework", action="append", metavar="NAME",
                   help="only this framework (repeatable): a wheel of that framework set")
    p.add_argument("--wheel-dir", type=Path, help="where the wheel goes (default: "
                   "dist/wheels/ beside the recipe)")
    p.add_argument("--out", type=Path, help="artifact folder (default: dist/ beside the recipe)")
    p.add_argument("--build-dir", type=Path,
                   help="build folder (default: build/<release>/ beside the recipe)")
    _launcher_flag(p)


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="run a real tritonserver on loopback with the "
                       "repository's op libraries loaded, supervised",
                       description="Start tritonserver on 127.0.0.1 for a model repository "
                       "that `opforge package` wrote, wait until every model is ready (showing "
                       "each as it loads), and keep it up until Ctrl-C or SIGTERM. With a "
                       "tritonserver and its framework backends on PATH (inside the release's "
                       "NGC container) it runs the repository's opforge-launch.sh. Otherwise it "
                       "runs the tritonserver bundled in the nvidia-pytriton wheel (Triton 2.51, "
                       "Python backend only): each TorchScript, ONNX and TensorFlow SavedModel "
                       "model is served by a generated Python-backend model that runs it in "
                       "its framework with its op libraries loaded, one process per model "
                       "instance. A model whose process dies (an op that aborts) is reloaded "
                       "within seconds and the server stays ready. On exit no process, "
                       "shared-memory file or work folder is left.",
                       epilog="with --json, stdout gets one JSON object per line: "
                       "{\"event\": \"ready\", \"http\": ..., \"grpc\": ..., \"models\": ...} "
                       "once ready, then {\"event\": \"stub-died\" | \"reloaded\" | "
                       "\"reload-failed\", \"model\": ...} as they happen, and "
                       "{\"event\": \"stopped\"} at the end")
    _common(p)
    p.add_argument("repository", type=Path, metavar="MODEL_REPOSITORY")
    for name, default in (("http", 8000), ("grpc", 8001), ("metrics", 8002)):
        p.add_argument(f"--{name}-port", type=int, default=default, metavar="PORT",
                       help=f"{name} port on 127.0.0.1 (default {default}; 0: any free port, "
                       f"shown when ready)")
    p.add_argument("--server", choices=["auto", "bundled", "native"], default="auto",
                   help="which tritonserver (default auto: native when one with framework "
                   "backends is on PATH, else the bundled one)")
    p.add_argument("--ready-timeout", type=float, default=180.0, metavar="SECONDS",
                   help="give up when the models are not all ready by then (default 180)")
    p.add_argument("--exit-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="on Ctrl-C, how long tritonserver may wait for open requests and "
                   "connections before it is killed (default 5)")
    p.add_argument("--no-supervise", dest="supervise", action="store_false",
                   help="do not reload models whose process died")


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="send every test vector through a running Triton "
                       "(HTTP or gRPC) and compare",
                       description="Send every test vector of every op of the recipe through "
                       "a running Triton with tritonclient and compare the outputs with the "
                       "vector's tolerances. A model takes part when its config.pbtxt says "
                       "which op it runs: parameters { key: \"opforge.op\" value: { "
                       "string_value: \"AddSub\" } }, with \"opforge.attrs\" (a JSON object) "
                       "for attribute values other than the defaults; its inputs and outputs "
                       "carry the op's names. A vector goes through every model it fits "
                       "(attributes, dtypes, ranks); one that fits none fails. Exits 6 on a "
                       "failure, 9 when no server answers.")
    _common(p)
    p.add_argument("recipe", type=Path)
    p.add_argument("--url", default="127.0.0.1:8000", help="the server, host:port (default "
                   "127.0.0.1:8000; the gRPC port with --protocol grpc)")
    p.add_argument("--protocol", choices=["http", "grpc"], default="http")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="per request (default 60)")


def _add_matrix(sub) -> None:
    p = sub.add_parser("matrix", help="the CI fan-out: one job per (release, framework, "
                       "device), each in the NGC image of that release's framework",
                       description="Resolve the recipe over Triton releases into CI jobs, one "
                       "per (release, framework, device): the NGC image that holds exactly "
                       "that release's framework (nvcr.io/nvidia/pytorch:<R>-py3, "
                       "nvcr.io/nvidia/tensorflow:<R>-tf2-py3 while Triton ships a TensorFlow "
                       "backend, nvcr.io/nvidia/tritonserver:<R>-py3 for ONNX Runtime and "
                       "TensorRT), the setup, `opforge build`, `opforge check` and `opforge "
                       "test` commands, and the artifact name. A combination opforge build "
                       "would refuse (unknown pin, no backend in that release, TensorRT "
                       "without IPluginV3) is listed as skipped with the reason. The ci/ "
                       "templates consume the output (docs/ci.md).",
                       epilog="job ids are RELEASE-FRAMEWORK-DEVICE, e.g. 24.09-pytorch-cpu; "
                       "--select and --skip take globs over them, like cibuildwheel's build "
                       "and skip selectors:\n"
                       "  opforge matrix recipe.toml --releases '24.*' --dry-run\n"
                       "  opforge matrix recipe.toml --releases 24.09,24.12 --skip '*-cuda' "
                       "--format gitlab > jobs.yml",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("recipe", type=Path)
    p.add_argument("--releases", metavar="LIST", help="releases or globs, comma- or "
                   "space-separated, e.g. 24.09,25.01 or '24.*' (default: target.release of "
                   "the recipe)")
    p.add_argument("--select", metavar="GLOBS", help="only jobs whose id matches one of these, "
                   "e.g. '*-pytorch-*'")
    p.add_argument("--skip", metavar="GLOBS", help="leave out jobs whose id matches one of "
                   "these, e.g. '*-cuda 24.0?-*'")
    p.add_argument("--format", choices=["github", "gitlab", "json"], default="json",
                   help="github: the `strategy.matrix` JSON on one line (for $GITHUB_OUTPUT); "
                   "gitlab: a child-pipeline YAML; json: the full plan (default)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved jobs and the "
                   "skipped ones as a table instead")
    p.add_argument("--install", metavar="SPEC", help="what each job pip-installs to get "
                   "opforge (default: $OPFORGE_INSTALL, else the wheel the plan job of the "
                   "ci/ templates builds, './opforge-dist/opforge-<version>-py3-none-any.whl"
                   "[cache]'); e.g. 'opforge[cache]==<version>' from a private index")
    p.add_argument("--cpu-runner", metavar="LABELS", help="GitHub runs-on labels / GitLab "
                   "tags of cpu jobs, comma-separated (default: ubuntu-latest / none)")
    p.add_argument("--gpu-runner", metavar="LABELS", help="of cuda jobs (default: "
                   "self-hosted,linux,x64,gpu / gpu)")


def _add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="what this machine can build: frameworks, SDKs, tools",
                       description="Report the installed frameworks and what they can build, "
                       "the SDKs found (and how to get missing ones), cmake/ninja/compiler/nvcc, "
                       "and for which Triton releases each framework can be built here.")
    _common(p)


def _add_sdk(sub) -> None:
    from opforge.toolchain import sdk  # the SDKs `opforge sdk fetch` can fetch: data/sdks.toml

    p = sub.add_parser("sdk", help="fetch SDKs that PyPI does not carry (ONNX Runtime headers)",
                       description="Download an SDK's official release archive into opforge's "
                       "cache, verify its sha256 (pinned in opforge's data, or --sha256), and "
                       "keep it only when it matches. Once cached it is used offline.")
    _common(p)
    p.add_argument("action", choices=["fetch", "where"])
    p.add_argument("name", choices=sdk.fetchable())
    p.add_argument("version", nargs="?", help="with fetch: e.g. 1.19.2 (the release's pin: "
                   "`opforge releases show R`)")
    p.add_argument("--url", help="download from here instead of the official URL (a mirror)")
    p.add_argument("--sha256", help="expected checksum, for versions opforge has none pinned")


def _add_new(sub) -> None:
    p = sub.add_parser("new", help="scaffold a recipe with a kernel and a test vector",
                       description="Create NAME/ with recipe.toml, a CPU kernel (and with "
                       "--cuda a CUDA kernel) and test vectors; it builds and passes as is "
                       "with --release local (frameworks not installed here are skipped "
                       "with how to get them).")
    _common(p)
    p.add_argument("name", help="folder to create; its last part names the package")
    p.add_argument("--namespace", help="op namespace (default: derived from NAME)")
    p.add_argument("--framework", action="append", metavar="NAME",
                   help="target framework (repeatable; default: every framework that runs on "
                   "the CPU - pytorch, tensorflow, onnxruntime - and with --cuda tensorrt too)")
    p.add_argument("--cuda", action="store_true",
                   help="also a CUDA kernel (devices cpu and cuda) and the TensorRT target; "
                   "builds where nvcc is found, runs on a GPU")
