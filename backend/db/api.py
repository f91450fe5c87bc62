"""The database commands: a table from command name to handler.

A handler runs inside a transaction (or savepoint) that ``store.Store.run``
manages; it gets the sqlite connection, the call context and the params list,
validates the params itself and raises ``CommandError('bad_request', ...)`` on
bad input. Results must be msgpack-serialisable (None, bool, int, float, str,
bytes, lists, maps with string keys).

The registry itself lives in ``backend.db.commands.base`` and the handlers in the
``backend.db.commands`` modules (which import only ``base``, so there is no
import cycle); this module is the public face: importing it registers every
command. See docs/api.md for each command's params and result.
"""

from __future__ import annotations

import backend.db.commands  # noqa: F401  (registers every command in COMMANDS)
from backend.db.commands.base import (
    COMMANDS,
    CallContext,
    Command,
    Handler,
    arity,
    command,
    is_write,
    lookup,
    want_str,
)

__all__ = [
    "COMMANDS",
    "CallContext",
    "Command",
    "Handler",
    "arity",
    "command",
    "is_write",
    "lookup",
    "want_str",
]
