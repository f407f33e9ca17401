"""The `opforge` command line. This is the one place that catches OpforgeError."""

from __future__ import annotations

import signal
import sys
import threading

from opforge.artifacts.runtime import LoadRefused
from opforge.cli.commands import COMMANDS, print_json
from opforge.cli.parser import make_parser
from opforge.core import log
from opforge.core.errors import LoaderError, OpforgeError


class Terminated(KeyboardInterrupt):
    """SIGTERM: a CI runner cancelling the job, a container stopping."""


def _interrupted(signum, frame) -> None:
    """Ctrl-C or SIGTERM: the children run in sessions of their own (so that a timeout can
    kill each with its whole group), out of the terminal's and the runner's reach; hand the
    signal on to them, then stop."""
    from opforge.core import proc

    proc.interrupt_children(signum)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    log.set_quiet(args.quiet)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _interrupted)
                for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    try:
        return COMMANDS[args.command](args)
    except (OpforgeError, LoadRefused) as caught:
        # the runtime loader is standalone (stdlib only, shipped in artifacts): its refusal
        # is opforge's LoaderError
        exc = caught if isinstance(caught, OpforgeError) else LoaderError(str(caught))
        if args.json:
            print_json({"error": exc.to_json()})
        log.error(exc.message, exc.details)
        return exc.exit_code
    except Terminated:
        log.error("terminated (SIGTERM)")
        return 143
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:  # `opforge releases | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
