"""``backend``: the operator's command line (SPEC §7; docs/operations.md).

Parsing is in ``parser.py``, the subcommands in ``pool.py`` (running and
operating servers) and ``calls.py`` (database commands, demo load, bench);
this module dispatches and turns every error into one line on stderr and an
exit code (1 failure, 2 usage, 130 Ctrl-C). No traceback reaches a user.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from backend.cli import central
from backend.cli.calls import cmd_bench, cmd_call, cmd_demo_load, cmd_key
from backend.cli.common import EXIT_FAIL, EXIT_INTERRUPTED
from backend.cli.parser import build_parser
from backend.cli.pool import (
    cmd_list,
    cmd_logs,
    cmd_ping,
    cmd_prune,
    cmd_restart,
    cmd_serve,
    cmd_server,
    cmd_start,
    cmd_stop,
)
from backend.errors import BackendError, ConfigError

COMMANDS = {
    "bench": cmd_bench,
    "demo-load": cmd_demo_load,
    "key": cmd_key,
    "server": cmd_server, "serve": cmd_serve, "list": cmd_list, "ping": cmd_ping,
    "start": cmd_start, "stop": cmd_stop, "restart": cmd_restart, "prune": cmd_prune,
    "logs": cmd_logs, "call": cmd_call,
    **central.COMMANDS,
}


def _observe_commands() -> dict[str, Any]:
    from backend.ops.observe import COMMANDS as observe

    return observe


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # The harness owns its flags; argparse.REMAINDER would not pass "--quick" through.
        argv = ["bench", "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    try:
        handler = COMMANDS.get(args.command) or _observe_commands()[args.command]
        return handler(args)
    except BackendError as exc:
        print(f"backend: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("backend: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAIL
    except OSError as exc:
        print(f"backend: error: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL


__all__ = ["main", "build_parser", "ConfigError"]
