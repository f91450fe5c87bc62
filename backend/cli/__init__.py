"""``backend``: the operator's command line (SPEC §7; docs/operations.md).

This module only picks the parser. ``backend call`` runs once per step of a
test script, so its start-up is what a harness pays most (issue 16 item 1):
an argv starting with ``call`` is read by ``callargs.parse_call`` (the plain
form, without argparse) or else by ``callparser.call_parser`` (the top parser
with the ``call`` subcommand alone: the same usage, help and errors as the
full parser), and only the call's modules are imported. Every other command
builds the full parser (``parser.py``). ``dispatch.py`` runs the command and turns every
error into one line on stderr and an exit code (1 failure, 2 usage, 130
Ctrl-C). ``tests/integration/test_lean_call.py`` checks what a call imports.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args: Any
    if argv[:1] == ["call"]:
        from backend.cli.callargs import parse_call

        args = parse_call(argv[1:])
        if args is None:  # help, an error, or a form only argparse reads
            from backend.cli.callparser import call_parser

            args = call_parser().parse_args(argv)
    else:
        from backend.cli.parser import build_parser

        if argv[:1] == ["bench"]:
            # The harness owns its flags; argparse.REMAINDER would not pass "--quick" through.
            argv = ["bench", "--", *argv[1:]]
        args = build_parser().parse_args(argv)
    from backend.cli.dispatch import run

    return run(args)


def entry() -> int:
    """The process entry of ``backend`` (the console script, ``python -m backend``).

    After a call, ``gc.freeze()``: the interpreter's collections at exit then
    skip the objects of the ~130 modules a call loaded, ~6 ms of a call that
    costs ~40 ms above a bare interpreter. Only for a call: its sockets and
    files are closed explicitly, and it runs for milliseconds; a server or a
    supervisor keeps the usual exit, which finalizes what a cycle still holds.
    """
    code = main()
    if sys.argv[1:2] == ["call"]:
        import gc

        gc.freeze()
    return code


__all__ = ["main", "entry"]
