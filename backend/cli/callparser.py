"""The top of the ``backend`` parser and the ``call`` subcommand's options.

Apart from ``parser.py`` because a ``backend call`` (what a test script runs
once per step, issue 16 item 1) parses with :func:`call_parser`: the same top
parser holding the ``call`` subcommand alone, built by the same functions as
the full parser, so usage, help and every error message are the same, without
building (or importing what builds) the other subcommands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from backend.cli.callargs import AREA_HELP, CALL_OPTIONS, QUIET_HELP
from backend.cli.common import EXIT_CODES, EXIT_USAGE

AddParser = Callable[..., argparse.ArgumentParser]


class Parser(argparse.ArgumentParser):
    # Help text that costs imports (the command table) is built only when shown.
    lazy_epilog: Callable[[], str] | None = None

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")

    def format_help(self) -> str:
        if self.lazy_epilog is not None:
            self.epilog = self.lazy_epilog()
        return super().format_help()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mtserve")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    # importlib.metadata costs ~20 ms: looked up only when --version is given.
    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{parser.prog} {_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def top_parser() -> tuple[Parser, Any, AddParser]:
    """The ``backend`` parser without subcommands, its subparsers action and
    ``add(name, help, **kw)``, which adds a subcommand the way they all are."""
    parser = Parser(prog="backend", description="mtserve database servers: run, inspect, call.",
                    epilog=EXIT_CODES + "\ndocs/operations.md is the operator's guide.",
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    def add(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=kw.pop("epilog", EXIT_CODES),
                              formatter_class=argparse.RawDescriptionHelpFormatter, **kw)

    return parser, sub, add


def area_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--area", required=True, metavar="PATH", help=AREA_HELP)


def json_arg(p: argparse.ArgumentParser, what: str = "the output") -> None:
    p.add_argument("--json", action="store_true", help=f"{what} as JSON")


def quiet_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help=QUIET_HELP)


def _call_epilog() -> str:
    from backend.cli.callcheck import known_commands
    from backend.commandhelp import summaries

    text = summaries(sorted(known_commands()))
    return (f"commands (docs/api.md has params, results and errors):\n{text}\n\n"
            f"PARAM: JSON when it parses (42, true, null, [\"a\"], {{\"k\": \"v\"}}), else the string itself;\n"
            f"a PARAM starting with {{ or [ that does not parse is an error.\n\n{EXIT_CODES}")


def add_call(add: AddParser) -> None:
    """The ``call`` subcommand for both parsers, its options from ``CALL_OPTIONS``
    (which ``callargs.parse_call`` reads too)."""
    p = add("call", "run a database command")
    assert isinstance(p, Parser)
    p.lazy_epilog = _call_epilog
    for opt in CALL_OPTIONS:
        if opt.convert is None:
            p.add_argument(*opt.flags, dest=opt.dest, action="store_true", help=opt.help)
        else:
            p.add_argument(*opt.flags, dest=opt.dest, type=opt.convert, default=None, metavar=opt.metavar,
                           required=opt.required, help=opt.help)
    p.add_argument("cmd", metavar="CMD", help="the command (listed below)")
    p.add_argument("params", nargs="*", metavar="PARAM", help="JSON if it parses, else a string")


def call_parser() -> argparse.ArgumentParser:
    """The ``backend`` parser knowing only ``call``: for an argv starting with
    ``call`` it parses, errs and helps exactly as the full parser does."""
    parser, _sub, add = top_parser()
    add_call(add)
    return parser
