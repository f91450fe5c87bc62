"""The ping answer a server sends (encoded once per session and state): it always
says the current state and load, and each connection's own nonce."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from backend import states
from backend.area import Area
from backend.config import load_settings
from backend.server.server import Server
from backend.server.session import Session
from backend.wire import protocol


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Any] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        dec = protocol.FrameDecoder(1 << 20)
        dec.feed(bytes(data))
        while (obj := dec.next()) is not None:
            self.frames.append(obj)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def abort(self) -> None:
        pass


def test_ping_answers_follow_state_and_load_and_carry_each_sessions_nonce(tmp_path: Path) -> None:
    area = Area.open(tmp_path)
    area.ensure_dirs()

    async def scenario() -> None:
        srv = Server(area, "main.db", load_settings(area.root))
        srv.state = states.RUNNING
        srv.identity = "area-id"
        a, b = Session(srv), Session(srv)
        ta, tb = _Transport(), _Transport()
        a.connection_made(ta)
        b.connection_made(tb)
        ping = protocol.encode(["ping", None, [], None])

        def ping_on(session: Session, transport: _Transport) -> protocol.Response:
            session.data_received(ping)
            return protocol.parse_response(transport.frames[-1])

        first = ping_on(a, ta)
        assert first.result == srv.server_id
        assert first.meta == {
            "sstate": "running", "sload": 0, "nonce": a.nonce, "dbfname": "main.db",
            "pid": srv.pid, "started": srv.started, "area": "area-id",
        }
        assert ping_on(a, ta) == first  # the same answer while nothing changed
        srv.inflight = 3
        assert ping_on(a, ta).meta["sload"] == 3
        srv.state = states.SHUTTING_DOWN
        assert ping_on(a, ta).meta["sstate"] == states.SHUTTING_DOWN
        other = ping_on(b, tb)
        assert other.meta["nonce"] == b.nonce != a.nonce
        assert srv.counters.snapshot(
            {"started": srv.started}, 0, None, srv.started
        )["commands"]["ping"]["outcomes"] == {"ok": 5}
        for s in (a, b):
            s.abort()

    asyncio.run(scenario())
