"""What every ``backend`` subcommand shares: the error type, exit codes, the
command-line spelling of a dbfname, settings from flags."""

from __future__ import annotations

import argparse

from backend.area import Area, validate_dbfname
from backend.config import Settings, load_settings
from backend.errors import BackendError

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
