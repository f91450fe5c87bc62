"""``Client.call`` without sockets or real sleeps: busy, loaded, shutting-down and
transport failures, through a fake connection, a fake discovery and a fake clock.

The seams are ``Client(discover=, clock=, sleep=)`` (``docs/design.md``, "Seams
for tests"); the real discovery and transport are covered by the integration
tests with real servers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend.client.client import Client
from backend.config import Settings
from backend.errors import ConnectError, NoServerError, RemoteError, Timeout, TransportError
from backend.wire import protocol
from backend.wire.connection import Connection

Answer = list[Any] | TransportError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(round(seconds, 6))
        self.now += seconds


class FakeConnection(Connection):
    """Answers from a script; a ``TransportError`` in the script is raised by
    ``receive`` (a ``Timeout`` first moves the fake clock past the wait)."""

    def __init__(self, name: str, answers: list[Answer], clock: FakeClock) -> None:
        self.host, self.port, self.max_frame = name, 1, 1 << 20
        self.answers, self.clock = answers, clock
        self.sent: list[list[Any]] = []
        self.server_id, self.nonce = f"sid-{name}", "nonce"
        self.authenticated = True  # the auth handshake has its own tests
        self.backoff = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def send(self, data: bytes, timeout: float) -> None:
        self.sent.append(protocol.decode_body(data[4:]))

    def receive(self, timeout: float) -> protocol.Response:
        answer = self.answers.pop(0)
        if isinstance(answer, Timeout):
            self.clock.now += timeout
        if isinstance(answer, TransportError):
            raise answer
        return protocol.parse_response(answer)


class Servers:
    """The fake discovery: hands out the scripted connections in order, then none."""

    def __init__(self, *conns: FakeConnection) -> None:
        self.conns = list(conns)
        self.asked = 0

    def __call__(self, dbfname: str, end: float, last_failure: str) -> tuple[Connection | None, bool, str]:
        self.asked += 1
        if self.conns:
            return self.conns.pop(0), False, last_failure
        return None, False, "no registration"


def ok(result: Any) -> list[Any]:
    return [protocol.OK, None, result, {}]


@pytest.fixture
def make_client(area: Path) -> Callable[..., tuple[Client, FakeClock]]:
    def make(servers: Servers, **settings: Any) -> tuple[Client, FakeClock]:
        clock = FakeClock()
        s = Settings(**{"call_deadline": 5.0, "request_timeout": 2.0, "ping_timeout": 2.0, **settings})
        client = Client(area, s, launch=None, clock=clock, sleep=clock.sleep, discover=servers)
        return client, clock

    return make


def test_busy_waits_as_told_then_answers_on_the_same_connection(make_client: Any) -> None:
    clock = FakeClock()
    conn = FakeConnection("a", [[protocol.BUSY, None, 0.25, {}], [protocol.BUSY, None, 0.25, {}], ok("blue")], clock)
    client, fake = make_client(Servers(conn))
    conn.clock = fake
    assert client.call("get-var", "color") == "blue"
    # The server's hint plus attempt/10: 0.25+0.1, then 0.25+0.2.
    assert fake.slept == [0.35, 0.45]
    assert len(conn.sent) == 3 and not conn.closed


def test_busy_past_the_deadline_is_no_server(make_client: Any) -> None:
    conn = FakeConnection("a", [[protocol.BUSY, None, 10.0, {}]], FakeClock())
    client, fake = make_client(Servers(conn))
    with pytest.raises(NoServerError, match="a:1 busy"):
        client.call("get-var", "color")
    assert fake.slept == []  # a wait that cannot end before the deadline is not started


def test_loaded_answers_and_slows_the_next_call(make_client: Any) -> None:
    conn = FakeConnection("a", [[protocol.LOADED, None, "x", {}], ok("y"), ok("z")], FakeClock())
    client, fake = make_client(Servers(conn))
    assert client.call("get-var", "k") == "x"
    assert fake.slept == [] and conn.backoff == 1
    assert client.call("get-var", "k") == "y"
    assert fake.slept == [0.01] and conn.backoff == 0  # an OK answer earns the pause back
    assert client.call("get-var", "k") == "z"
    assert fake.slept == [0.01]


def test_shutting_down_fails_over_to_another_server_at_once(make_client: Any) -> None:
    going = FakeConnection("a", [protocol.error_wire("shutting_down", "server is stopping", {})], FakeClock())
    other = FakeConnection("b", [ok(42)], FakeClock())
    servers = Servers(going, other)
    client, fake = make_client(servers)
    assert client.call("get-var", "k") == 42
    assert going.closed and not other.closed and servers.asked == 2
    assert fake.slept == []  # not executed there: safe to resend without pausing
    assert client.last_server == "b:1"


def test_transport_failures_back_off_and_resend_the_same_write(make_client: Any) -> None:
    clock = FakeClock()
    first = FakeConnection("a", [ConnectError("a:1: Connection reset by peer")], clock)
    second = FakeConnection("b", [Timeout("no answer")], clock)
    third = FakeConnection("c", [ok(True)], clock)
    client, fake = make_client(Servers(first, second, third))
    for c in (first, second, third):
        c.clock = fake
    assert client.call("set-var", "color", "blue") is True
    assert first.closed and second.closed and not third.closed
    # A doubling pause after each failure (the Timeout also spent its 2 s wait).
    assert fake.slept == [0.01, 0.02]
    assert fake.now == pytest.approx(1000.0 + 0.01 + 2.0 + 0.02)
    # The write kept one idempotency key across the resends: applied at most once.
    keys = {c.sent[0][3]["idem"] for c in (first, second, third)}
    assert len(keys) == 1 and all(isinstance(k, str) and len(k) == 32 for k in keys)


def test_transport_failures_until_the_deadline_name_the_last_one(make_client: Any) -> None:
    clock = FakeClock()
    conns = [FakeConnection(f"s{i}", [Timeout(f"no answer from s{i}")], clock) for i in range(10)]
    client, fake = make_client(Servers(*conns), call_deadline=5.0)
    for c in conns:
        c.clock = fake
    with pytest.raises(NoServerError, match=r"within 5s; last failure: s2:1: no answer from s2"):
        client.call("get-var", "k")
    assert fake.now - 1000.0 <= 5.0 + 1e-9  # the deadline bounds the whole call


def test_no_server_polls_discovery_with_capped_doubling_then_gives_up(make_client: Any) -> None:
    servers = Servers()
    client, fake = make_client(servers, call_deadline=0.3)
    with pytest.raises(NoServerError, match="last failure: no registration"):
        client.call("get-var", "k")
    assert fake.slept[:5] == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert sum(fake.slept) == pytest.approx(0.3)
    assert servers.asked == len(fake.slept) + 1


def test_a_command_error_is_raised_not_retried(make_client: Any) -> None:
    conn = FakeConnection("a", [protocol.error_wire("bad_request", "no such command", {})], FakeClock())
    servers = Servers(conn)
    client, fake = make_client(servers)
    with pytest.raises(RemoteError) as info:
        client.call("get-var", "k")
    assert info.value.code == "bad_request" and servers.asked == 1 and fake.slept == []
