"""What every ``backend`` subcommand shares: the error type, exit codes, the
command-line spelling of a dbfname, settings from flags."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backend.area import Area, validate_dbfname
from backend.config import Settings, load_settings
from backend.errors import BackendError

if TYPE_CHECKING:
    import argparse

EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_CODES = """\
exit codes:
  0    success (also: stop --all with nothing running, prune with nothing to prune)
  1    failure; one line on stderr says why
  2    usage error (bad flags or arguments)
  130  interrupted (Ctrl-C)
"""
LOAD_HELP = "load = requests in flight on the server (Megatest's sload)"


class CliError(BackendError):
    pass


def settings_from_flags(area: Area, args: argparse.Namespace) -> Settings:
    flags = {k[4:]: v for k, v in vars(args).items() if k.startswith("set_") and v is not None}
    return load_settings(area.root, flags)


def cli_dbfname(text: str) -> str:
    """A dbfname as an operator types it: also in canonical form, so ``01.db``
    (which would be a different file from ``1.db``, and which Megatest never
    names) is refused instead of starting a server for an empty db."""
    name = validate_dbfname(text)
    digits = name[:-3]
    if digits.isdigit() and str(int(digits)) != digits:
        raise CliError(f"invalid dbfname {text!r}: run dbs are named without leading zeros ({int(digits)}.db)")
    return name


def number(
    kind: Callable[[str], float], lo: float, hi: float, *, lo_open: bool = False
) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` in [lo, hi] (``(lo, hi]`` if lo_open).
    Issue 12 item 9: ``--deadline nan`` was accepted and the call never returned;
    ``--run-id`` of 30 digits ended in a traceback."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except OverflowError:
            raise _refusal(f"{text!r} is out of range") from None
        # A ValueError (not a number) propagates: argparse says "invalid int value".
        if not math.isfinite(value) or value < lo or (lo_open and value == lo) or value > hi:
            low = f"> {_shown(kind, lo)}" if lo_open else f">= {_shown(kind, lo)}"
            raise _refusal(f"{text!r} is out of range (must be {low} and <= {_shown(kind, hi)})")
        return value

    parse.__name__ = getattr(kind, "__name__", "number")  # argparse names it in messages
    return parse


def _refusal(message: str) -> Exception:
    # Imported only to refuse: a well-formed ``backend call`` never loads argparse (callargs.py).
    import argparse

    return argparse.ArgumentTypeError(message)


def _shown(kind: Callable[[str], float], value: float) -> str:
    return str(int(value)) if kind is int else f"{value:g}"


SECONDS = number(float, 0, 1e9, lo_open=True)
RUN_ID = number(int, 0, 2**63 - 1)
