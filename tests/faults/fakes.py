"""Fake peers: a listener that records connections, and an impostor that answers
pings with a chosen server-id (what a reused port or a forged file points at)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from backend.wire import protocol


class Recorder:
    """Listens on loopback; counts connections; optionally plays a server."""

    def __init__(self, answer_server_id: str | None = None) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.answer = answer_server_id
        self.connections = 0
        self.requests: list[Any] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        dec = protocol.FrameDecoder(1 << 20)
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                if self.answer is None:
                    return
                dec.feed(data)
                while (obj := dec.next()) is not None:
                    self.requests.append(obj)
                    meta = {"sstate": "running", "sload": 0, "nonce": "00" * 16}
                    result: Any = self.answer if obj[0] == "ping" else True
                    conn.sendall(protocol.encode(["ok", None, result, meta]))
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for t in self._threads:
            t.join(2)
        self.sock.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
