"""TensorFlow: ops registered with REGISTER_OP and an OpKernel, loaded by Triton's
TensorFlow backend through LD_PRELOAD or model_operations (releases up to 25.02)."""

from __future__ import annotations

from typing import Any

from opforge.frameworks.base import WheelFramework
from opforge.frameworks.tensorflow import ci, codegen, loader, repository, types
from opforge.frameworks.tensorflow.codegen import tf_op_name

from opforge.core.errors import ReleaseError

_PROBE = r"""
import json, os, re
import tensorflow as tf
flags = tf.sysconfig.get_compile_flags()
link = tf.sysconfig.get_link_flags()
lib_dir = next(f[2:] for f in link if f.startswith("-L"))
libs = []
for f in link:
    if f.startswith("-l:"):
        libs.append(os.path.join(lib_dir, f[3:]))
    elif f.startswith("-l"):
        libs.append(os.path.join(lib_dir, "lib" + f[2:] + ".so"))
std = next((int(m.group(1)) for f in flags for m in [re.search(r"std=c\+\+(\d+)", f)] if m), 17)
print(json.dumps({
    "framework": "tensorflow",
    "version": tf.__version__,
    "location": os.path.dirname(tf.__file__),
    "include_dirs": [f[2:] for f in flags if f.startswith("-I")],
    "link_libraries": libs,
    "definitions": [f[2:] for f in flags if f.startswith("-D")
                    and not f.startswith("-D_GLIBCXX_USE_CXX11_ABI")],
    "cxx_standard": std,
    "cxx11_abi": int(tf.sysconfig.CXX11_ABI_FLAG),
    "extra": {"compile_flags": flags, "link_flags": link},
}))
"""

# The first release without Triton's TensorFlow backend.
TF_BACKEND_REMOVED = (25, 3)


def python_name(op_name: str) -> str:
    """The function name TensorFlow gives an op's Python wrapper ('Acme>AddSub' -> acme_add_sub,
    'Fp8>ToFloat8E4M3' -> fp8_to_float8e4m3), as its GenerateLowerCaseOpName makes it: '>'
    becomes '_', and '_' goes before a capital that follows a lower-case letter or precedes
    one (digits are neither)."""
    out = []
    for i, c in enumerate(op_name):
        if c == ">":
            out.append("_")
            continue
        if c.isupper() and i > 0 and op_name[i - 1] != ">" and (
                op_name[i - 1].islower() or op_name[i + 1:i + 2].islower()):
            out.append("_")
        out.append(c.lower())
    return "".join(out)


class TensorFlow(WheelFramework):
    name = "tensorflow"
    title = "TensorFlow"
    pin_key = "tensorflow"
    distributions = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly")
    install_hint = "pip install 'opforge[tensorflow]'"
    backend_libraries = "tensorflow"
    triton_loading = ("model_operations { op_library_filename } in config.pbtxt, or LD_PRELOAD "
                      "(TensorFlow backend)")
    probe = _PROBE
    container_variable = "NVIDIA_TENSORFLOW_VERSION"  # its NGC containers set it

    def check_release(self, release) -> None:
        if not self.ships_backend(release):
            raise ReleaseError(
                f"Triton release {release.id} has no TensorFlow backend: Triton removed it "
                f"in 25.03, so a TensorFlow op library cannot be served by {release.id}. "
                f"Build tensorflow for 25.02 or earlier, or drop it from target.frameworks "
                f"(or pass --framework for the others).")

    def op_identity(self, recipe, op, native: bool = False) -> str:
        return op.name if native else tf_op_name(recipe.package.namespace, op.name)

    def call_op(self, handle: Any, recipe: dict, op: dict, inputs: dict, attrs: dict,
                device: str = "cpu") -> dict:
        import tensorflow as tf

        name = op["name"] if op.get("native") else tf_op_name(recipe["namespace"], op["name"])
        fn = getattr(handle, python_name(name))
        with tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
            # an optional input is a list: [] absent, [value] given
            result = fn(**{i["name"]: ([inputs[i["name"]]] if i["name"] in inputs else [])
                           if i.get("optional") else inputs[i["name"]]
                           for i in op["inputs"]}, **attrs)
        if not isinstance(result, list | tuple):
            result = (result,)
        return {o["name"]: r.numpy() for o, r in zip(op["outputs"], result)}

    # --- model repository (deploy) ---
    def ships_backend(self, release) -> bool:
        if release.is_local:
            return True
        return not (release.ordinal >= TF_BACKEND_REMOVED
                    or release.pin("tensorflow_backend").value.startswith("not shipped"))

    # --- artifacts (runtime loader, inventory, audit) ---
    framework_libraries = (r"libtensorflow_framework\.so(\.\d+)?",
                           r"libtensorflow_cc\.so(\.\d+)?")
    required_entry_points = ()
    optional_entry_point_advice = ("", "")  # no entry points

    # --- code generation and the recipe (codegen, recipe) ---
    def namespace_problem(self, namespace: str) -> str | None:
        if (prefix := tf_op_name(namespace, "")) in codegen.RESERVED_PREFIXES:
            return (f"{namespace!r} names TensorFlow ops {prefix}<Op>, a prefix TensorFlow's "
                    f"own ops use; choose a namespace of your own")
        return super().namespace_problem(namespace)

    def op_problems(self, op, devices: list[str]) -> list[tuple[tuple, str]]:
        """REGISTER_OP reads the names of a type attr's list as letters and digits
        (ConsumeAttrType): float8_e4m3fn reads as float8, which is no type. The OpKernel's
        context is `c` in the glue, where outputs are variables named after themselves."""
        problems = [(("types", var), f"TensorFlow's op registry cannot list {d} in a type "
                                     f"variable (it reads the name as far as the first '_'); "
                                     f"give the argument the concrete dtype {d} instead (an op "
                                     f"per FP8 format), or build this op in a recipe without "
                                     f"tensorflow")
                    for var, options in op.types.items() for d in options if "_" in d][:1]
        problems += [(("outputs", i, "name"), f"the TensorFlow glue names its OpKernelContext "
                                              f"'c'; give output {t.name!r} another name")
                     for i, t in enumerate(op.outputs) if t.name == "c"]
        return problems


ADAPTER = TensorFlow(ci=ci, codegen=codegen, loader=loader, repository=repository,
                     types=types)
