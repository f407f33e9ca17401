"""`opforge check`: an ELF audit of op libraries against a Triton release, with pyelftools.

Each finding has a severity (error / warning / info), a code, what was found and how to fix
it. What is checked, per library:
  needed      every DT_NEEDED is something the target provides: the framework's libraries,
              the C/C++ runtime of the release's Ubuntu, CUDA (linked statically by opforge)
  versions    the highest GLIBC / GLIBCXX / CXXABI symbol versions required, against the
              ceiling of the release's Ubuntu
  abi         no pre-CXX11 std::string symbols in a CXX11 target, and the reverse
  undefined   unversioned undefined symbols are defined by the framework's libraries (when
              they are on this machine to look at)
  exports     nothing exported beyond the framework's entry points (where it has fixed ones)
  cuda        the fatbin holds code every GPU of the release can run: SASS for or below its
              minimum compute capability, or PTX at or below it
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from opforge.toolchain import cuda
from opforge import frameworks, releases
from opforge.artifacts import inventory, runtime
from opforge.core import settings
from opforge.core.errors import OpforgeError, UserError
from opforge.core.files import cached_per_file
from opforge.core.settings import cache_dir
from opforge.releases import UBUNTU_CEILINGS, Release

SYSTEM_LIBRARIES = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                    "ld-linux-x86-64.so.2", "libstdc++.so.6", "libgcc_s.so.1"}
_OLD_STRING = re.compile(r"_ZNK?Ss|[RP]K?Ss|Ss$|Ss[EI]")
_VERSIONED = re.compile(r"^(GLIBC|GLIBCXX|CXXABI)_(\d+(?:\.\d+)*)$")


@dataclass
class Finding:
    severity: str  # "error" | "warning" | "info"
    code: str
    message: str
    fix: str = ""


@dataclass
class LibraryReport:
    library: str
    framework: str | None
    release: str | None
    findings: list[Finding] = field(default_factory=list)
    registered: dict | None = None  # the op inventory, when one was taken or recorded
    # the command that makes the library for the release again, when it is not valid there
    # (None: valid, or nothing to rebuild: the release has no backend for it)
    rebuild: str | None = None
    pin_known: bool = True  # False: the release's pin is unknown, validity cannot be told

    @property
    def valid(self) -> bool | None:
        """Whether the library is valid for the release: no error; None when the release's
        pin of its framework is unknown."""
        if self.errors:
            return False
        return True if self.pin_known else None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def add(self, severity: str, code: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(severity, code, message, fix))

    def to_json(self) -> dict:
        return {"library": self.library, "framework": self.framework, "release": self.release,
                "ok": not self.errors, "findings": [asdict(f) for f in self.findings],
                "registered": self.registered, "valid": self.valid, "rebuild": self.rebuild}


@dataclass(frozen=True)
class ElfFacts:
    """What the audit reads from one library."""

    needed: list[str]
    required_versions: dict[str, list[str]]  # GLIBC/GLIBCXX/CXXABI -> versions required
    undefined: list[str]  # unversioned, non-weak undefined dynamic symbols
    defined: list[str]  # exported (global or weak, defined) dynamic symbols
    fatbin: dict[str, list[int]]
    names: list[str] = field(default_factory=list)  # every dynamic symbol, for the ABI check
    search_paths: list[str] = field(default_factory=list)  # DT_RPATH and DT_RUNPATH entries


def read_elf(path: Path) -> ElfFacts:
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection

    try:
        fh = path.open("rb")
        elf = ELFFile(fh)
    except (OSError, ELFError) as exc:
        raise UserError(f"{path}: not a readable ELF shared library ({exc})") from None
    with fh:
        needed, versions, index_names, search = [], {}, {}, []
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif tag.entry.d_tag in ("DT_RPATH", "DT_RUNPATH"):
                        text = tag.rpath if tag.entry.d_tag == "DT_RPATH" else tag.runpath
                        search += [p for p in text.split(":") if p]
            elif isinstance(section, GNUVerNeedSection):
                for _, aux_list in section.iter_versions():
                    for aux in aux_list:
                        index_names[aux.entry["vna_other"]] = aux.name
                        match = _VERSIONED.match(aux.name)
                        if match:
                            versions.setdefault(match[1], []).append(match[2])
        symver = next((s for s in elf.iter_sections() if isinstance(s, GNUVerSymSection)), None)
        dynsym = elf.get_section_by_name(".dynsym")
        undefined, defined, names = [], [], []
        for i, sym in enumerate(dynsym.iter_symbols() if dynsym else []):
            if not sym.name:
                continue
            names.append(sym.name)
            bind = sym["st_info"]["bind"]
            if sym["st_shndx"] == "SHN_UNDEF":
                ndx = symver.get_symbol(i).entry["ndx"] if symver else 0
                versioned = isinstance(ndx, int) and ndx in index_names
                if bind != "STB_WEAK" and not versioned:
                    undefined.append(sym.name)
            elif bind in ("STB_GLOBAL", "STB_WEAK") and sym["st_other"]["visibility"] in (
                    "STV_DEFAULT", "STV_PROTECTED"):
                defined.append(sym.name)
        fatbin = cuda.fatbin_archs_in(elf)
    return ElfFacts(needed, versions, undefined, defined, fatbin, names, search)


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _framework_symbols(manifest: dict | None) -> set[str] | None:
    """Dynamic symbols the framework's own libraries define, when they are on this machine."""
    if manifest is None:
        return None
    libs = [Path(p) for p in manifest.get("build", {}).get("link_libraries", [])]
    libs = [p for p in libs if p.is_file()]
    if not libs:
        return None
    symbols: set[str] = set()
    for lib in libs:
        symbols.update(_defined_symbols(lib))
    return symbols


def _defined_symbols(lib: Path) -> list[str]:
    """A framework library's exported symbols, cached per file (reading libtensorflow_
    framework's takes seconds; a no-op build must not pay that each time)."""
    return cached_per_file(cache_dir() / "symbols", lib,
                           lambda: "\n".join(read_elf(lib).defined)).splitlines()


def audit(library: Path, manifest: dict | None, release,
          registered: inventory.Inventory | None = None,
          no_release: str = "") -> LibraryReport:
    """The ELF checks; with `registered` (what loading the library registered, or why it
    was not loaded) also the op inventory against the manifest's declared ops. Without a
    release (`no_release` says why) the checks against one are reported as not done."""
    framework = manifest["framework"]["name"] if manifest else None
    report = LibraryReport(str(library), framework, release.id if release else None)
    facts = read_elf(library)
    if release is None:
        _no_release(report, facts, no_release)
    _check_needed(report, facts, framework)
    _check_search_paths(report, facts)
    _check_versions(report, facts, release)
    rebuild = None
    if manifest is not None and release is not None and not release.is_local:
        rebuild = _check_framework_version(report, manifest, release)
    if manifest is not None:
        _check_abi(report, facts, manifest["framework"].get("cxx11_abi"))
        _check_undefined(report, facts, manifest)
        _check_exports(report, facts, framework)
    _check_cuda(report, facts, release)
    if manifest is not None and registered is not None:
        report.registered = registered.to_json()
        _check_inventory(report, registered, manifest)
    if report.valid is not True:
        report.rebuild = rebuild
    return report


def _no_release(report: LibraryReport, facts: ElfFacts, why: str) -> None:
    skipped = "GLIBC/GLIBCXX/CXXABI versions against its Ubuntu" + (
        " and CUDA code against its minimum compute capability"
        if facts.fatbin["sass"] or facts.fatbin["ptx"] else "")
    report.add("warning", "release", f"no release to check against ({why or 'none given'}): "
               f"{skipped} not checked",
               "give --release R, or --releases-file with the release the library was "
               "built for")


def _check_inventory(report: LibraryReport, registered: inventory.Inventory,
                     manifest: dict) -> None:
    title = manifest["framework"]["title"]
    if registered.error:
        report.add("error", "load", f"loading it into {title} failed: {registered.error}",
                   "run `opforge test` on its recipe for the framework's full message; "
                   "rebuild against the framework version it is loaded into")
        return
    if registered.skipped:
        report.add("info", "inventory", f"not loaded here ({registered.skipped}); op clashes "
                   "are checked from the manifest's declared ops")
        return
    found = registered.identities()
    when = " (recorded when it was built)" if registered.recorded else ""
    report.add("info", "inventory", f"registers {len(found)} op(s) in "
               f"{registered.loaded_with}{when}: {', '.join(sorted(found)) or 'none'}")
    for clash in registered.builtin_clashes:
        report.add("error", "clash", f"{clash['identity']} clashes with {clash['with']}: "
                   f"{title} refuses it or it silently replaces the built-in",
                   "give the op another name, or the recipe another namespace")
    declared = {op["identity"] for op in manifest.get("ops", [])}
    refused = {clash["identity"] for clash in registered.builtin_clashes}
    for identity in sorted(declared - found - refused):
        report.add("error", "inventory", f"declares {identity}, but loading the library "
                   f"registered no such op",
                   "make the sources register it under that name (native ops are named as "
                   "their sources register them), or correct the recipe")
    for identity in sorted(found - declared):
        report.add("warning", "inventory", f"registers {identity}, which its manifest does "
                   f"not declare: packaging and clash checks from manifests miss it",
                   "declare it in the recipe (an op of its [[native]] block)")


def _check_needed(report: LibraryReport, facts: ElfFacts, framework: str | None) -> None:
    adapter = frameworks.registry().get(framework or "")
    patterns = adapter.framework_libraries if adapter is not None else ()
    for name in facts.needed:
        if name in SYSTEM_LIBRARIES or any(re.fullmatch(p, name) for p in patterns):
            continue
        if name.startswith("libcudart.so"):
            report.add("warning", "needed", f"needs {name}: the CUDA runtime must be found at "
                       "load time, in the version it was built with",
                       "link the CUDA runtime statically (opforge does: CUDA::cudart_static)")
            continue
        where = f"{framework} in Triton" if framework else "the target"
        report.add("error", "needed", f"needs {name}, which {where} does not provide",
                   "link it statically, or ship it and put it on LD_LIBRARY_PATH in the "
                   "launch; a framework library must come from the framework itself")


def _check_search_paths(report: LibraryReport, facts: ElfFacts) -> None:
    """An RPATH/RUNPATH entry outside the artifact's own folder names a place on the build
    machine (a venv's site-packages/torch/lib, say): in Triton's container the framework's
    libraries come from its backend folder, and the path either misses or, worse, finds
    other copies of them."""
    outside = [p for p in facts.search_paths
               if not (p == "$ORIGIN" or (p.startswith("$ORIGIN/") and ".." not in p.split("/")))]
    if outside:
        report.add("error", "runpath", f"its RPATH/RUNPATH points outside the artifact: "
                   f"{', '.join(outside)}: the framework's libraries must come from where the "
                   f"library is loaded (Triton's backend folder on LD_LIBRARY_PATH), not from "
                   f"the machine it was built on",
                   "link without a build RPATH (CMake: SKIP_BUILD_RPATH ON; opforge's "
                   "libraries do), or remove it: patchelf --remove-rpath LIBRARY")


def _check_versions(report: LibraryReport, facts: ElfFacts, release) -> None:
    ubuntu = release.pin("ubuntu").value if release is not None else ""
    ceilings = UBUNTU_CEILINGS.get(ubuntu)
    if release is not None and not release.is_local and ceilings is None \
            and facts.required_versions:
        known = ", ".join(UBUNTU_CEILINGS)
        if ubuntu:
            report.add("warning", "versions", f"release {release.id} is on Ubuntu {ubuntu}, "
                       f"whose glibc/libstdc++ ceilings opforge does not know (it knows "
                       f"{known}): symbol versions not checked")
        else:
            report.add("warning", "versions", f"release {release.id} has no Ubuntu known: "
                       f"symbol versions not checked against its glibc/libstdc++",
                       f"give its ubuntu ({known}) in a --releases-file")
    for prefix, versions in sorted(facts.required_versions.items()):
        highest = max(versions, key=_version_key)
        if ceilings is None:
            local = release is not None and release.is_local
            report.add("info", "versions", f"needs {prefix}_{highest} at most"
                       + (" (release local: this machine provides it)" if local else ""))
            continue
        ceiling = ceilings[prefix]
        if _version_key(highest) > _version_key(ceiling):
            report.add("error", "versions",
                       f"needs {prefix}_{highest}, but Ubuntu {ubuntu} (release {release.id}) "
                       f"provides up to {prefix}_{ceiling}: it will not load there",
                       f"build inside the release's NGC container (Ubuntu {ubuntu}), or with "
                       f"a toolchain no newer than its GCC/glibc")
        else:
            report.add("info", "versions", f"needs {prefix}_{highest}; Ubuntu {ubuntu} "
                       f"provides up to {prefix}_{ceiling}")


def _check_framework_version(report: LibraryReport, manifest: dict, release: Release
                             ) -> str | None:
    """The framework's own rule (the runtime loader's) between the version the library was
    built for and the one the release runs; an unknown pin is told as such. Returns the
    command that makes the library for the release (None where none can)."""
    fw = frameworks.registry().get(manifest["framework"]["name"])
    if fw is None:
        return None
    command = (f"opforge build {manifest.get('recipe') or 'RECIPE'} --release {release.id} "
               f"--framework {fw.name}")
    where = f" (inside {fw.ci_image(release)})" if not fw.ci_image_missing(release) else ""
    try:
        fw.check_release(release)
    except OpforgeError as exc:
        report.add("error", "release", exc.message, "no rebuild makes it load there: serve "
                   "its models with an older release, or move them to another framework")
        return None
    pin = release.pin(fw.pin_key).value
    if not pin and manifest["release"]["id"] == release.id:
        pin = manifest["release"]["pins"].get(fw.pin_key, "")  # proven when it was built
    if not pin:
        report.pin_known = False
        report.add("warning", "release", f"Triton {release.id}'s {fw.title} version is "
                   f"unknown: whether the library (built for {fw.title} "
                   f"{manifest['framework']['version']}) loads there cannot be told",
                   f"rebuild it in the release's container, which proves the pin: "
                   f"{command}{where}; or give {fw.pin_key} in a --releases-file")
        return command + where
    why = frameworks.release_refusal(fw, manifest["framework"], pin)
    if why is None:
        report.add("info", "release", f"loads in Triton {release.id} ({fw.title} {pin}, "
                   f"{fw.compatibility})")
    else:
        report.add("error", "release", f"does not load in Triton {release.id} ({fw.title} "
                   f"{pin}, {fw.compatibility}): {why}", f"rebuild it: {command}{where}")
    return command + where


def _check_abi(report: LibraryReport, facts: ElfFacts, cxx11_abi) -> None:
    # pre-CXX11 std::string mangles as the substitution "Ss" (_ZNSs..., RKSs, ...Ss at the
    # end); the CXX11 one lives in namespace std::__cxx11
    old = sorted({n for n in facts.names if _OLD_STRING.search(n) and "__cxx11" not in n})
    new = sorted({n for n in facts.names if "__cxx11" in n})
    if cxx11_abi == 1 and old:
        report.add("error", "abi", f"{len(old)} pre-CXX11 std::string symbol(s) in a "
                   f"_GLIBCXX_USE_CXX11_ABI=1 target, e.g. {old[0]}",
                   "compile every source with -D_GLIBCXX_USE_CXX11_ABI=1, as the framework was")
    if cxx11_abi == 0 and new:
        report.add("error", "abi", f"{len(new)} CXX11 std::string symbol(s) in a "
                   f"_GLIBCXX_USE_CXX11_ABI=0 target, e.g. {new[0]}",
                   "compile every source with -D_GLIBCXX_USE_CXX11_ABI=0, as the framework was")


def _check_undefined(report: LibraryReport, facts: ElfFacts, manifest: dict) -> None:
    if not facts.undefined:
        return
    provided = _framework_symbols(manifest)
    if provided is None:
        report.add("info", "undefined", f"{len(facts.undefined)} unversioned undefined "
                   f"symbol(s) not checked: the framework's libraries are not on this machine")
        return
    missing = sorted(set(facts.undefined) - provided)
    if missing:
        report.add("error", "undefined", f"{len(missing)} undefined symbol(s) that "
                   f"{manifest['framework']['title']} {manifest['framework']['version']} does "
                   f"not define, e.g. {missing[0]}: loading fails with `undefined symbol`",
                   "build against the framework version the library is loaded into")


def _check_exports(report: LibraryReport, facts: ElfFacts, framework: str | None) -> None:
    adapter = frameworks.registry().get(framework or "")
    if adapter is None:
        report.add("info", "exports", f"exports {len(facts.defined)} dynamic symbol(s)")
        return
    entry_points = set(adapter.exported_symbols)
    # the linker's own markers, exported by every library built without a version script
    extra = sorted(set(facts.defined) - entry_points - {"_end", "_edata", "__bss_start",
                                                        "_init", "_fini"})
    if extra:
        beyond = ", ".join(sorted(entry_points)) or "nothing (its ops register when it loads)"
        report.add("warning", "exports", f"exports {len(extra)} symbol(s) where {framework} "
                   f"needs {beyond}, e.g. {extra[0]}: in one tritonserver they can bind "
                   f"another library's references (or be bound by them)",
                   "hide them: -fvisibility=hidden, a version script exporting only the "
                   "entry points, and -Wl,-Bsymbolic (opforge's generated libraries do)")
    for name in sorted(entry_points - set(facts.defined)):
        if name in adapter.required_entry_points:
            report.add("error", "exports", f"does not export {name}, which "
                       f"{framework} looks up to load the library",
                       f"define {name} with default visibility")
        else:
            needed_by, fix = adapter.optional_entry_point_advice
            report.add("warning", "exports", f"does not export {name}: {needed_by}",
                       fix.format(name=name))


def _check_cuda(report: LibraryReport, facts: ElfFacts, release) -> None:
    sass, ptx = facts.fatbin["sass"], facts.fatbin["ptx"]
    if not sass and not ptx:
        return
    report.add("info", "cuda", f"device code: SASS {', '.join(f'sm_{a}' for a in sass) or '-'}"
               f"; PTX {', '.join(f'compute_{a}' for a in ptx) or '-'}")
    if release is None or release.is_local:
        return
    pin = release.pin("min_compute_capability")
    if not pin.known:
        report.add("warning", "cuda", f"release {release.id} has no minimum compute "
                   f"capability known: its GPUs' support not checked",
                   "give the release's min_compute_capability in a --releases-file")
        return
    major, _, minor = pin.value.partition(".")
    oldest = int(major) * 10 + int(minor or 0)
    if not any(a <= oldest for a in sass) and not any(a <= oldest for a in ptx):
        report.add("error", "cuda", f"no code for GPUs of compute capability {pin.value} "
                   f"(release {release.id}'s minimum): the oldest SASS is "
                   f"sm_{min(sass) if sass else '-'} and the oldest PTX "
                   f"compute_{min(ptx) if ptx else '-'}",
                   f"add sm_{oldest} to target.cuda_archs, or leave the release's default")


# --- entry ---------------------------------------------------------------------------


def print_report(report: LibraryReport, verbose: bool = True) -> None:
    from opforge.core import log, tables

    colours = {"error": "red", "warning": "yellow", "info": "dim"}
    verdict = (log.style("FAIL", "red", "bold") if report.errors else log.style("ok", "green"))
    print(f"{verdict}  {report.library}  ({report.framework or 'unknown framework'}, "
          f"release {report.release or 'unknown'})")
    for f in report.findings:
        if f.severity == "info" and not verbose:
            continue
        rows = [[log.style(f.severity, colours[f.severity]), f.code, f.message]]
        if f.fix and f.severity != "info":
            rows.append(["", "", f"fix: {f.fix}"])
        for line in tables.lines(rows, (8, 10), gap=" ", indent="  "):
            print(line)
    if report.release and report.valid is not True:
        verdict = "cannot tell" if report.valid is None else "no"
        print(f"  valid for {report.release}: {verdict}"
              + (f"; rebuild: {report.rebuild}" if report.rebuild else ""))


def targets(paths: list[Path]) -> list[tuple[Path, dict | None]]:
    """(library, manifest or None) for each path: an artifact folder, a manifest.json, or a
    library file (its folder's manifest is used when there is one)."""
    found = []
    for path in paths:
        if path.is_dir() or path.name == runtime.MANIFEST:
            try:
                manifest = runtime.read_manifest(path)
            except runtime.LoadRefused as exc:
                raise UserError(f"{path}: {exc}") from None
            folder = path if path.is_dir() else path.parent
            found.append((folder / manifest["library"], manifest))
        elif path.is_file():
            beside = path.parent / runtime.MANIFEST
            manifest = None
            if beside.is_file():
                candidate = json.loads(beside.read_text("utf-8"))
                if candidate.get("library") == path.name:
                    manifest = candidate
            found.append((path, manifest))
        else:
            raise UserError(f"{path} does not exist; give an artifact folder (with "
                            f"manifest.json), a manifest.json or a library file")
    return found


def registered_identities(manifest: dict, registered: inventory.Inventory | None) -> set[str]:
    """The op identities a library registers: loaded when it could be, else declared."""
    if registered is not None and registered.loaded:
        return registered.identities()
    return {op["identity"] for op in manifest.get("ops", [])}


def clashes(found: list[tuple[Path, dict | None]], reports: list[LibraryReport],
            inventories: list[inventory.Inventory | None]) -> None:
    """Op identities registered by more than one of the libraries: one error on each
    library involved."""
    owners: dict[tuple[str, str], list[int]] = {}
    for i, (_, manifest) in enumerate(found):
        if manifest is None:
            continue
        for identity in registered_identities(manifest, inventories[i]):
            owners.setdefault((manifest["framework"]["name"], identity), []).append(i)
    for (framework, identity), where in sorted(owners.items()):
        if len(where) < 2:
            continue
        names = [str(found[i][0]) for i in where]
        for i in where:
            others = [n for n in names if n != str(found[i][0])] or names[1:]
            reports[i].add("error", "clash", f"{framework} op {identity} is also registered by "
                           f"{', '.join(others)}: loaded together, one registration fails or "
                           f"silently wins",
                           "give the recipes different namespaces, or load only one library")


def recorded(manifest: dict) -> inventory.Inventory | None:
    """The inventory `opforge build` recorded in the manifest, if any."""
    data = manifest.get("registered")
    if not data:
        return None
    found = inventory.Inventory.from_json(manifest["framework"]["name"], data)
    found.recorded = True
    return found


def release_of(manifest: dict | None, matrix: dict[str, Release]
               ) -> tuple[Release | None, str]:
    """The release a library was built for, as its manifest records it, looked up in
    `matrix`; else None and why."""
    if manifest is None:
        return None, "a library without its manifest.json records no release"
    rid = manifest["release"]["id"]
    if rid == releases.LOCAL or rid in matrix:
        return releases.resolve(rid, matrix), ""
    return None, (f"its manifest says release {rid}, which neither opforge's release table "
                  f"nor a releases file (--releases-file, ${settings.env_var('releases_file')}) has")


def check(paths: list[Path], release=None, load: bool = True,
          matrix: dict | None = None) -> list[LibraryReport]:
    """Audit every library, take its op inventory (loading it in a child; with load=False,
    the one its manifest recorded), then compare the inventories; the release defaults to
    each manifest's, looked up in `matrix` (default: opforge's releases, with
    $OPFORGE_RELEASES_FILE)."""
    found = targets(paths)
    if matrix is None:
        matrix = releases.load_matrix()

    def registered(item: tuple[Path, dict | None]) -> inventory.Inventory | None:
        library, manifest = item
        if manifest is None:
            return None
        if load:
            return inventory.take(library, library.parent / runtime.MANIFEST)
        return recorded(manifest)

    # each load is a child importing its framework (seconds): all of them at once
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(found)))) as pool:
        inventories = list(pool.map(registered, found))
    reports = []
    for (library, manifest), taken in zip(found, inventories):
        target, why = (release, "") if release is not None else release_of(manifest, matrix)
        reports.append(audit(library, manifest, target, taken, why))
    clashes(found, reports, inventories)
    return reports
