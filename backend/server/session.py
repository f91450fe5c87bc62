"""One client connection of a server: read frames, dispatch, answer in order.

Invariants: requests are dispatched in the order they arrive; answers leave in
that same order (a FIFO of futures, written from done-callbacks as soon as an
answer and every answer before it are ready); a frame must arrive whole within
``frame-deadline`` of its first byte, while an idle connection has no deadline;
a session with ``MAX_PIPELINE`` answers outstanding stops reading until they
drain; an unauthenticated connection that goes ``auth-deadline`` seconds without
a whole frame is closed (one timer per session, never a wrapper on reads:
idle unauthenticated floods, ``admission``); every
``FRAMES_PER_TURN`` frames the session yields to the loop and waits for its
socket's buffer to drain, so one pipelining client cannot monopolise the loop
(issue 12 item 2: fair service, back-pressure on a peer that does not read).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import secrets
import time
from typing import Any, Protocol

from backend.config import Settings
from backend.errors import FrameTooLarge, ProtocolError
from backend.server.admission import Admission
from backend.server.counters import Counters
from backend.wire import protocol

log = logging.getLogger("backend.server")
_LIMITED = {"rate_limited": True}  # ratelimit.RateLimit: one line per cause per interval

MAX_PIPELINE = 32
"""Answers a connection may have outstanding (in flight or waiting for an earlier
one) before its socket is no longer read."""
FRAMES_PER_TURN = 1
"""Frames dispatched in a row before yielding to other connections. The yield comes
before the next frame, so a request/response client (one frame per read) never
pays for it; a pipelining one yields between frames."""


class SessionHost(Protocol):
    """What a session needs of its server (so this module does not import the server)."""

    @property
    def settings(self) -> Settings: ...

    def dispatch(self, session: Session, obj: Any) -> list[Any] | asyncio.Future[list[Any]]: ...

    def meta(self) -> dict[str, Any]: ...

    counters: Counters

    @property
    def admission(self) -> Admission[Session]: ...


class Session:
    """One client connection: read frames, dispatch, answer in order."""

    def __init__(
        self, server: SessionHost, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader, self.writer = reader, writer
        self.nonce = secrets.token_hex(16)
        self.authenticated = False
        self.decoder = protocol.FrameDecoder(protocol.PRE_AUTH_MAX_FRAME)
        self.pending: collections.deque[asyncio.Future[list[Any]]] = collections.deque()
        self._drained = asyncio.Event()
        self._drained.set()
        self._closing = False
        # Unauthenticated: closed after auth-deadline without a whole frame. Pings
        # need no key, so a poller that pings on one connection stays; an idle flood
        # does not (issue 12 item 1).
        # Jittered (x1-1.5), so that a flood opened at once is not closed at once
        # and does not come back as one burst of reconnects.
        self._auth_idle = server.settings.auth_deadline * (1 + random.random() / 2)
        self.auth_by = time.monotonic() + self._auth_idle
        self._auth_timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            self._auth_idle, self._check_auth_deadline
        )

    def authenticate(self) -> None:
        self.authenticated = True
        self.decoder.max_frame = self.server.settings.max_frame
        self.server.admission.authenticated(self)
        self._cancel_auth_timer()

    def _check_auth_deadline(self) -> None:
        self._auth_timer = None
        if self.authenticated or self._closing:
            return
        left = self.auth_by - time.monotonic()
        if left > 0:
            self._auth_timer = asyncio.get_running_loop().call_later(left, self._check_auth_deadline)
            return
        log.info("closing connection: unauthenticated and idle for %gs",
                 self.server.settings.auth_deadline, extra=_LIMITED)
        self.server.counters.count_refused()
        self.abort()

    def _cancel_auth_timer(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None

    def abort(self) -> None:
        """Drop the connection now (admission made room for a newer one)."""
        self._closing = True
        self._cancel_auth_timer()
        self.writer.transport.abort()

    async def serve(self) -> None:
        deadline = self.server.settings.frame_deadline
        transport = self.writer.transport
        frame_started = 0.0
        turn = 0
        try:
            while not self._closing:
                try:
                    obj = self.decoder.next()
                except ProtocolError as exc:
                    log.info("closing connection: %s", exc, extra=_LIMITED)
                    if isinstance(exc, FrameTooLarge):
                        # Say why before closing: the peer learns the cap instead of
                        # resending into a reset connection (issue 12 item 8).
                        self._emit(protocol.error_wire("too_large", str(exc), self.server.meta()))
                    self.server.counters.count_refused()
                    return
                if obj is not None:
                    if turn >= FRAMES_PER_TURN:
                        # Another frame right behind the last one: the other
                        # connections first, and stop while our peer does not read.
                        turn = 0
                        await asyncio.sleep(0)
                        await self.writer.drain()
                    turn += 1
                    frame_started = time.monotonic() if self.decoder.pending else 0.0
                    if not self.authenticated:
                        self.server.admission.spoke(self)
                        self.auth_by = time.monotonic() + self._auth_idle
                    try:
                        answer = self.server.dispatch(self, obj)
                    except Exception:
                        # Defence in depth: a bug in dispatch must cost one answer,
                        # not the connection; the traceback goes to the log only.
                        log.exception("internal error dispatching a request")
                        answer = protocol.error_wire(
                            "bad_request", "the request could not be processed", self.server.meta()
                        )
                    self._emit(answer)
                    if len(self.pending) >= MAX_PIPELINE:
                        await self._wait_flushed()
                    continue
                turn = 0
                if transport.get_write_buffer_size():
                    # Only a buffered answer can have paused writing; with nothing
                    # buffered drain() would return at once (but cost a coroutine).
                    await self.writer.drain()
                timeout: float | None = None
                if self.decoder.pending:
                    if not frame_started:
                        frame_started = time.monotonic()
                    timeout = frame_started + deadline - time.monotonic()
                    if timeout <= 0:
                        log.info("closing connection: frame not complete within %gs", deadline,
                                 extra=_LIMITED)
                        self.server.counters.count_refused()
                        return
                if timeout is None:
                    # Idle between frames: no deadline, and no wait_for wrapper on
                    # the hot path of every request.
                    data = await self.reader.read(262144)
                else:
                    try:
                        data = await asyncio.wait_for(self.reader.read(262144), timeout)
                    except TimeoutError:
                        log.info("closing connection: frame not complete within %gs", deadline,
                                 extra=_LIMITED)
                        self.server.counters.count_refused()
                        return
                if not data:
                    await self._wait_flushed()
                    return
                if not self.decoder.pending:
                    frame_started = time.monotonic()
                self.server.counters.bytes_in += len(data)
                self.decoder.feed(data)
        except (ConnectionError, OSError):
            return
        finally:
            await self._close()

    def _emit(self, item: list[Any] | asyncio.Future[list[Any]]) -> None:
        """Queue one answer. Invariant: answers leave in request order; an answer
        is written as soon as it and every answer before it are ready."""
        if isinstance(item, list):
            if not self.pending:
                self._write(item)
                return
            fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            fut.set_result(item)
            item = fut
        self.pending.append(item)
        self._drained.clear()
        # A done-callback, not a task per request: at one connection doing
        # request/response, a task per answer cost more than the answer itself.
        item.add_done_callback(self._write_ready)

    def _write_ready(self, _fut: object = None) -> None:
        pending = self.pending
        while pending and pending[0].done():
            self._write(pending.popleft().result())
        if not pending:
            self._drained.set()

    def _write(self, wire: list[Any]) -> None:
        try:
            data = protocol.encode(wire)
        except (TypeError, ValueError, OverflowError):
            log.exception("unencodable result")
            data = protocol.encode(protocol.error_wire("db_error", "unencodable result", wire[3]))
        if len(data) - 4 > self.server.settings.max_frame:
            data = protocol.encode(
                protocol.error_wire(
                    "too_large",
                    f"response of {len(data)} bytes exceeds max-frame; narrow the query",
                    wire[3],
                )
            )
        if not self.writer.is_closing():
            self.server.counters.bytes_out += len(data)
            self.writer.write(data)

    async def _wait_flushed(self) -> None:
        await self._drained.wait()
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            self._closing = True

    async def finish(self, timeout: float) -> None:
        """Shutdown: let queued answers go out, then close."""
        self._closing = True
        try:
            await asyncio.wait_for(self._wait_flushed(), timeout)
        except TimeoutError:
            pass
        await self._close()

    async def _close(self) -> None:
        self._cancel_auth_timer()
        if self.pending:
            try:
                await asyncio.wait_for(self._drained.wait(), 1.0)
            except TimeoutError:
                pass
        if not self.writer.is_closing():
            self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
