"""api.scm's "dummy write and SERVERS" group: get-keys-write, start-server, kill-server.

``start-server`` and ``kill-server`` control server processes, not a db file:
a server answers them itself (``backend.server.server.Server.dispatch``, before the db
thread), as it answers ``stop``. The handlers registered here are what runs
where there is no server process (``LocalCaller``, ``--direct``): they refuse
with ``bad_request`` saying so. The mapping (docs/api.md, "Servers"):

* ``kill-server`` = our authenticated ``stop`` of the server that got it
  (Megatest flips the serving process's keep-running flag; same effect).
* ``start-server`` = Megatest's ``server:kind-run``: make sure a server of the
  area's db is running. The client's auto-start launches one through the
  launcher when none answers, so by the time a server reads the request one
  is running: the answer names it and says nothing was started. Starting
  *more* servers is the load policy's job (``loaded``/``busy``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import CallContext, arity, bad, command
from backend.db.commands.runs import get_key_names
from backend.db.commands.scope import require_main

SERVER_COMMANDS = frozenset({"start-server", "kill-server"})


@command("get-keys-write", write=False)
def get_keys_write(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[] -> the key names, as get-keys. Megatest routed it as a write only so
    that calling it started a server; every call of ours goes to a server."""
    require_main(ctx, "get-keys-write")
    arity(params, 0)
    return get_key_names(conn)


def _needs_a_server(name: str) -> Any:
    def handler(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
        arity(params, 0)
        raise bad(f"{name} controls a server process: send it to a server, not to a db file")

    return handler


command("start-server", write=False)(_needs_a_server("start-server"))
command("kill-server", write=False)(_needs_a_server("kill-server"))
