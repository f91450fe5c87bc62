"""What ``backend call`` checks before anything is launched (issue 13 items 8, 13).

- The command name and the number of params, against the core's static
  tables (``commandinfo``, ``commandhelp.ARITY``): a typo gets the server's own
  answer (``unknown_command``, ``bad_request: expected N params``) without
  starting a server and a warm standby to learn it. Only here, not in the
  library ``Client``: a library caller may speak to newer servers, or to
  server-level commands these tables do not list.

- A PARAM that starts like JSON (``{`` or ``[``) but does not parse is an
  error naming the parse failure, not silently a string.
- ``--run-id N`` of a run that main.db does not know: the server of
  ``N % num-run-dbs``.db would only answer ``bad_request: unknown run-id N``,
  so main.db is read directly (read-only, no server) and the same error comes
  back without starting one. Commands that work in any database without a run
  (``ANY_DB``: the variables) are not checked.
"""

from __future__ import annotations

from typing import Any

from backend import commandhelp, commandinfo
from backend.area import Area
from backend.errors import ConfigError, RemoteError

ANY_DB = frozenset({"get-var", "set-var", "del-var"})


def known_commands() -> frozenset[str]:
    """Every database command the servers of this installation serve."""
    return frozenset(commandinfo.WRITES)


def check_command(cmd: str, params: list[Any]) -> None:
    """Refuse an unknown command or a wrong number of params, as the server would."""
    known = known_commands()
    if cmd in known:
        problem = commandhelp.arity_problem(cmd, len(params))
        if problem:
            raise RemoteError("bad_request", problem)
        return
    import difflib

    close = difflib.get_close_matches(cmd, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise RemoteError("unknown_command", f"unknown command {cmd[:64]!r}{hint}")


# What a JSON value can start with (Python's json also reads NaN and Infinity). A
# PARAM whose first non-blank character is none of these ("k", "test-1", "") cannot
# parse and is not refused as JSON: it is the string itself, and json is not imported
# for it. A call whose params are words and whose answer is a string then loads no
# json (the module and the regexes it compiles are ~2.5 ms of such a call:
# docs/design.md, "No dataclasses on the call path").
_JSON_FIRST = frozenset('{["-0123456789tfnNI')


def parse_param(text: str, index: int) -> Any:
    """A CLI PARAM: JSON when it parses, else the string itself."""
    if text.lstrip()[:1] not in _JSON_FIRST:
        return text
    import json

    try:
        return json.loads(text)
    except RecursionError:
        raise ConfigError(f"PARAM {index} is nested too deeply: {text[:40]!r}...") from None
    except ValueError as exc:
        if text.lstrip()[:1] in ("{", "["):
            raise ConfigError(f"PARAM {index} {text[:40]!r} looks like JSON but does not parse: {exc}") from None
        return text


def check_run(area: Area, cmd: str, run_id: int | None) -> None:
    """Refuse a run-id that main.db says does not exist (see the module doc)."""
    if run_id is None or cmd in ANY_DB:
        return
    from backend.db.commands.scope import run_exists

    try:
        known = run_exists(area.db_path("main.db"), run_id)
    except Exception:  # noqa: BLE001 - any doubt: let the server decide
        return
    if not known:
        raise RemoteError("bad_request", f"unknown run-id {run_id} (main.db has no such run; no server started)")
