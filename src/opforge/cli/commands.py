"""What each `opforge` command does, given its parsed arguments; the exit code it returns.
Errors are raised (OpforgeError), and caught once, by cli.main."""

from __future__ import annotations

import json
from pathlib import Path

from opforge import __version__
from opforge.core import log, tables
from opforge.core.errors import UserError


def print_json(data) -> None:
    print(json.dumps(data, indent=2))


def _not_shipped(fw, release) -> bool:
    """Whether the release cannot carry the framework at all (Triton dropped its backend)."""
    from opforge.core.errors import ReleaseError

    try:
        fw.check_release(release)
    except ReleaseError:
        return True
    return False


def cmd_releases(args) -> int:
    from opforge import releases

    if args.action == "learn":
        return _releases_learn(args)  # reads reports, not the matrix
    matrix = releases.load_matrix(args.releases_file)
    wanted = {"list": 0, "show": 1, "diff": 2}[args.action]
    if len(args.operands) != wanted:
        usage = {"list": "opforge releases [list] [--coverage]",
                 "show": "opforge releases show RELEASE (e.g. 24.09)",
                 "diff": "opforge releases diff FROM TO (e.g. 24.09 25.03)"}[args.action]
        raise UserError(f"`opforge releases {args.action}` takes {wanted or 'no'} "
                        f"release{'s' if wanted != 1 else ''}, got "
                        f"{' '.join(args.operands) or 'none'}: {usage}")
    if args.coverage and args.action != "list":
        raise UserError("--coverage goes with `opforge releases [list]`, not "
                        f"`{args.action}`")
    if args.action == "diff":
        return _releases_diff(args, matrix)
    if args.action == "show":
        return _releases_show(args, matrix)
    if args.coverage:
        return _releases_coverage(args, matrix)
    return _releases_list(args, matrix)


def _releases_list(args, matrix) -> int:
    from opforge import frameworks

    adapters = list(frameworks.registry().values())
    # the columns of the table: Triton's version, each framework's pin, CUDA
    cols = ("triton_version", *(fw.pin_key for fw in adapters), "cuda")
    if args.json:
        print_json([{"release": r.id, **{k: r.pin(k).value or None for k in cols}}
                     for r in matrix.values()])
        return 0
    rows = [["release", "triton", *cols[1:]]]
    for r in matrix.values():
        rows.append([r.id, r.pin(cols[0]).value or "?"]
                    + [r.pin(fw.pin_key).value or ("-" if _not_shipped(fw, r) else "?")
                       for fw in adapters] + [r.pin(cols[-1]).value or "?"])
    for line in tables.lines(rows):
        print(line)
    print("\n? = unknown (no source found; never guessed); - = not shipped. "
          "`opforge releases show R` gives the sources, `--coverage` what is known where.")
    return 0


def _releases_coverage(args, matrix) -> int:
    from opforge import releases

    covered = releases.coverage(matrix)
    keys = releases.fields(matrix)
    if args.json:
        print_json({"fields": keys, "releases": covered})
        return 0

    def having(states: dict, state: str) -> list[str]:
        return [k for k in keys if states[k] == state]

    rows = [["field", "known", "uncertain", "unknown"]]
    for key in keys:
        counts = [sum(c[key] == state for c in covered.values())
                  for state in ("known", "uncertain", "unknown")]
        rows.append([key, *map(str, counts)])
    for line in tables.lines(rows):
        print(line)
    print()
    rows = [["release", "known", "uncertain (a secondary source)", "unknown (never guessed)"]]
    for rid, states in covered.items():
        known = len(keys) - len(having(states, "unknown"))
        rows.append([rid, f"{known}/{len(keys)}", ", ".join(having(states, "uncertain")) or "-",
                     ", ".join(having(states, "unknown")) or "-"])
    for line in tables.lines(rows):
        print(line)
    return 0


def _releases_show(args, matrix) -> int:
    from opforge import releases

    release = releases.resolve(args.operands[0], matrix)
    if release.is_local:
        raise UserError("'local' is not in the matrix: it pins to whatever is installed; see "
                        "`opforge build --release local`")
    if args.json:
        print_json(release.to_json())
        return 0
    print(log.style(f"Triton release {release.id}", "bold") + f"  (from {release.origin})")
    for pin in release.ordered_pins():
        value = pin.value if pin.known else log.style("unknown", "yellow")
        flag = log.style(" (uncertain: secondary source)", "yellow") if pin.uncertain else ""
        origin = "" if pin.origin == "opforge" else f" (from {pin.origin})"
        if not pin.known:
            sources = []
        elif pin.attribution == "field":
            sources = [f"  source: {s}" for s in pin.sources]
        else:
            sources = [f"  source: the release's {len(pin.sources)} source(s); none names "
                       f"{pin.key} alone"]
        pin_rows = [[pin.key, f"{value}{flag}{origin}"]] + [["", s] for s in sources]
        for i, line in enumerate(tables.lines(pin_rows, (26,), gap=" ", indent="  ")):
            print(log.style(line, "dim") if i else line)
    for note in release.notes:
        print(log.style(f"  note: {note}", "dim"))
    return 0


def _releases_diff(args, matrix) -> int:
    from opforge import releases
    from opforge.releases import upgrade

    old, new = (releases.resolve(r, matrix) for r in args.operands)
    if old.is_local or new.is_local:
        raise UserError("`opforge releases diff` compares two releases of the matrix; "
                        "'local' has no pins of its own")
    report = upgrade.diff(old, new)
    if args.json:
        print_json(report.to_json())
    else:
        for line in upgrade.lines(report):
            print(line)
    return 0


def _releases_learn(args) -> int:
    from opforge.releases import learn

    if not args.operands:
        raise UserError("`opforge releases learn` needs the JSON reports of `opforge build "
                        "--json`, e.g. opforge releases learn opforge-out/*/reports/build.json "
                        "> releases.toml")
    paths = [Path(p) for p in args.operands]
    entries = learn.learn(paths)
    if args.json:
        print_json({"releases": entries})
    else:
        print(learn.to_toml(entries, paths), end="")
    if not entries:
        log.warn("no report records a pin proven by a container (provenance \"container "
                 "label\"): nothing learned")
    return 0


def _load_recipe_and_release(args):
    from opforge import recipe as recipe_mod
    from opforge import releases

    recipe = recipe_mod.load(args.recipe)
    release_id = args.release or recipe.model.target.release
    if release_id == releases.LOCAL:
        return recipe, releases.resolve(release_id, {})
    return recipe, releases.resolve(release_id, releases.load_matrix(args.releases_file))


def cmd_build(args) -> int:
    from opforge.build import pipeline

    recipe, release = _load_recipe_and_release(args)
    result = pipeline.build(recipe, release, args.framework, args.out, args.build_dir,
                         cuda_archs=args.cuda_arch, compile_only=args.compile_only,
                         compiler_launcher=args.compiler_launcher)
    if args.json:
        print_json(result.to_json())
    else:
        for line in tables.lines([[art["framework"], art.get("version", "-"), art["library"]]
                                  for art in result.artifacts], (11, 14), gap=" "):
            print(line)
        log.info(log.style(f"built {len(result.artifacts)} librar"
                           f"{'y' if len(result.artifacts) == 1 else 'ies'} in "
                           f"{result.seconds:.1f}s", "green"))
    for name, why in result.plan.skipped.items():
        log.warn(f"not built: {name} ({why.split(';')[0]}); see above for how to fix")
    return 0 if result.audit_ok else 8


def cmd_check(args) -> int:
    from opforge.artifacts import audit
    from opforge import releases

    matrix = releases.load_matrix(args.releases_file)
    release = releases.resolve(args.release, matrix) if args.release else None
    reports = audit.check(args.paths, release, load=args.load, matrix=matrix)
    if args.json:
        print_json({"ok": all(not r.errors for r in reports),
                     "libraries": [r.to_json() for r in reports]})
    else:
        for report in reports:
            audit.print_report(report)
    return 0 if all(not r.errors for r in reports) else 8


def cmd_test(args) -> int:
    from opforge.artifacts import vectors

    recipe, release = _load_recipe_and_release(args)
    report = vectors.run_all(recipe, release, args.framework, args.out, args.device)
    if args.json:
        print_json(report.to_json())
    else:
        report.print_table()
    return report.exit_code()


def cmd_describe(args) -> int:
    from opforge import recipe as recipe_mod
    from opforge.build import describe

    data = describe.describe(recipe_mod.load(args.recipe))
    if args.json:
        print_json(data)
    elif not data["ops"]:
        log.info(f"{args.recipe} has no kernel ops (only [[native]] sources, whose API is "
                 f"their framework's)")
    else:
        for line in describe.text(data):
            print(line)
    return 0


def cmd_new(args) -> int:
    from opforge.recipe import scaffold

    created = scaffold.new(Path(args.name), args.namespace, args.framework, args.cuda)
    if args.json:
        print_json({"created": [str(p) for p in created]})
    else:
        for path in created:
            print(path)
        log.info(f"next: opforge build {Path(args.name) / 'recipe.toml'} --release local")
    return 0


def cmd_package(args) -> int:
    from opforge.build import pipeline
    from opforge.deploy import repository

    recipe, release = _load_recipe_and_release(args)
    plan = repository.plan(recipe, release, args.model_repository,
                           args.out or pipeline.default_out_dir(recipe), args.mount,
                           args.base_image)
    written = []
    if not args.dry_run:
        with log.step(f"write into {plan.repository}"):
            written = repository.write(plan)
    if args.json:
        print_json({**plan.to_json(), "dry_run": args.dry_run,
                     "written": [str(p) for p in written]})
        return 0
    rows = []
    for model in plan.models:
        ops = ", ".join(model.uses) or (f"not read ({model.unread})" if model.unread
                                        else "no custom ops")
        how = (model.loading if model.libraries else
               f"by {', '.join(model.other_packages)}" if model.other_packages else "-")
        rows.append([model.name, model.backend, how, ops])
    for line in tables.lines(rows, (20, 12, 45), gap=" "):
        print(line)
    if plan.base_image is None and args.base_image != "none":
        log.warn("no Dockerfile: release local has no tritonserver image; give --base-image")
    verb = "would write" if args.dry_run else "wrote"
    print(f"{verb} {len(plan.libraries)} librar{'y' if len(plan.libraries) == 1 else 'ies'}"
          f" and {len(written)} file(s) in {plan.repository}; start it with "
          f"{plan.repository / repository.LAUNCH}")
    return 0


def cmd_serve(args) -> int:
    from opforge.deploy import serve

    options = serve.Options(http_port=args.http_port, grpc_port=args.grpc_port,
                            metrics_port=args.metrics_port, ready_timeout=args.ready_timeout,
                            exit_timeout=args.exit_timeout, supervise=args.supervise,
                            server=args.server)
    return serve.serve(args.repository, options, args.json)


def cmd_verify(args) -> int:
    from opforge import recipe as recipe_mod
    from opforge.deploy import verify

    recipe = recipe_mod.load(args.recipe)
    report = verify.run(recipe, args.url, args.protocol, args.timeout)
    if args.json:
        print_json({**report.to_json(), "url": args.url, "protocol": args.protocol})
    else:
        report.print_table()
    return report.exit_code()


def cmd_wheel(args) -> int:
    from opforge.build import pipeline
    from opforge.artifacts import wheel

    recipe, release = _load_recipe_and_release(args)
    wheel_dir = args.wheel_dir or pipeline.default_out_dir(recipe) / "wheels"
    result = wheel.build_wheel(recipe, release, args.framework, wheel_dir, args.out,
                               args.build_dir, compiler_launcher=args.compiler_launcher)
    if args.json:
        print_json(result.to_json())
    else:
        print(result.wheel)
        log.info(f"pip install {result.wheel}; then: import {wheel.import_name(recipe)}; "
                 f"{wheel.import_name(recipe)}.load({result.frameworks[0]!r})")
    return 0


def cmd_matrix(args) -> int:
    from opforge.core import extras, settings
    from opforge.ci import matrix
    from opforge import recipe as recipe_mod, releases

    recipe = recipe_mod.load(args.recipe)
    split = matrix.split_patterns
    releases_file = settings.read(flags=vars(args)).releases_file
    plan = matrix.plan(recipe, matrix.checkout_path(args.recipe, "the recipe"),
                       split(args.releases), releases.load_matrix(releases_file),
                       split(args.select), split(args.skip), matrix.install_spec(args.install),
                       {"cpu": tuple(split(args.cpu_runner)),
                        "cuda": tuple(split(args.gpu_runner))},
                       releases_file and matrix.checkout_path(releases_file, "the releases file"))
    if args.dry_run:
        for line in matrix.table(plan):
            print(line)
    elif args.json or args.format == "json":
        print_json(plan.to_json())
    elif args.format == "github":
        print(json.dumps(matrix.github(plan), separators=(",", ":")))
    else:
        yaml = extras.need("yaml", "opforge matrix --format gitlab", "matrix")
        print(f"# generated by opforge {__version__}: opforge matrix "
              f"{plan.recipe} --releases {','.join(plan.releases)} --format gitlab")
        print(yaml.safe_dump(matrix.gitlab(plan), sort_keys=False, width=10**6), end="")
    if plan.skipped and not args.dry_run:
        log.warn(f"{len(plan.skipped)} job(s) left out, each because `opforge build` would "
                 f"refuse it: {', '.join(s.id for s in plan.skipped)} (--dry-run says why)")
    return 0


def cmd_doctor(args) -> int:
    from opforge.cli import doctor
    from opforge import releases

    data = doctor.report(releases.load_matrix(args.releases_file))
    if args.json:
        print_json(data)
    else:
        doctor.print_report(data)
    return 0


def cmd_sdk(args) -> int:
    from opforge import frameworks
    from opforge.toolchain import sdk

    if args.action == "where":
        found = frameworks.get(args.name).find_sdk()
        if isinstance(found, sdk.SdkMissing):
            from opforge.core.errors import ToolchainError

            raise ToolchainError(sdk.missing_message(found, args.version))
        if args.json:
            print_json(found.to_json())
        else:
            print(f"{found.root}  ({found.version}, found by {found.how})")
        return 0
    if not args.version:
        raise UserError(f"`opforge sdk fetch {args.name}` needs a VERSION, e.g. 1.19.2")
    found = sdk.fetch(args.name, args.version, frameworks.get(args.name).sdk_at, url=args.url,
                      sha256=args.sha256)
    if args.json:
        print_json(found.to_json())
    else:
        print(found.root)
    return 0


COMMANDS = {"releases": cmd_releases, "build": cmd_build, "check": cmd_check, "test": cmd_test,
            "package": cmd_package, "wheel": cmd_wheel, "serve": cmd_serve,
            "verify": cmd_verify, "matrix": cmd_matrix,
            "new": cmd_new, "describe": cmd_describe,
            "doctor": cmd_doctor, "sdk": cmd_sdk}
