"""One client connection of a server: read frames, dispatch, answer in order.

A session is an ``asyncio.Protocol``: bytes arrive in ``data_received`` straight
from the loop's read callback, and answers go straight to the transport. No
stream reader, no coroutine and no task per connection: on the request path
those cost more than the request (issue 16: the ping profile had asyncio's
stream machinery spread over a dozen functions, and a minimal server beat us
at 50 connections by the cost of that machinery).

Invariants:
- requests are dispatched in the order they arrive; answers leave in that same
  order (a FIFO of answers, written as soon as an answer and every answer
  before it are ready);
- a frame must arrive whole within ``frame-deadline`` of its first byte, while
  an idle connection has no deadline (one timer, armed only while part of a
  frame is buffered: a request/response client never arms it);
- a session with ``MAX_PIPELINE`` answers outstanding stops reading until they
  drain, and so does one whose peer does not read its answers (the transport's
  ``pause_writing``): back-pressure instead of unbounded buffers;
- an unauthenticated connection that goes ``auth-deadline`` seconds without a
  whole frame is closed (one timer per session: idle unauthenticated floods,
  ``admission``);
- after ``FRAMES_PER_TURN`` frames in a row the session yields to the loop
  before the next one, so one pipelining client cannot monopolise it (issue 12
  item 2: fair service). A request/response client sends one frame per read
  and never pays for this.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import secrets
import time
from collections.abc import Callable
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

# Why reading is paused (a bit set: each cause lifts only its own bit).
_PIPELINE_FULL = 1  # MAX_PIPELINE answers outstanding
_PEER_NOT_READING = 2  # the transport's write buffer is over its high-water mark
_BACKLOG = 4  # READ_AHEAD bytes of frames wait for their turn

READ_AHEAD = 65536
"""Bytes of received, not yet dispatched frames a session holds before it stops
reading: a client pipelining faster than its turns come must wait in its own
socket buffer, not in our memory."""


class PendingAnswer:
    """The answer of a db call, to come. ``resolve`` (in the loop thread, after the
    commit) hands it to the session, which writes it once every answer before it
    is out. A plain slot with a callback, not a future: a future's done-callback
    costs one more loop turn per answer."""

    __slots__ = ("answer", "on_ready")

    def __init__(self) -> None:
        self.answer: list[Any] | None = None
        self.on_ready: Callable[[], None] | None = None

    def resolve(self, answer: list[Any]) -> None:
        if self.answer is not None:
            return
        self.answer = answer
        if self.on_ready is not None:
            self.on_ready()


Answer = list[Any] | PendingAnswer | bytes
"""A wire response now, one to come, or a whole frame already encoded."""


class SessionHost(Protocol):
    """What a session needs of its server (so this module does not import the server)."""

    @property
    def settings(self) -> Settings: ...

    def dispatch(self, session: Session, obj: Any) -> Answer: ...

    def meta(self) -> dict[str, Any]: ...

    def session_opened(self, session: Session) -> bool:
        """A new connection: False when it may not stay (the session then aborts)."""
        ...

    def session_closed(self, session: Session) -> None: ...

    counters: Counters

    @property
    def admission(self) -> Admission[Session]: ...


class Session(asyncio.Protocol):
    """One client connection: read frames, dispatch, answer in order."""

    def __init__(self, server: SessionHost) -> None:
        self.server = server
        self.counters = server.counters
        self._max_frame = server.settings.max_frame  # answers: the cap once authenticated
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.nonce = secrets.token_hex(16)
        self.authenticated = False
        self.ping_frame: tuple[tuple[str, int], bytes] | None = None  # the server's cache
        self.decoder = protocol.FrameDecoder(protocol.PRE_AUTH_MAX_FRAME)
        self.pending: collections.deque[Answer] = collections.deque()
        self._closing = False  # no more frames are dispatched
        self._close_when_flushed = False  # close once every pending answer is out
        self._eof = False
        self._admitted = False
        self._paused = 0  # _PIPELINE_FULL | _PEER_NOT_READING
        self._yielding = False
        self._frame_timer: asyncio.TimerHandle | None = None
        self._frame_started = 0.0
        self._flushed: asyncio.Future[None] | None = None  # finish() waits on it
        self._lost: asyncio.Future[None] = self._loop.create_future()
        # Unauthenticated: closed after auth-deadline without a whole frame. Pings
        # need no key, so a poller that pings on one connection stays; an idle flood
        # does not (issue 12 item 1).
        # Jittered (x1-1.5), so that a flood opened at once is not closed at once
        # and does not come back as one burst of reconnects.
        self._auth_idle = server.settings.auth_deadline * (1 + random.random() / 2)
        self.auth_by = time.monotonic() + self._auth_idle
        self._auth_timer: asyncio.TimerHandle | None = None

    # -- the connection ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._auth_timer = self._loop.call_later(self._auth_idle, self._check_auth_deadline)
        if self.server.session_opened(self):
            self._admitted = True
        else:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._cancel_auth_timer()
        self._cancel_frame_timer()
        if not self._lost.done():
            self._lost.set_result(None)
        if self._flushed is not None and not self._flushed.done():
            self._flushed.set_result(None)
        if self._admitted:
            self._admitted = False
            self.server.session_closed(self)

    def data_received(self, data: bytes) -> None:
        self.counters.bytes_in += len(data)
        self.decoder.feed(data)
        if not (self._yielding or self._paused or self._closing):
            self._process()
        elif self._yielding and self.decoder.buffered > READ_AHEAD:
            self._pause(_BACKLOG)

    def eof_received(self) -> bool:
        # The peer sent its last request: answer what it sent, then close. True
        # keeps the transport open (half-closed) until then.
        self._eof = True
        if not (self._yielding or self._paused or self._closing):
            self._process()
        return True

    def pause_writing(self) -> None:
        self._pause(_PEER_NOT_READING)

    def resume_writing(self) -> None:
        self._unpause(_PEER_NOT_READING)

    # -- authentication ------------------------------------------------------------

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
            self._auth_timer = self._loop.call_later(left, self._check_auth_deadline)
            return
        log.info("closing connection: unauthenticated and idle for %gs",
                 self.server.settings.auth_deadline, extra=_LIMITED)
        self.counters.count_refused()
        self.abort()

    def _cancel_auth_timer(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None

    # -- reading and dispatching ----------------------------------------------------

    def _process(self) -> None:
        """Dispatch the whole frames buffered, as far as the pauses allow."""
        decoder = self.decoder
        turn = 0
        while True:
            try:
                obj = decoder.next()
            except ProtocolError as exc:
                log.info("closing connection: %s", exc, extra=_LIMITED)
                if isinstance(exc, FrameTooLarge):
                    # Say why before closing: the peer learns the cap instead of
                    # resending into a reset connection (issue 12 item 8).
                    self._emit(protocol.error_wire("too_large", str(exc), self.server.meta()))
                self.counters.count_refused()
                self._finish_after_flush()
                return
            if obj is None:
                break
            if self._frame_timer is not None:  # that frame was late-arriving but whole
                self._cancel_frame_timer()
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
            if self._closing:  # a close was asked for meanwhile
                return
            if len(self.pending) >= MAX_PIPELINE:
                self._pause(_PIPELINE_FULL)
                return
            if self._paused & ~_BACKLOG:  # the peer stopped reading while we wrote
                return
            if not decoder.pending:  # the common case: one request per read
                break
            turn += 1
            if turn >= FRAMES_PER_TURN:
                # Another frame (or part of one) right behind this one: the other
                # connections first.
                self._yielding = True
                self._loop.call_soon(self._end_yield)
                if decoder.buffered > READ_AHEAD:
                    self._pause(_BACKLOG)
                elif self._paused & _BACKLOG:
                    self._lift_backlog()
                return
        if decoder.pending:
            # Part of a frame: it must be whole within frame-deadline of its first
            # byte (the timer is cancelled whenever a frame is taken).
            if self._frame_timer is None:
                self._frame_started = time.monotonic()
                self._frame_timer = self._loop.call_later(
                    self.server.settings.frame_deadline, self._check_frame_deadline
                )
        elif self._frame_timer is not None:
            self._cancel_frame_timer()
        if self._paused & _BACKLOG:
            self._lift_backlog()
        if self._eof:
            self._finish_after_flush()

    def _end_yield(self) -> None:
        self._yielding = False
        if not (self._paused & ~_BACKLOG or self._closing):
            self._process()

    def _pause(self, why: int) -> None:
        if not self._paused and self.transport is not None:
            self.transport.pause_reading()
            # Our own back-pressure, not the peer's slowness: no frame deadline now.
            self._cancel_frame_timer()
        self._paused |= why

    def _unpause(self, why: int) -> None:
        if not self._paused & why:
            return
        self._paused &= ~why
        if self._paused & ~_BACKLOG or self._closing:
            return
        if not self._paused and self.transport is not None and not self._eof:
            self.transport.resume_reading()
        if not self._yielding:
            self._yielding = True  # one resumption, in its own loop turn
            self._loop.call_soon(self._end_yield)

    def _lift_backlog(self) -> None:
        self._paused &= ~_BACKLOG
        if not self._paused and self.transport is not None and not self._eof:
            self.transport.resume_reading()

    def _check_frame_deadline(self) -> None:
        self._frame_timer = None
        if self._closing or self._paused or not self.decoder.pending:
            return
        deadline = self.server.settings.frame_deadline
        left = self._frame_started + deadline - time.monotonic()
        if left > 0:
            self._frame_timer = self._loop.call_later(left, self._check_frame_deadline)
            return
        log.info("closing connection: frame not complete within %gs", deadline, extra=_LIMITED)
        self.counters.count_refused()
        self._finish_after_flush()

    def _cancel_frame_timer(self) -> None:
        if self._frame_timer is not None:
            self._frame_timer.cancel()
            self._frame_timer = None

    # -- answering --------------------------------------------------------------------

    def _emit(self, item: Answer) -> None:
        """Queue one answer. Invariant: answers leave in request order; an answer
        is written as soon as it and every answer before it are ready."""
        if type(item) is list or type(item) is bytes:
            if not self.pending:
                self._write(item)
                return
        else:
            assert isinstance(item, PendingAnswer)
            if item.answer is not None and not self.pending:
                self._write(item.answer)  # resolved already (nothing went to the db)
                return
            item.on_ready = self._write_ready
        self.pending.append(item)

    def _write_ready(self) -> None:
        pending = self.pending
        while pending:
            head = pending[0]
            if type(head) is list or type(head) is bytes:
                answer = head
            else:
                assert isinstance(head, PendingAnswer)
                if head.answer is None:
                    return
                answer = head.answer
            pending.popleft()
            self._write(answer)
        self._on_flushed()
        if self._paused & _PIPELINE_FULL:
            self._unpause(_PIPELINE_FULL)

    def _on_flushed(self) -> None:
        """Every answer is out (to the transport)."""
        if self._flushed is not None and not self._flushed.done():
            self._flushed.set_result(None)
        if self._close_when_flushed and self.transport is not None:
            self.transport.close()  # sends what is buffered first

    def _write(self, wire: list[Any] | bytes) -> None:
        if isinstance(wire, bytes):  # encoded by the server (and within every cap)
            data = wire
        else:
            data = self._encode(wire)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.counters.bytes_out += len(data)
            transport.write(data)

    def _encode(self, wire: list[Any]) -> bytes:
        try:
            data = protocol.encode(wire)
        except (TypeError, ValueError, OverflowError):
            log.exception("unencodable result")
            data = protocol.encode(protocol.error_wire("db_error", "unencodable result", wire[3]))
        if len(data) - 4 > self._max_frame:
            data = protocol.encode(
                protocol.error_wire(
                    "too_large",
                    f"response of {len(data)} bytes exceeds max-frame; narrow the query",
                    wire[3],
                )
            )
        return data

    # -- closing ----------------------------------------------------------------------

    def _finish_after_flush(self) -> None:
        """Dispatch nothing more; close once every pending answer is out."""
        self._closing = True
        self._close_when_flushed = True
        self._cancel_frame_timer()
        if not self.pending:
            self._on_flushed()

    def abort(self) -> None:
        """Drop the connection now (admission made room for a newer one)."""
        self._closing = True
        self._cancel_auth_timer()
        self._cancel_frame_timer()
        if self.transport is not None:
            self.transport.abort()

    async def finish(self, timeout: float) -> None:
        """Shutdown: let queued answers go out (within ``timeout``), then close."""
        end = time.monotonic() + timeout
        self._closing = True
        if self.transport is None or self._lost.done():
            return
        if self.pending:
            self._flushed = self._loop.create_future()
            await _wait(self._flushed, timeout)
        self.transport.close()  # sends what is buffered first
        if not await _wait(self._lost, max(end - time.monotonic(), 0.1)):
            self.transport.abort()  # a peer that does not read cannot hold the shutdown


async def _wait(fut: asyncio.Future[None], timeout: float) -> bool:
    """Did ``fut`` complete within ``timeout``? (It is not cancelled either way.)"""
    try:
        await asyncio.wait_for(asyncio.shield(fut), timeout)
    except TimeoutError:
        return False
    return True
