"""Package: turn built libraries into artifact folders with a manifest and the loader.

    <out>/<release>/<framework>/lib<package>_<framework>.so
    <out>/<release>/<framework>/manifest.json
    <out>/<release>/<framework>/opforge_runtime.py   the runtime loader (loader.shipped_source)

Publishing is atomic per build: everything is staged in a temporary folder beside the
output and only renamed into place once every framework has built; a failed build leaves
the previous artifacts untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from opforge import __version__
from opforge.artifacts import loader, runtime
from opforge.build.plan import BuildPlan, FrameworkBuild
from opforge.recipe import Output, shapes

RUNTIME_NAME = "opforge_runtime.py"


def op_inventory(plan: BuildPlan, fb: FrameworkBuild) -> list[dict]:
    """Every op the library registers: the recipe's kernel ops, then its native ops for
    this framework."""
    recipe, fw = plan.recipe, fb.framework
    kernel_ops = [{**signature(op, fw.op_identity(recipe, op)),
                   "devices": op.kernel_devices(plan.devices)} for op in plan.ops]
    native_ops = [{**signature(op, fw.op_identity(recipe, op, native=True)), "native": True,
                   "sources": list(native.sources)}  # relative to the recipe
                  for native in recipe.native_for(fw.name) for op in native.ops]
    return kernel_ops + native_ops


def signature(op, identity: str) -> dict:
    """An op's signature as the manifest records it (outputs with their shape rule, where
    the op has one)."""
    def tensor(t) -> dict:
        entry = {"name": t.name, "dtype": t.dtype, "dtypes": op.dtype_options(t.dtype)}
        if isinstance(t, Output):
            return {**entry, "shape": t.shape}
        # what a kernel op's glue checks of an input before the kernel runs
        declared = {k: getattr(t, k) for k in ("rank", "shape") if getattr(t, k, None) is not None}
        return {**entry, **declared, **({"optional": True} if getattr(t, "optional", False)
                                        else {})}

    entry = {"name": op.name, "identity": identity, "doc": op.doc,
             "inputs": [tensor(t) for t in op.inputs], "outputs": [tensor(t) for t in op.outputs],
             "attrs": [{"name": a.name, "type": a.type, "default": a.default} for a in op.attrs],
             "types": {k: list(v) for k, v in op.types.items()}}
    if getattr(op, "constraints", None):
        entry["constraints"] = list(op.constraints)
    if getattr(op, "scratch", None):
        entry["scratch"] = [{"name": b.name, "dtype": b.dtype, "shape": b.shape}
                            for b in op.scratch]
    if getattr(op, "dynamic_dims", None):  # what a loader computes fake outputs from
        scope = op.shape_scope(dynamic=True)
        entry["dynamic_dims"] = [{"name": d.name, "max": d.max,
                                  "bound": shapes.dim_json(shapes.parse_dim(d.max, scope))}
                                 for d in op.dynamic_dims]
        entry["output_rules"] = [shapes.rule_json(op.shape_rule(t)) for t in op.outputs]
    return entry


def release_pins(plan: BuildPlan) -> dict[str, str]:
    """The release's known pins, with those the build established itself: for `local` the
    versions installed here, elsewhere the pins an NGC container proved."""
    if plan.release.is_local:
        return {b.framework.pin_key: b.toolchain.version for b in plan.builds.values()}
    return {**{p.key: p.value for p in plan.release.ordered_pins() if p.known},
            **{b.verdict.key: b.verdict.pin for b in plan.builds.values()
               if b.verdict.provenance == "container label"}}


def manifest_for(plan: BuildPlan, fb: FrameworkBuild, files: dict[str, str]) -> dict:
    tc = fb.toolchain
    release = plan.release
    return {
        "schema": runtime.SCHEMA,
        "created_by": f"opforge {__version__}",
        "package": plan.recipe.package.model_dump(),
        "library": fb.library.name,
        "framework": {"name": fb.framework.name, "title": fb.framework.title,
                      "version": tc.version, "pin": fb.verdict.pin,
                      "version_policy": fb.verdict.policy,
                      # how the pin was established: table, releases file, container label,
                      # local; and what proved it
                      "pin_provenance": fb.verdict.to_json(),
                      "compatibility": tc.extra.get("compatibility", fb.framework.compatibility),
                      # a stable-ABI library: the oldest version it loads in (runtime's rule)
                      **({"abi_target": tc.extra["abi_target"]} if "abi_target" in tc.extra
                         else {}),
                      "cxx11_abi": tc.cxx11_abi,
                      "cxx_standard": tc.cxx_standard, "location": tc.location},
        "release": {"id": release.id, "origin": release.origin, "pins": release_pins(plan)},
        "recipe": str(plan.recipe.path),
        "devices": plan.devices,
        "ops": op_inventory(plan, fb),
        "triton": {"loading": fb.framework.triton_loading},
        "build": {**plan.tools.to_json(), **built_with(fb)},
        "cuda": cuda_section(plan, fb),
        "files": files,
    }


def built_with(fb: FrameworkBuild) -> dict:
    """How CMake compiled and linked the library, as its File API reply says (not what
    opforge asked for): the C++ flags, definitions and include folders of its C++ sources,
    and the shared libraries from outside the project it links."""
    compiled = fb.target.compile_group("CXX")
    return {"include_dirs": compiled.includes,
            "link_libraries": fb.target.linked_shared_libraries(),
            "definitions": compiled.defines, "cxx_flags": fb.target.cxx_flags()}


def cuda_section(plan: BuildPlan, fb: FrameworkBuild) -> dict | None:
    """The CUDA build of a library: what was asked for, and what the binary really holds."""
    if plan.nvcc is None:
        return None
    from opforge.toolchain import cuda

    return {"nvcc": plan.nvcc.version, "runtime": "static",
            "release_cuda": cuda.release_cuda(plan.release, plan.nvcc),
            "requested": plan.archs.to_json() if plan.archs else None,
            "fatbin": cuda.fatbin_archs(fb.library)}


def _stage_framework(plan: BuildPlan, fb: FrameworkBuild, folder: Path) -> dict:
    folder.mkdir(parents=True)
    shutil.copy2(fb.library, folder / fb.library.name)
    (folder / RUNTIME_NAME).write_text(loader.shipped_source(), "utf-8")
    files = {name: runtime.sha256_file(folder / name) for name in (fb.library.name, RUNTIME_NAME)}
    manifest = manifest_for(plan, fb, files)
    _write_manifest(folder, manifest)
    return manifest


def record_inventories(manifests: dict[str, dict], folder: Path) -> None:
    """Load each staged library in a child and write what it registered into its manifest
    ("registered"), so that `opforge check` can compare libraries without loading them."""
    from opforge.artifacts import inventory

    def take(name: str) -> inventory.Inventory:
        staged = folder / name
        return inventory.take(staged / manifests[name]["library"], staged / runtime.MANIFEST)

    with ThreadPoolExecutor(max_workers=max(1, len(manifests))) as pool:
        taken = dict(zip(manifests, pool.map(take, manifests)))
    for name, manifest in manifests.items():
        manifest["registered"] = taken[name].to_json()
        _write_manifest(folder / name, manifest)


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / runtime.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")


def publish(plan: BuildPlan) -> list[dict]:
    release_dir = plan.out_dir / plan.release.id
    release_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=release_dir))
    try:
        manifests = {name: _stage_framework(plan, fb, staging / name)
                     for name, fb in plan.builds.items()}
        record_inventories(manifests, staging)
        for name in plan.builds:
            final = release_dir / name
            old = release_dir / f".old-{name}-{os.getpid()}"
            if final.exists():
                final.rename(old)
            (staging / name).rename(final)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [{"framework": name, "version": m["framework"]["version"],
             "pin": m["framework"]["pin_provenance"],
             "library": str(release_dir / name / m["library"]),
             "manifest": str(release_dir / name / runtime.MANIFEST),
             "ops": [op["identity"] for op in m["ops"]]}
            for name, m in manifests.items()]
