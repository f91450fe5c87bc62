"""Protocol and bad input (reliability.md §3): hostile bytes against a real
server process, an in-process fuzz of the frame decoder + ``Server.dispatch``,
1,000 idle connections and fd exhaustion."""

from __future__ import annotations

import asyncio
import os
import random
import resource
import socket
import struct
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import states
from backend.area import Area
from backend.config import load_settings
from backend.db import api
from backend.errors import BackendError, ProtocolError
from backend.server.dbworker import DbWorker
from backend.server.server import Server
from backend.server.session import PendingAnswer
from backend.wire import protocol
from backend.wire.connection import Connection, ping
from tests.faults.util import authed, decode_all, log_text, raw_socket, recv_until_closed, start_server, stop_proc

H = struct.Struct(">I")
# Long fuzz run: MTSERVE_FUZZ_EXAMPLES=20000 pytest -p no:xdist --timeout 0 tests/faults -k fuzz (docs/reliability.md)
FUZZ_EXAMPLES = int(os.environ.get("MTSERVE_FUZZ_EXAMPLES", "150"))
COUNTS: dict[str, int] = {}


def frame(body: bytes) -> bytes:
    return H.pack(len(body)) + body


def pk(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"


def closing_inputs(rng: random.Random) -> list[tuple[str, bytes]]:
    """Byte streams after which the server must close the connection (pre-auth)."""
    cases = [
        ("truncated-header", b"\x00\x00"),
        ("over-cap-header", H.pack(5000)),
        ("header-4GiB", b"\xff\xff\xff\xff"),
        ("invalid-utf8-cmd", frame(b"\x94\xa2\xff\xfe\xc0\x90\xc0")),
        ("invalid-utf8-key", frame(b"\x94\xa4ping\xc0\x90\x81\xa2\xff\xfe\xc0")),
        ("deep-nesting-3000", frame(nested(3000))),
        ("array32-claims-4G", frame(b"\xdd\xff\xff\xff\xff\xc0")),
        ("map32-claims-4G", frame(b"\xdf\xff\xff\xff\xff")),
        ("str32-claims-4G", frame(b"\xdb\xff\xff\xff\xff")),
        ("ext-type", frame(pk(["ping", None, [], None])[:-1] + b"\xd4\x05\x00")),
        ("timestamp", frame(b"\x94\xa4ping\xc0\x90\xd6\xff\x00\x00\x00\x01")),
        ("bytes-map-key", frame(b"\x94\xa4ping\xc0\x90\x81\xc4\x01k\xc0")),
        ("int-map-key", frame(b"\x94\xa4ping\xc0\x90\x81\x01\xc0")),
        ("extra-data", frame(pk(["ping", None, [], None]) + b"\xc0")),
        ("reserved-byte-c1", frame(b"\xc1")),
        ("empty-body", frame(b"")),
        ("desync", pk(["ping", None, [], None]) + b"\x00" * 8),
    ]
    for i in range(60):
        body = rng.randbytes(rng.randint(1, 300))
        cases.append((f"garbage-{i}", body if i % 2 else frame(body)))
    return cases


REQUEST_ERRORS: list[tuple[str, Any, str]] = [
    ("not-a-list", "ping", "bad_request"),
    ("map", {"cmd": "ping"}, "bad_request"),
    ("short", ["get-var", None, []], "bad_request"),
    ("long", ["get-var", None, [], None, 1], "bad_request"),
    ("cmd-int", [7, None, [], None], "bad_request"),
    ("cmd-empty", ["", None, [], None], "bad_request"),
    ("cmd-long", ["x" * 1000, None, [], None], "bad_request"),
    ("cmd-bytes", [b"ping", None, [], None], "bad_request"),
    ("run-id-str", ["get-var", "1", ["x"], None], "bad_request"),
    ("run-id-neg", ["get-var", -1, ["x"], None], "bad_request"),
    ("run-id-bool", ["get-var", True, ["x"], None], "bad_request"),
    ("run-id-float", ["get-var", 1.5, ["x"], None], "bad_request"),
    ("run-id-nan", ["get-var", float("nan"), ["x"], None], "bad_request"),
    ("run-id-u64", ["get-var", 2**64 - 1, ["x"], None], "bad_request"),
    ("run-id-other-db", ["get-var", 3, ["x"], None], "bad_request"),
    ("params-map", ["get-var", None, {"a": 1}, None], "bad_request"),
    ("params-str", ["get-var", None, "x", None], "bad_request"),
    ("meta-list", ["get-var", None, ["x"], [1]], "bad_request"),
    ("unknown-cmd", ["no-such-command", None, [], None], "unknown_command"),
    ("unknown-cmd-unicode", ["\u2603\U0001f600", None, [], None], "unknown_command"),
    ("var-int", ["get-var", None, [1], None], "bad_request"),
    ("var-nested", ["get-var", None, [[[[]]]], None], "bad_request"),
    ("set-var-map", ["set-var", None, ["x", {"a": 1}], None], "bad_request"),
    ("set-var-bytes", ["set-var", None, [b"x", "1"], None], "bad_request"),
    ("huge-params", ["get-var", None, [None] * 200_000, None], "bad_request"),
    ("deep-params", ["get-var", None, [[[[[[[[[[1]]]]]]]]]], None], "bad_request"),
    ("idem-int", ["set-var", None, ["x", "1"], {"idem": 5}], "bad_request"),
    ("idem-long", ["set-var", None, ["x", "1"], {"idem": "k" * 500}], "bad_request"),
    ("register-test-garbage", ["register-test", 1, [None, {}, -1], None], "bad_request"),
    ("csv-garbage", ["csv->test-data", 1, ["x", 5], None], "bad_request"),
    ("reserved-var", ["set-var", None, ["SCHEMA_VERSION", "99"], None], "bad_request"),
]


@pytest.mark.slow
def test_hostile_bytes_against_a_real_server(area: Path) -> None:
    proc, e = start_server(area, frame_deadline="1")
    rng = random.Random(1234)
    tried = 0
    try:
        for name, data in closing_inputs(rng):
            s = raw_socket(e)
            s.sendall(data)
            t0 = time.monotonic()
            out, closed = recv_until_closed(s, 3)
            s.close()
            tried += 1
            assert closed, f"{name}: connection not closed"
            assert time.monotonic() - t0 < 2.5, name
            for obj in decode_all(out):  # whatever came back is a well-formed response
                protocol.parse_response(obj)
        # a frame holding nil: a bad_request answer or a close, never silence
        s = raw_socket(e)
        s.sendall(frame(b"\xc0") + frame(pk(["ping", None, [], None])))
        out, closed = recv_until_closed(s, 1.5)
        s.close()
        answers = decode_all(out)
        assert (closed and not answers) or (
            len(answers) == 2 and answers[0][1].startswith("bad_request")
        ), (closed, answers)
        tried += 1
        # a cap check happens on the header alone: closed at once, body never awaited
        s = raw_socket(e)
        s.sendall(H.pack(protocol.PRE_AUTH_MAX_FRAME + 1))
        t0 = time.monotonic()
        _, closed = recv_until_closed(s, 2)
        assert closed and time.monotonic() - t0 < 0.5
        s.close()
        tried += 1
        # slow senders: a frame not whole within frame-deadline (1 s) of its first byte
        for trickle in (False, True):
            s = raw_socket(e)
            body = pk(["ping", None, [], None])
            data = frame(body)
            s.sendall(data[:3])
            t0 = time.monotonic()
            closed = False
            for b in data[3:]:
                if not trickle:
                    break
                time.sleep(0.25)
                try:
                    s.sendall(bytes([b]))
                except OSError:
                    closed = True
                    break
            if not closed:
                _, closed = recv_until_closed(s, 3)
            assert closed and 0.9 < time.monotonic() - t0 < 2.5, trickle
            s.close()
            tried += 1
        # an over-cap frame after authentication (cap = max-frame)
        conn, auth = authed(area, e)
        assert conn.request(["get-var", None, ["x"], auth], 5).status == "ok"
        conn.sock.sendall(H.pack((1 << 20) + 1))
        _, closed = recv_until_closed(conn.sock, 2)
        assert closed
        conn.close()
        tried += 1
        # authenticated deep nesting past msgpack's stack limit: closed, not a crash
        conn, auth = authed(area, e)
        assert conn.request(["get-var", None, ["x"], auth], 5).status == "ok"
        conn.sock.sendall(frame(nested(100_000)))
        _, closed = recv_until_closed(conn.sock, 3)
        assert closed
        conn.close()
        tried += 1
        # malformed requests: an error answer, and the connection stays usable
        conn, auth = authed(area, e)
        assert conn.request(["get-var", None, ["x"], auth], 5).status == "ok"
        errors: list[str] = []
        for name, obj, code in REQUEST_ERRORS:
            conn.send(frame(pk(obj)), 5)
            try:
                resp = conn.receive(10)
            except BackendError as exc:
                raise AssertionError(f"{name}: {exc}") from None
            tried += 1
            assert resp.status == "error" and resp.error_code == code, (name, resp)
            assert resp.meta["sstate"] == "running"
            errors.append(resp.errmsg or "")
        # 600 pipelined requests in one write (over the 256 pipeline window): all answered, in order
        wire = b"".join(protocol.encode(["get-var", None, [f"v{i}"], None]) for i in range(600))
        conn.send(wire, 5)
        got = [conn.receive(10) for _ in range(600)]
        assert all(r.status in ("ok", "busy", "loaded") for r in got)
        tried += 600
        conn.close()
        for msg in errors:
            assert "Traceback" not in msg and str(area) not in msg and "/" not in msg, msg
        assert ping(e.registration.host, e.registration.port).sstate == "running"
        assert proc.poll() is None
    finally:
        assert stop_proc(proc) == 0
    assert "Traceback" not in log_text(area)
    COUNTS["real-server"] = tried
    (area.parent / "bad-inputs-real").write_text(str(tried))


# -- in-process fuzz of the decoder + dispatch ------------------------------------


class _FakeSession:
    def __init__(self) -> None:
        self.nonce = os.urandom(16).hex()
        self.authenticated = False

    def authenticate(self) -> None:
        self.authenticated = True


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(),
    st.text(max_size=30), st.binary(max_size=30),
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=20,
)
commands = st.sampled_from(sorted(api.COMMANDS) + ["ping", "stop", "nope", ""])


def _in_process_server(root: Path) -> tuple[Server, asyncio.AbstractEventLoop]:
    area = Area.open(root)
    area.ensure_dirs()
    srv = Server(area, "main.db", load_settings(area.root))
    srv.key = area.key()
    srv.state = states.RUNNING
    loop = asyncio.new_event_loop()
    srv._db = DbWorker(loop, srv._open_store)
    srv._db.start()
    return srv, loop


async def _dispatch(srv: Server, session: _FakeSession, obj: Any) -> Any:
    out = srv.dispatch(session, obj)  # type: ignore[arg-type]
    if isinstance(out, bytes):  # an answer the server sends pre-encoded (ping)
        return protocol.decode_body(out[protocol.HEADER.size:])
    if isinstance(out, PendingAnswer):
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        out.on_ready = lambda: ready.set_result(None)
        if out.answer is None:
            await asyncio.wait_for(ready, 10)
        out = out.answer
    return out


def _check(srv: Server, loop: asyncio.AbstractEventLoop, session: _FakeSession, obj: Any) -> list[Any]:
    out = loop.run_until_complete(_dispatch(srv, session, obj))
    resp = protocol.parse_response(out)
    protocol.encode(out)  # always encodable
    if resp.errmsg:
        assert "Traceback" not in resp.errmsg and str(srv.area.root) not in resp.errmsg, resp.errmsg
        assert resp.error_code in protocol.ERROR_CODES, resp.errmsg
    return out


def test_fuzz_frame_decoder_and_dispatch(area: Path) -> None:
    srv, loop = _in_process_server(area)
    counted = [0]
    try:
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(
            chunks=st.lists(st.one_of(
                st.binary(max_size=64),
                st.builds(lambda v: protocol.encode(v), values),
                st.builds(
                    lambda c, r, p, m: protocol.encode([c, r, p, m]),
                    commands,
                    st.one_of(st.none(), st.integers(-2, 12), scalars),
                    st.one_of(st.lists(values, max_size=6), values),
                    st.one_of(st.none(), st.dictionaries(st.sampled_from(["auth", "idem", "x"]), values)),
                ),
            ), max_size=8),
            split=st.integers(1, 7),
            good_auth=st.booleans(),
        )
        def run(chunks: list[bytes], split: int, good_auth: bool) -> None:
            session = _FakeSession()
            if good_auth:
                session.authenticate()
            dec = protocol.FrameDecoder(protocol.PRE_AUTH_MAX_FRAME)
            data = b"".join(chunks)
            for i in range(0, len(data), split):  # fed in small pieces, like a slow socket
                dec.feed(data[i : i + split])
                while True:
                    try:
                        obj = dec.next()
                    except ProtocolError:
                        counted[0] += 1
                        return
                    if obj is None:
                        break
                    counted[0] += 1
                    _check(srv, loop, session, obj)

        run()
    finally:
        assert srv._db is not None
        srv._db.stop()
        loop.close()
    COUNTS["fuzz"] = counted[0]
    (area.parent / "bad-inputs-fuzz").write_text(str(counted[0]))
    assert counted[0] > 0


def test_dispatch_answers_every_command_with_garbage_params(area: Path) -> None:
    """Every command x a fixed set of bad params, authenticated: one-line errors only."""
    srv, loop = _in_process_server(area)
    session = _FakeSession()
    session.authenticate()
    bad_params: list[Any] = [
        [], [None], [1], ["x"] * 20, [[]], [{}], [-1], [2**63], [float("nan")], [float("inf")],
        ["x", "y", "z"], [b"\xff"], ["\x00"], ["%"], ["*"], ["'; DROP TABLE runs; --"],
    ]
    n = 0
    try:
        for name in sorted(api.COMMANDS):
            for run_id in (None, 1):
                for params in bad_params:
                    _check(srv, loop, session, [name, run_id, params, None])
                    n += 1
    finally:
        assert srv._db is not None
        srv._db.stop()
        loop.close()
    (area.parent / "bad-inputs-commands").write_text(str(n))


# -- connections and file descriptors -----------------------------------------------


def _open_many(e: Any, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((e.registration.host, e.registration.port))
        except BlockingIOError:
            pass
        socks.append(s)
    return socks


@pytest.mark.slow
def test_a_thousand_idle_connections(area: Path) -> None:
    proc, e = start_server(area)
    socks = _open_many(e, 1000)
    try:
        time.sleep(1.0)
        reg = e.registration
        assert ping(reg.host, reg.port, 5).sstate == "running"
        conn, auth = authed(area, e)
        assert conn.request(["set-var", None, ["k", "v"], auth], 5).status == "ok"
        conn.close()
    finally:
        for s in socks:
            s.close()
    assert ping(e.registration.host, e.registration.port, 5).sstate == "running"
    assert proc.poll() is None
    assert stop_proc(proc) == 0


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


@pytest.mark.slow
def test_fd_exhaustion_does_not_kill_the_server(area: Path) -> None:
    proc, e = start_server(area, preexec=_low_nofile)
    socks = _open_many(e, 300)
    try:
        time.sleep(2.0)  # ten heartbeats (self-check, rank scan) while out of fds
        assert proc.poll() is None, "server died of EMFILE"
    finally:
        for s in socks:
            s.close()
    reg = e.registration
    from tests.helpers import wait_for

    wait_for(lambda: ping(reg.host, reg.port, 1).sstate == "running", 15, what="ping after EMFILE")
    conn, auth = authed(area, e)
    assert conn.request(["set-var", None, ["k", "v"], auth], 5).status == "ok"
    conn.close()
    assert e.path.exists()
    assert stop_proc(proc) == 0
    # no log flood: asyncio reports EMFILE once per backlog slot unless rate-limited
    noise = log_text(area) + "".join(p.read_text() for p in area.parent.glob("server-stderr-*"))
    assert noise.count("out of system resource") == 0 and "Traceback" not in noise
    assert noise.count("cannot accept connections") <= 2
    _ = Connection
