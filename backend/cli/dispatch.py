"""Running a parsed ``backend`` command: its handler, imported only for the
command that runs, and every error turned into one line on stderr and an exit
code (1 failure, 130 Ctrl-C; argparse gives 2 for usage). No traceback
reaches a user."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from backend.cli.common import EXIT_FAIL, EXIT_INTERRUPTED
from backend.errors import BackendError

# Command -> module holding ``cmd_<command>``. Imported only for the command
# that runs: a ``backend call`` must not pay for psutil, asyncio or the server
# (issue 16 item 1; tests/integration/test_lean_call.py checks it).
COMMANDS = {
    "call": "backend.cli.calls", "key": "backend.cli.calls",
    "demo-load": "backend.cli.calls", "bench": "backend.cli.calls",
    **dict.fromkeys(("server", "serve", "list", "ping", "start", "stop", "restart", "prune", "logs"),
                    "backend.cli.pool"),
    "sync": "backend.cli.central", "central": "backend.cli.central",
    "stats": "backend.ops.observe", "metrics": "backend.ops.observe", "events": "backend.ops.observe",
}


def handler_for(command: str) -> Callable[[Any], int]:
    module = importlib.import_module(COMMANDS[command])
    handler: Callable[[Any], int] = getattr(module, "cmd_" + command.replace("-", "_"))
    return handler


def run(args: Any) -> int:
    """Run the command ``args`` names (an ``argparse.Namespace``, or the
    ``SimpleNamespace`` of ``callargs.parse_call``); its exit code."""
    try:
        return handler_for(args.command)(args)
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
