"""The standby's wire: its address and the checks both ends make.

A launcher asks this user's standby for an area to fork a server (``backend.client.standby``);
the standby answers (``backend.server.standby``). One msgpack map each way on an abstract unix
socket, after both ends check ``SO_PEERCRED``. See ``backend.server.standby`` for the design.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct

from backend.area import Area

REQUEST_TIMEOUT = 2.0  # seconds a launcher waits for a fork reply before spawning itself
MAX_REQUEST = 16384
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def address(area: Area) -> str:
    """The abstract socket name of this user's standby for ``area``."""
    digest = hashlib.sha256(os.fsencode(os.path.realpath(area.root))).hexdigest()[:32]
    return f"\0mtserve-standby-{os.getuid()}-{digest}"


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    return int(_PEERCRED.unpack(creds)[1])


def read_all(sock: socket.socket, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ValueError(f"message over {limit} bytes")
        chunks.append(chunk)
