"""The wire protocol over bytes (SPEC §3): framing, validation, auth. No sockets."""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import CommandError, FrameTooLarge, ProtocolError
from backend.wire import protocol

# Plain msgpack values the protocol carries: nil, bool, int, float, str, bin,
# arrays and str-keyed maps.
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=50),
    st.binary(max_size=50),
)
values = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=10), kids, max_size=5)
    ),
    max_leaves=30,
)


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def drain(dec: protocol.FrameDecoder) -> list[Any]:
    out = []
    while (obj := dec.next()) is not None:
        out.append(obj)
    return out


# -- framing --------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(values)
def test_encode_decode_round_trip(obj: Any) -> None:
    data = protocol.encode(obj)
    (size,) = struct.unpack(">I", data[:4])
    assert size == len(data) - 4
    assert protocol.decode_body(data[4:]) == obj


@settings(max_examples=40, deadline=None)
@given(st.lists(values.filter(lambda v: v is not None), min_size=1, max_size=5))
def test_decoder_one_byte_at_a_time(objs: list[Any]) -> None:
    frames = [protocol.encode(o) for o in objs]
    stream = b"".join(frames)
    boundaries = {sum(len(f) for f in frames[: k + 1]) for k in range(len(frames))}
    dec = protocol.FrameDecoder(1 << 20)
    got: list[Any] = []
    for i in range(len(stream)):
        dec.feed(stream[i : i + 1])
        got += drain(dec)
        # pending exactly while a frame is partly buffered (the read deadline runs)
        assert dec.pending == (i + 1 not in boundaries)
    assert got == objs
    assert not dec.pending
    assert dec.next() is None


def test_several_frames_in_one_chunk_and_split_across_chunks() -> None:
    objs = [["ping", None, [], None], {"a": 1}, "x" * 300, [1, [2, [3]]]]
    stream = b"".join(protocol.encode(o) for o in objs)
    dec = protocol.FrameDecoder(1 << 20)
    dec.feed(stream + stream[:7])
    assert drain(dec) == objs
    assert dec.pending
    dec.feed(stream[7:])
    assert drain(dec) == objs
    assert not dec.pending


def test_oversized_header_raises_before_body_arrives() -> None:
    dec = protocol.FrameDecoder(1 << 20)
    dec.feed(struct.pack(">I", (1 << 20) + 1))  # only the 4-byte header
    with pytest.raises(FrameTooLarge, match="exceeds"):
        dec.next()
    dec = protocol.FrameDecoder(1 << 20)
    dec.feed(b"\xff\xff\xff\xff")
    with pytest.raises(FrameTooLarge):
        dec.next()
    assert issubclass(FrameTooLarge, ProtocolError)


def test_frame_exactly_at_cap_is_accepted() -> None:
    body = msgpack.packb("x" * 100)
    dec = protocol.FrameDecoder(len(body))
    dec.feed(frame(body))
    assert dec.next() == "x" * 100


def test_pre_auth_cap_then_raised_cap() -> None:
    big = ["cmd", 1, ["y" * 10_000], None]
    data = protocol.encode(big)
    assert len(data) - 4 > protocol.PRE_AUTH_MAX_FRAME
    dec = protocol.FrameDecoder(protocol.PRE_AUTH_MAX_FRAME)
    dec.feed(data[:4])
    with pytest.raises(FrameTooLarge):
        dec.next()
    # A fresh decoder that authenticates first, then gets the big frame.
    dec = protocol.FrameDecoder(protocol.PRE_AUTH_MAX_FRAME)
    dec.feed(protocol.encode(["ping", None, [], None]))
    assert dec.next() == ["ping", None, [], None]
    dec.max_frame = 1 << 20
    dec.feed(data)
    assert dec.next() == big


def test_nil_frame_is_not_silently_dropped() -> None:
    """next() returns None for "no frame yet"; a nil frame must not look like that:
    it decodes to NIL_FRAME, which is a bad request and not a response."""
    dec = protocol.FrameDecoder(100)
    dec.feed(protocol.encode(None) + protocol.encode(["ping", None, [], None]))
    nil = dec.next()
    assert nil is protocol.NIL_FRAME
    with pytest.raises(CommandError) as ei:
        protocol.parse_request(nil)
    assert ei.value.code == "bad_request"
    with pytest.raises(ProtocolError):
        protocol.parse_response(nil)
    assert dec.next() == ["ping", None, [], None]  # the stream stays in sync
    assert dec.next() is None


def test_empty_body_is_protocol_error() -> None:
    dec = protocol.FrameDecoder(100)
    dec.feed(frame(b""))
    with pytest.raises(ProtocolError):
        dec.next()


BAD_BODIES = {
    "reserved byte": b"\xc1",
    "truncated array": b"\x93\x01\x02",
    "truncated str": b"\xa5ab",
    "truncated uint32": b"\xce\x00\x01",
    "extra data": b"\x01\x02",
    "ext type 5": msgpack.packb(msgpack.ExtType(5, b"abc")),
    "ext type 127 in list": msgpack.packb([1, msgpack.ExtType(127, b"")]),
    "timestamp ext -1": msgpack.packb(msgpack.Timestamp(1, 0)),
    "nested timestamp": msgpack.packb(["x", {"k": [msgpack.Timestamp(2**40, 5)]}]),
    "timestamp96": b"\xc7\x0c\xff" + b"\x00" * 4 + b"\x00" * 8,
    "invalid utf-8 str": b"\xa2\xff\xfe",
    "invalid utf-8 key": b"\x81\xa2\xc3\x28\x01",
    "int map key": msgpack.packb({1: 2}),
    "nil map key": b"\x81\xc0\x01",
    "bytes map key": msgpack.packb({b"k": 1}, use_bin_type=True),
    "nested bytes map key": msgpack.packb(["x", {"a": {b"k": 1}}], use_bin_type=True),
    "array map key": b"\x81\x90\x01",
    "map map key": b"\x81\x80\x01",
    "deep arrays": b"\x91" * 10_000 + b"\xc0",
    "deep maps": b"\x81\xa1k" * 10_000 + b"\xc0",
    "huge array header": b"\xdd\xff\xff\xff\xff",
    "huge str header": b"\xdb\xff\xff\xff\xff",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_garbage_bodies_raise_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_body(body)
    dec = protocol.FrameDecoder(1 << 20)
    dec.feed(frame(body))
    with pytest.raises(ProtocolError):
        dec.next()


def test_timestamp_marker_inside_a_string_is_fine() -> None:
    obj = {"k": ["\xd6\xff", b"\xd7\xff\xc7\x0c\xff"]}
    assert protocol.decode_body(protocol.encode(obj)[4:]) == obj


# -- requests and responses -----------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        ["ping", None, [], None],
        ["get-keys", None, [], {"auth": "x"}],
        ["get-run", 0, [1, "a"], None],
        ["get-run", 2**63 - 1, [], {}],  # sqlite's largest INTEGER
    ],
)
def test_parse_request_accepts_valid(obj: list[Any]) -> None:
    req = protocol.parse_request(obj)
    assert req.to_wire() == obj
    # and over the wire
    assert protocol.parse_request(protocol.decode_body(protocol.encode(obj)[4:])) == req


def test_parse_request_normalises_nil_params() -> None:
    req = protocol.parse_request(["ping", None, None, None])
    assert req.params == []
    assert req.to_wire() == ["ping", None, [], None]


@pytest.mark.parametrize(
    "obj",
    [
        None,
        "ping",
        {"cmd": "ping"},
        [],
        ["ping"],
        ["ping", None, []],
        ["ping", None, [], None, None],
        ("ping", None, [], None),
        [1, None, [], None],
        ["", None, [], None],
        [b"ping", None, [], None],
        ["x" * 129, None, [], None],
        ["ping", True, [], None],
        ["get-run", 2**63, [], {}],  # beyond sqlite's INTEGER (issue 12 item 11)
        ["ping", False, [], None],
        ["ping", -1, [], None],
        ["ping", 1.0, [], None],
        ["ping", "1", [], None],
        ["ping", None, {}, None],
        ["ping", None, "abc", None],
        ["ping", None, [], []],
        ["ping", None, [], "auth"],
    ],
)
def test_parse_request_rejects_malformed(obj: Any) -> None:
    with pytest.raises(CommandError) as ei:
        protocol.parse_request(obj)
    assert ei.value.code == "bad_request"
    assert str(ei.value).startswith("bad_request: ")


def test_parse_response() -> None:
    meta = {"sstate": "running", "sload": 0}
    r = protocol.parse_response(["ok", None, "sid", meta])
    assert (r.status, r.errmsg, r.result, r.meta, r.error_code) == ("ok", None, "sid", meta, None)
    assert r.to_wire() == ["ok", None, "sid", meta]
    e = protocol.parse_response(protocol.error_wire("db_busy", "locked", meta))
    assert e.status == "error" and e.errmsg == "db_busy: locked" and e.error_code == "db_busy"
    assert protocol.parse_response(["busy", None, 0.5, {}]).result == 0.5
    assert protocol.parse_response(["loaded", None, [1], {}]).result == [1]
    assert protocol.error_wire("unauthorized", "", {})[1] == "unauthorized"


@pytest.mark.parametrize(
    "obj",
    [
        None,
        ["ok", None, 1],
        ["ok", None, 1, {}, 5],
        ["fine", None, 1, {}],
        [None, None, 1, {}],
        ["ok", 5, 1, {}],
        ["ok", None, 1, None],
        ["ok", None, 1, []],
    ],
)
def test_parse_response_rejects_malformed(obj: Any) -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_response(obj)


# -- authentication -------------------------------------------------------------


def test_auth_token_is_hmac_sha256_of_server_id_and_nonce() -> None:
    key = b"ab" * 32
    want = hmac.new(key, b"sid123:nonce456", hashlib.sha256).hexdigest()
    assert protocol.auth_token(key, "sid123", "nonce456") == want
    assert protocol.check_auth(key, "sid123", "nonce456", want) is True


def test_check_auth_refuses_wrong_inputs() -> None:
    key = b"ab" * 32
    tok = protocol.auth_token(key, "sid", "n1")
    assert protocol.check_auth(b"cd" * 32, "sid", "n1", tok) is False  # wrong key
    assert protocol.check_auth(key, "sid", "n2", tok) is False  # wrong nonce
    assert protocol.check_auth(key, "other", "n1", tok) is False  # wrong server
    assert protocol.check_auth(key, "sid", "n1", None) is False  # missing
    assert protocol.check_auth(key, "sid", "n1", "") is False
    assert protocol.check_auth(key, "sid", "n1", tok.upper()) is False
    assert protocol.check_auth(key, "sid", "n1", tok.encode()) is False  # bytes, not str
    assert protocol.check_auth(key, "sid", "n1", 12345) is False
    assert protocol.check_auth(None, "sid", "n1", tok) is False  # no area key


# -- fuzz -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 64), st.integers(0, 300))
def test_fuzz_decoder_and_parse_request(data: bytes, chunk: int, cap: int) -> None:
    dec = protocol.FrameDecoder(cap)
    try:
        for i in range(0, len(data), chunk):
            dec.feed(data[i : i + chunk])
            while (obj := dec.next()) is not None:
                try:
                    protocol.parse_request(obj)
                except CommandError as exc:
                    assert exc.code == "bad_request"
    except (ProtocolError, FrameTooLarge):
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_framed_bodies(body: bytes) -> None:
    """Arbitrary bodies behind a correct header: decoded or ProtocolError, nothing else."""
    dec = protocol.FrameDecoder(1 << 20)
    dec.feed(frame(body))
    try:
        obj = dec.next()
    except ProtocolError:
        return
    try:
        protocol.parse_request(obj)
    except CommandError as exc:
        assert exc.code == "bad_request"


def test_check_auth_refuses_a_non_ascii_token_instead_of_raising() -> None:
    """Found by the long fuzz run: hmac.compare_digest raises TypeError on non-ASCII str."""
    from backend.wire.protocol import check_auth

    assert check_auth(b"k" * 64, "sid", "nonce", "\x80") is False
    assert check_auth(b"k" * 64, "sid", "nonce", "é" * 64) is False


def test_answer_builders_are_the_list_form_of_response() -> None:
    """The server builds answers with protocol's *_wire functions; each is what
    ``Response(...).to_wire()`` gives and parses back to that Response."""
    meta = {"sstate": "running", "sload": 0}
    cases = [
        (protocol.ok_wire(42, meta), protocol.Response(protocol.OK, None, 42, meta)),
        (protocol.loaded_wire("x", meta), protocol.Response(protocol.LOADED, None, "x", meta)),
        (protocol.busy_wire(0.2, meta), protocol.Response(protocol.BUSY, None, 0.2, meta)),
        (protocol.error_wire("bad_request", "no", meta),
         protocol.Response(protocol.ERROR, "bad_request: no", None, meta)),
    ]
    for wire, resp in cases:
        assert wire == resp.to_wire()
        assert protocol.parse_response(protocol.decode_body(protocol.encode(wire)[4:])) == resp
    req = protocol.Request("get-var", 3, ["k"], {"idem": "a"})
    assert protocol.parse_request(protocol.decode_body(protocol.encode(req.to_wire())[4:])) == req
