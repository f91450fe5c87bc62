"""The options of ``backend call``, defined once, and the call's fast parse.

A test script runs ``backend call`` once per step it records, so its start-up
is what a harness pays most (issue 16 item 1). argparse costs a call ~5 ms
(its import, gettext, and ``shutil`` for the terminal width of a help text
nobody asked for), so :func:`parse_call` reads the plain form itself, from the
same table that ``callparser.add_call`` builds the argparse parser from:

    call [OPTION ...] CMD [PARAM ...]

options before ``CMD``, each spelled out in full, a value as the next word.
Anything else (``--help``, ``--area=P``, ``--`` or an abbreviation, an option
after ``CMD``, a word starting with ``-`` anywhere, a missing ``--area``, a
value that does not convert) returns ``None``, and argparse parses it (the
call-only parser, ``callparser.call_parser``): it accepts what it accepts and
words every error and help text, exactly as before.
``tests/unit/test_callargs.py`` checks the two agree.

This module never imports argparse (tests/integration/test_lean_call.py).
"""

# Not ``from __future__ import annotations``: NamedTuple would make each string
# annotation a ForwardRef, compiled at import, on every call (docs/design.md,
# "No dataclasses on the call path"; tests/integration/test_lean_call.py).

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, NamedTuple

from backend.cli.common import RUN_ID, SECONDS

AREA_HELP = "the area (test-suite) directory"
QUIET_HELP = "no progress line on stderr during long waits (none is shown when stderr is not a terminal)"


class Option(NamedTuple):
    flags: tuple[str, ...]
    dest: str
    help: str
    # None: a flag (store_true); else the argparse ``type`` of its one value.
    convert: Callable[[str], Any] | None = None
    metavar: str | None = None
    required: bool = False


# In --help order.
CALL_OPTIONS = (
    Option(("--area",), "area", AREA_HELP, str, "PATH", required=True),
    Option(("--run-id",), "run_id", "the run: its db is <run-id %% num-run-dbs>.db", RUN_ID),
    Option(("--json",), "json", "the result as JSON"),
    Option(("--direct",), "direct", "read the db file without a server"),
    Option(("--deadline",), "deadline", "seconds for the whole call (default call-deadline, 30)", SECONDS, "S"),
    Option(("--quiet", "-q"), "quiet", QUIET_HELP),
)
_BY_FLAG = {flag: opt for opt in CALL_OPTIONS for flag in opt.flags}


def parse_call(words: Sequence[str]) -> SimpleNamespace | None:
    """The arguments of ``backend call WORDS...`` in the plain form (see the
    module doc), as argparse would give them; ``None`` for anything else."""
    values: dict[str, Any] = {opt.dest: None if opt.convert else False for opt in CALL_OPTIONS}
    i = 0
    while i < len(words) and words[i].startswith("-"):
        opt = _BY_FLAG.get(words[i])
        if opt is None:
            return None
        if opt.convert is None:
            values[opt.dest] = True
            i += 1
            continue
        if i + 1 == len(words) or words[i + 1].startswith("-"):
            return None
        try:
            values[opt.dest] = opt.convert(words[i + 1])
        except Exception:  # noqa: BLE001 - argparse parses it again and words the refusal
            return None
        i += 2
    rest = words[i:]
    if not rest or any(w.startswith("-") for w in rest):
        return None
    if any(opt.required and values[opt.dest] is None for opt in CALL_OPTIONS):
        return None
    return SimpleNamespace(command="call", **values, cmd=rest[0], params=list(rest[1:]))
