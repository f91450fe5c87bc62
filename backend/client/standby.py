"""Asking this user's standby for an area to fork a server, or to exit.

The launcher's side of the warm standby (the standby itself is
``backend.server.standby``). Anything wrong returns None: the caller then
starts the server itself, so the standby only makes starts faster.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import msgpack

from backend.area import Area
from backend.config import Settings
from backend.wire.standby import MAX_REQUEST, REQUEST_TIMEOUT, address, peer_uid, read_all


def _ask(area: Area, message: dict[str, Any]) -> Any:
    """Send ``message`` to this user's standby for ``area``; its reply, or None
    when there is no standby, it is not ours, it is too slow or it garbles."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(REQUEST_TIMEOUT)
    try:
        sock.connect(address(area))
        if peer_uid(sock) != os.getuid():
            return None  # someone else holds the name: never hand them our start
        sock.sendall(msgpack.packb(message))
        sock.shutdown(socket.SHUT_WR)
        return msgpack.unpackb(read_all(sock, MAX_REQUEST))
    except (OSError, ValueError, msgpack.UnpackException):
        return None
    finally:
        sock.close()


def request_server(area: Area, dbfname: str, settings: Settings) -> int | None:
    """Ask this user's standby for ``area`` to fork a server; its pid, or None.

    None means "start it yourself": no standby, not ours, too slow, or refused.
    """
    if settings.standby_timeout <= 0:
        return None
    reply = _ask(area, {"op": "fork", "db": dbfname, "settings": settings.to_wire()})
    pid = reply.get("pid") if isinstance(reply, dict) else None
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 1 else None


def stop_standby(area: Area) -> bool:
    """Ask this user's standby for ``area`` to exit now; True if one was there."""
    reply = _ask(area, {"op": "exit"})
    return isinstance(reply, dict) and reply.get("exiting") is True
