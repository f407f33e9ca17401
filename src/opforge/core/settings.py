"""The settings that do not live in the recipe alone: each one typed, documented, and read
from its sources by one precedence rule.

    a command-line flag  >  an OPFORGE_* environment variable  >  the recipe  >  the default

A setting names the sources it has (not every setting has all four); an empty environment
variable counts as unset. `read()` resolves every setting at once into a `Settings`, and
remembers which source gave each value, for messages that name it. The model follows
scikit-build-core's (settings/skbuild_model.py: a dataclass, a docstring under each field,
the docs table generated from it; settings/sources.py: one chain of sources), and
docs/settings.md is generated from it:

    python -m opforge.core.settings          # rewrite docs/settings.md

tests/test_docs.py fails when the committed table differs from what this produces.

Not settings, although they are spelled OPFORGE_*: OPFORGE_JOB is a variable opforge sets in
the GitLab jobs it generates, and OPFORGE_CXX11_ABI / OPFORGE_KERNELS_LIB are CMake cache
variables of the projects it generates; opforge itself never reads them from its
environment.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT = "default"  # the origin of a value no source gave


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "opforge"


def _setting(default: Any = None, *, env: str, flag: str | None = None,
             recipe: str | None = None, parse: Callable[[str], Any] = str,
             default_factory: Callable[[], Any] | None = None, default_doc: str = ""):
    """A field of `Settings` with its sources: the environment variable, the command-line
    flag and the recipe key that set it, how the variable's text becomes the value, and how
    the default reads in the docs."""
    meta = {"env": env, "flag": flag, "recipe": recipe, "parse": parse,
            "default_factory": default_factory, "default_doc": default_doc}
    return field(default=default, metadata=meta)


def _lower(text: str) -> str:
    return text.lower()


@dataclass(frozen=True)
class Settings:
    """Every setting, resolved (`read()`); `origin(name)` says which source gave a value."""

    releases_file: Path | None = _setting(env="OPFORGE_RELEASES_FILE", flag="--releases-file",
                                          parse=Path, default_doc="none")
    """A TOML file of extra or overriding `[[release]]` entries, merged over opforge's release
    table field by field (docs/cli.md, "releases"). Every command that reads the release
    table reads it, and `opforge matrix` names it in every job it generates."""

    compiler_launcher: str = _setting("auto", env="OPFORGE_COMPILER_LAUNCHER",
                                      flag="--compiler-launcher",
                                      recipe="build.compiler_launcher")
    """The compile cache around every C++ and CUDA compile: "sccache", "ccache", a path to
    either, "none", or "auto" (sccache, else ccache, when found beside opforge's Python or
    on PATH)."""

    install: str | None = _setting(env="OPFORGE_INSTALL", flag="--install",
                                   default_doc="the wheel the plan job of the ci/ templates "
                                   "builds: `./opforge-dist/opforge-<version>-py3-none-any"
                                   ".whl[cache]`")
    """What each job of `opforge matrix` pip-installs to get opforge, e.g.
    `opforge[cache]==<version>` from a private index."""

    cache_dir: Path = _setting(env="OPFORGE_CACHE_DIR", parse=Path,
                               default_factory=_default_cache_dir,
                               default_doc="`$XDG_CACHE_HOME/opforge`, else `~/.cache/opforge`")
    """opforge's cache: framework probes, SDKs that `opforge sdk fetch` downloaded, compiled
    templates, tool versions, symbol tables and op inventories. Everything in it can be
    deleted; it is rebuilt when needed."""

    ci: str | None = _setting(env="OPFORGE_CI", parse=_lower,
                              default_doc="detected: GitHub Actions (GITHUB_ACTIONS=true), "
                              "GitLab CI (GITLAB_CI=true), else none")
    """Whose log format the output follows: "github" (collapsible groups, annotations),
    "gitlab" (collapsed sections) or "none" (plain)."""

    cmake: Path | None = _setting(env="OPFORGE_CMAKE", parse=Path,
                                  default_doc="the cmake wheel's, else PATH")
    """The cmake program to build with."""

    ninja: Path | None = _setting(env="OPFORGE_NINJA", parse=Path,
                                  default_doc="the ninja wheel's, else PATH")
    """The ninja program to build with."""

    nvcc: Path | None = _setting(env="OPFORGE_NVCC", parse=Path,
                                 default_doc="$CUDACXX, PATH, $CUDA_HOME, $CUDA_PATH, "
                                 "/usr/local/cuda (the first that runs)")
    """The CUDA compiler for CUDA kernels and glue; when set, nothing else is looked at."""

    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def origin(self, name: str) -> str:
        """Which source gave the setting: its flag ("--releases-file"), its variable
        ("$OPFORGE_RELEASES_FILE"), its recipe key ("build.compiler_launcher of the recipe")
        or "default"."""
        return self.origins.get(name, DEFAULT)


def fields() -> list[dataclasses.Field]:
    """The settings, in the order the docs list them."""
    return [f for f in dataclasses.fields(Settings) if "env" in f.metadata]


def spec(name: str) -> dataclasses.Field:
    return next(f for f in fields() if f.name == name)


def env_var(name: str) -> str:
    """The environment variable of a setting, e.g. OPFORGE_RELEASES_FILE."""
    return spec(name).metadata["env"]


def read(flags: Mapping[str, Any] | None = None, recipe: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Every setting from its sources, first found wins: `flags` (command-line values by
    setting name, None for a flag not given), the environment, `recipe` (recipe values by
    setting name), the default."""
    flags, recipe = flags or {}, recipe or {}
    environ = os.environ if environ is None else environ
    values, origins = {}, {}
    for f in fields():
        meta = f.metadata
        found = [(flags.get(f.name) if meta["flag"] else None, meta["flag"]),
                 (environ.get(meta["env"]) or None, f"${meta['env']}"),
                 (recipe.get(f.name) if meta["recipe"] else None,
                  f"{meta['recipe']} of the recipe")]
        value, origin = next(((v, o) for v, o in found if v is not None), (None, DEFAULT))
        if origin == f"${meta['env']}":
            value = meta["parse"](value)
        elif origin == DEFAULT:
            value = meta["default_factory"]() if meta["default_factory"] else f.default
        values[f.name] = value
        if origin != DEFAULT:
            origins[f.name] = origin
    return Settings(**values, origins=origins)


def cache_dir() -> Path:
    """opforge's cache folder ($OPFORGE_CACHE_DIR, else the XDG cache)."""
    return read().cache_dir


# --- the docs table ------------------------------------------------------------------------


def docstrings() -> dict[str, str]:
    """Each setting's docstring: the string under its field, as scikit-build-core's docs
    generator reads them."""
    tree = ast.parse(inspect.getsource(Settings))
    body = tree.body[0].body
    found = {}
    for stmt, after in zip(body, body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)):
            found[stmt.target.id] = inspect.cleandoc(after.value.value)
    return found


def render_markdown() -> str:
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    docs = docstrings()
    out = ["<!-- generated by `python -m opforge.core.settings` from "
           "src/opforge/core/settings.py; do not edit -->", "# Settings", "",
           "Settings that a command-line flag, an environment variable or the recipe can "
           "give. One rule decides between them: a flag beats the environment variable, which "
           "beats the recipe, which beats the default. An empty variable counts as unset. "
           "Everything else is in the recipe ([recipe.md](recipe.md)) or a command's flags "
           "([cli.md](cli.md)).", "",
           "| setting | flag | environment | recipe | default | meaning |",
           "|---|---|---|---|---|---|"]
    for f in fields():
        meta = f.metadata
        default = meta["default_doc"] or f"`{json.dumps(f.default)}`"
        out.append(" | ".join([
            f"| `{f.name}`", f"`{meta['flag']}`" if meta["flag"] else "-", f"`{meta['env']}`",
            f"`{meta['recipe']}`" if meta["recipe"] else "-", cell(default),
            cell(docs[f.name])]) + " |")
    return "\n".join(out) + "\n"


def docs_path() -> Path:
    return Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) / "settings.md" if argv else docs_path()
    path.write_text(render_markdown(), "utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
