"""Registration files (SPEC §2; reference §1, §4.1; pain points P19, P20): no sockets."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import registry
from backend.errors import RegistryError
from backend.registry import Entry, Registration

MEGATEST_LINE = (
    "SERVER STARTED: 127.0.0.1:40001 AT 1616502350.0 server-id: abc pid: 4242 dbfname: main.db"
)
MEGATEST_NAME = "127.0.0.1:40001-4242:main.db"
STRICT_LINE1 = re.compile(
    r"^SERVER STARTED: (\S+):(\d+) AT (\d+) server-id: (\S+) pid: (\d+) dbfname: (\S+)$"
)


def reg(
    host: str = "127.0.0.1",
    port: int = 40001,
    start: float = 1_700_000_000,
    server_id: str = "a" * 32,
    pid: int = 4242,
    dbfname: str = "main.db",
    **extras: str,
) -> Registration:
    return Registration(host, port, start, server_id, pid, dbfname, dict(extras))


def line1(**kw: object) -> str:
    f = {
        "host": "127.0.0.1", "port": 40001, "at": 1_700_000_000, "sid": "abc", "pid": 4242,
        "db": "main.db",
    }
    f.update(kw)
    return (
        f"SERVER STARTED: {f['host']}:{f['port']} AT {f['at']} server-id: {f['sid']} "
        f"pid: {f['pid']} dbfname: {f['db']}"
    )


def entry(r: Registration, mtime: float = 0.0, inode: int = 1) -> Entry:
    return Entry(Path("/nonexistent") / r.name, r, mtime, inode)


# -- format / parse -------------------------------------------------------------

hosts = st.one_of(
    st.sampled_from(["127.0.0.1", "localhost", "10.1.2.3", "[::1]", "[fe80::1]", "node-7.lab"]),
    st.from_regex(r"[A-Za-z0-9._-]{1,60}", fullmatch=True),
)
server_ids = st.from_regex(r"[A-Za-z0-9_.-]{1,128}", fullmatch=True)
dbfnames = st.one_of(
    st.just("main.db"), st.integers(0, 999_999).map(lambda n: f"{n}.db")
)
ext_keys = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
ext_values = st.one_of(st.just(""), st.from_regex(r"[!-~]([ -~]{0,30}[!-~])?", fullmatch=True))


@settings(max_examples=150, deadline=None)
@given(
    host=hosts,
    port=st.integers(1, 65535),
    start=st.integers(1, 2**34),
    server_id=server_ids,
    pid=st.integers(2, 2**31),
    dbfname=dbfnames,
    extras=st.dictionaries(ext_keys, ext_values, max_size=5),
)
def test_format_parse_round_trip(
    host: str, port: int, start: int, server_id: str, pid: int, dbfname: str,
    extras: dict[str, str],
) -> None:
    r = Registration(host, port, start, server_id, pid, dbfname, extras)
    text = registry.format_registration(r)
    assert STRICT_LINE1.match(text.splitlines()[0])
    back = registry.parse_registration(text, r.name)
    assert back == r
    assert back.extras == extras  # extras are compare=False: check them separately
    assert back.start == start


def test_line1_we_write_matches_megatest_regex_exactly() -> None:
    text = registry.format_registration(reg(start=1616502350.7, hostname="h1", user="bob"))
    first, *rest = text.splitlines()
    m = STRICT_LINE1.match(first)
    assert m is not None, first
    assert m.groups() == ("127.0.0.1", "40001", "1616502350", "a" * 32, "4242", "main.db")
    assert rest == ["hostname: h1", "user: bob"]
    assert text.endswith("\n")


def test_megatest_line1_only_file_with_float_at_parses() -> None:
    r = registry.parse_registration(MEGATEST_LINE + "\n", MEGATEST_NAME)
    assert (r.host, r.port, r.start, r.server_id, r.pid, r.dbfname) == (
        "127.0.0.1", 40001, 1616502350.0, "abc", 4242, "main.db"
    )
    assert r.extras == {}
    assert r.hostname == "127.0.0.1"  # no extension: falls back to host
    assert r.proc_start is None
    # No trailing newline is fine too (Megatest may write either).
    assert registry.parse_registration(MEGATEST_LINE, MEGATEST_NAME) == r


def test_integer_at_parses_equal_to_float_at() -> None:
    a = registry.parse_registration(MEGATEST_LINE)
    b = registry.parse_registration(MEGATEST_LINE.replace("1616502350.0", "1616502350"))
    assert a.start == b.start == 1616502350


def test_extension_lines_parsed_and_unknown_or_malformed_ignored() -> None:
    text = MEGATEST_LINE + "\nhostname: box1\nproc-start: 1616502349.25\nfuture-key: x: y\n"
    text += "Not A Key: 1\nno colon here\n\n"
    r = registry.parse_registration(text, MEGATEST_NAME)
    assert r.hostname == "box1"
    assert r.proc_start == 1616502349.25
    assert r.extras == {"hostname": "box1", "proc-start": "1616502349.25", "future-key": "x: y"}


def test_bad_proc_start_is_none() -> None:
    assert registry.parse_registration(MEGATEST_LINE + "\nproc-start: soon\n").proc_start is None


def test_name_content_disagreement_rejected() -> None:
    for other in (
        "127.0.0.1:40002-4242:main.db",
        "127.0.0.1:40001-4243:main.db",
        "127.0.0.1:40001-4242:1.db",
        "127.0.0.2:40001-4242:main.db",
    ):
        with pytest.raises(RegistryError, match="not the file name"):
            registry.parse_registration(MEGATEST_LINE, other)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (line1(db="../main.db"), "dbfname"),
        (line1(db="../../etc/passwd"), "dbfname"),
        (line1(db="/etc/passwd"), "dbfname"),
        (line1(db="/tmp/main.db"), "dbfname"),
        (line1(db="main.db\0"), "dbfname"),
        (line1(db="1234567.db"), "dbfname"),
        (line1(db="9" * 5000 + ".db"), "dbfname"),
        (line1(db="x.db"), "dbfname"),
        (line1(port=0), "port"),
        (line1(port=65536), "port"),
        (line1(port=99999), "port"),
        (line1(port="9" * 5000), "line 1"),
        (line1(pid=0), "pid"),
        (line1(pid=1), "pid"),
        (line1(pid="9" * 5000), "line 1"),  # used to raise ValueError from int()
        (line1(host="h" * 300), "host"),
        (line1(host="h" * 100_000), "host"),
        (line1(host="a/b"), "host"),
        (line1(sid="x" * 129), "server-id"),
        (line1(sid="a/b"), "server-id"),
        (line1(at=0), "start"),
        (line1(at="9" * 400), "line 1"),
        (line1(at="1e9"), "line 1"),
        (line1(at="-5"), "line 1"),
        (line1(port="\u0664\u0660\u0660\u0660\u0661"), "line 1"),  # Arabic-Indic digits
        ("SERVER STARTED: 127.0.0.1 AT 1 server-id: a pid: 2 dbfname: main.db", "line 1"),
        ("server started: 127.0.0.1:1 AT 1 server-id: a pid: 2 dbfname: main.db", "line 1"),
        ("", "empty"),
        ("\n\n", "line 1"),
    ],
)
def test_malicious_or_malformed_values_rejected(line: str, why: str) -> None:
    with pytest.raises(RegistryError) as ei:
        registry.parse_registration(line)
    assert why in str(ei.value)
    # The message stays one readable line, never the whole huge value.
    assert len(str(ei.value)) < 200


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parse_arbitrary_text_only_raises_registry_error(text: str) -> None:
    try:
        r = registry.parse_registration(text)
    except RegistryError:
        return
    assert registry.NAME_RE.match(r.name)
    assert 1 <= r.port <= 65535 and r.pid >= 2


# -- ordering -------------------------------------------------------------------


def test_newest_first_orders_by_start_descending() -> None:
    es = [entry(reg(start=t, server_id=f"s{t}", port=40000 + t)) for t in (5, 9, 1, 7)]
    assert [e.registration.start for e in registry.newest_first(es)] == [9, 7, 5, 1]


def test_newest_first_ties_broken_by_server_id_descending() -> None:
    es = [entry(reg(start=100, server_id=s)) for s in ("bbb", "ccc", "aaa")]
    es.append(entry(reg(start=50, server_id="zzz")))
    got = [e.registration.server_id for e in registry.newest_first(es)]
    assert got == ["ccc", "bbb", "aaa", "zzz"]


def test_newest_first_float_and_int_equal_times_tie_break(tmp_path: Path) -> None:
    """P19: Megatest's eq? never saw 1616502350.0 and 1616502350 as equal."""
    f = registry.parse_registration(MEGATEST_LINE.replace("abc", "aaa"))  # float AT
    i = registry.parse_registration(
        MEGATEST_LINE.replace("1616502350.0", "1616502350").replace("abc", "zzz")
    )
    for order in ([f, i], [i, f]):
        got = registry.newest_first(entry(r) for r in order)
        assert [e.registration.server_id for e in got] == ["zzz", "aaa"]


# -- files on disk --------------------------------------------------------------


@pytest.fixture
def servdir(tmp_path: Path) -> Path:
    d = tmp_path / ".servinfo"
    d.mkdir()
    return d


def _run_with_timeout(fn, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    out: list[object] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            out.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"{fn} did not return within {timeout}s (blocked?)"
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def _plant_garbage(d: Path, victim: Path) -> dict[str, str]:
    """Garbage with names that match the pattern; returns name -> expected reason part."""
    bad: dict[str, str] = {}

    def name(n: int, db: str = "main.db") -> str:
        return f"127.0.0.1:{n}-{n}:{db}"

    (d / name(1001)).write_bytes(b"")
    bad[name(1001)] = "empty"
    (d / name(1002)).write_bytes(bytes(range(256)) * 4)
    bad[name(1002)] = "binary"
    (d / name(1003)).write_bytes(b"\xff\xfe\x80 not utf-8\n")
    bad[name(1003)] = "UTF-8"
    with open(d / name(1004), "wb") as f:
        f.truncate(10 * 1024 * 1024)
    bad[name(1004)] = "too large"
    os.mkfifo(d / name(1005))
    bad[name(1005)] = "not a regular file"
    os.symlink(victim, d / name(1006))
    bad[name(1006)] = "symlink"
    os.symlink("/etc/passwd", d / name(1007))
    bad[name(1007)] = "symlink"
    (d / name(1008)).mkdir()
    bad[name(1008)] = "directory"
    (d / name(1009)).write_text(line1(port=1010, pid=1010) + "\n")
    bad[name(1009)] = "not the file name"
    (d / name(1011)).write_text("hello world\n")
    bad[name(1011)] = "line 1"
    nl = name(1012) + "\n"  # "$" in a name regex matches before a trailing newline
    (d / nl).write_text(line1(port=1012, pid=1012) + "\n")
    bad[nl] = "name"
    (d / "garbage").write_text("x")
    bad["garbage"] = "name does not match"
    (d / "127.0.0.1:40001-42:evil.db").write_text(line1(db="evil.db"))
    bad["127.0.0.1:40001-42:evil.db"] = "name does not match"
    # Silently ignored: temp files, NFS silly-renames, lock files, other dotfiles.
    (d / f".tmp-{name(2001)}.abcdef").write_text("SERVER STA")
    (d / ".nfs1234").write_bytes(b"\0\0")
    (d / ".start-main.db.lock").write_text("last=1 pid=2\n")
    os.mkfifo(d / ".fifo")
    return bad


def test_scan_garbage_corpus_never_crashes_or_blocks(servdir: Path, tmp_path: Path) -> None:
    good = [
        reg(port=40001, server_id="g1", hostname="h"),
        reg(port=40002, server_id="g2", dbfname="3.db"),
    ]
    for r in good:
        registry.publish(servdir, r)
    victim = servdir / good[0].name  # a symlink to a valid file is still refused
    bad = _plant_garbage(servdir, victim)

    result = _run_with_timeout(lambda: registry.scan(servdir))
    assert isinstance(result, registry.Scan)
    assert sorted(e.registration.server_id for e in result.entries) == ["g1", "g2"]
    assert all(e.path.parent == servdir for e in result.entries)
    problems = {p.name: p.reason for p in result.problems}
    assert set(problems) == set(bad), problems
    for n, why in bad.items():
        assert why in problems[n], (n, problems[n])
    assert not any(n.startswith(".") for n in problems)

    only3 = _run_with_timeout(lambda: registry.scan(servdir, "3.db"))
    assert [e.registration.server_id for e in only3.entries] == ["g2"]
    assert only3.problems == ()


def test_read_entry_refuses_fifo_and_symlink_directly(servdir: Path) -> None:
    registry.publish(servdir, reg())
    fifo = servdir / "127.0.0.1:1-2:main.db"
    os.mkfifo(fifo)
    link = servdir / "127.0.0.1:3-4:main.db"
    os.symlink(servdir / reg().name, link)
    with pytest.raises(RegistryError, match="not a regular file"):
        _run_with_timeout(lambda: registry.read_entry(fifo))
    with pytest.raises(RegistryError, match="symlink"):
        registry.read_entry(link)
    with pytest.raises(RegistryError, match="vanished"):
        registry.read_entry(servdir / "127.0.0.1:5-6:main.db")
    assert registry.read_server_id(link) is None


def test_scan_missing_directory_is_empty(tmp_path: Path) -> None:
    assert registry.scan(tmp_path / "nope") == registry.Scan((), ())


def test_scan_1000_entries_plus_garbage_is_fast(servdir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("x")
    expected = set()
    for i in range(1000):
        r = reg(port=20000 + i, pid=100 + i, server_id=f"id{i:04d}", dbfname=f"{i % 10}.db",
                hostname="h", user="u")
        (servdir / r.name).write_text(registry.format_registration(r))
        expected.add(r.server_id)
    bad = _plant_garbage(servdir, victim)
    t0 = time.perf_counter()
    result = _run_with_timeout(lambda: registry.scan(servdir))
    elapsed = time.perf_counter() - t0
    print(f"scan of 1000 entries + {len(bad)} bad files: {elapsed * 1000:.1f} ms")
    assert {e.registration.server_id for e in result.entries} == expected
    assert len(result.problems) == len(bad)
    assert elapsed < 1.0


def test_scan_cache_skips_touched_reparses_replaced(
    servdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r1 = reg(server_id="first")
    path = registry.publish(servdir, r1)
    cache = registry.ScanCache()
    calls: list[str] = []
    real = registry.parse_registration

    def counting(text: str, name: str | None = None) -> Registration:
        calls.append(name or "")
        return real(text, name)

    monkeypatch.setattr(registry, "parse_registration", counting)

    s1 = registry.scan(servdir, cache=cache)
    assert [e.registration.server_id for e in s1.entries] == ["first"]
    assert len(calls) == 1

    # A heartbeat: mtime moves, content does not -> no parse, fresh mtime reported.
    os.utime(path, (s1.entries[0].mtime + 10, s1.entries[0].mtime + 10))
    s2 = registry.scan(servdir, cache=cache)
    assert len(calls) == 1
    assert s2.entries[0].mtime == s1.entries[0].mtime + 10
    assert s2.entries[0].registration.server_id == "first"

    # Replaced by a new registration of the same name (same size, same name).
    registry.publish(servdir, reg(server_id="secnd"))
    s3 = registry.scan(servdir, cache=cache)
    assert len(calls) == 2
    assert [e.registration.server_id for e in s3.entries] == ["secnd"]


def test_scan_cache_not_fooled_by_inode_reuse(servdir: Path) -> None:
    """Remove + re-publish under one name: ext4 hands the freed inode back, with
    the same size; a cache keyed by (inode, size) returned the old server-id."""
    cache = registry.ScanCache()
    for i in range(50):
        r = reg(server_id=f"id{i:04d}")
        registry.publish(servdir, r)
        got = registry.scan(servdir, cache=cache).entries
        assert [e.registration.server_id for e in got] == [r.server_id]
        os.unlink(servdir / r.name)


def test_scan_cache_prunes_vanished_names(servdir: Path) -> None:
    cache = registry.ScanCache()
    a = registry.publish(servdir, reg(port=1))
    registry.publish(servdir, reg(port=2))
    registry.scan(servdir, cache=cache)
    assert len(cache) == 2
    a.unlink()
    registry.scan(servdir, cache=cache)
    assert len(cache) == 1


# -- publishing -----------------------------------------------------------------


def test_publish_leaves_no_temp_file(servdir: Path) -> None:
    r = reg(hostname="box")
    path = registry.publish(servdir, r)
    assert path == servdir / r.name
    assert os.listdir(servdir) == [r.name]
    assert path.read_text() == registry.format_registration(r)
    assert registry.read_entry(path).registration == r


def test_publish_replaces_planted_symlink_without_touching_victim(
    servdir: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    r = reg()
    os.symlink(victim, servdir / r.name)
    path = registry.publish(servdir, r)
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and path.is_file()
    assert registry.read_entry(path).registration == r


def test_publish_replaces_planted_hardlink_without_touching_victim(
    servdir: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    r = reg()
    os.link(victim, servdir / r.name)
    assert victim.stat().st_nlink == 2
    path = registry.publish(servdir, r)
    assert victim.read_text() == "precious\n"
    assert victim.stat().st_nlink == 1
    assert path.stat().st_ino != victim.stat().st_ino


def test_publish_does_not_follow_planted_temp_name(
    servdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    r = reg()
    monkeypatch.setattr(registry, "_temp_suffix", lambda: "feedc0ffee00")
    planted = servdir / f".tmp-{r.name}.feedc0ffee00"
    os.symlink(victim, planted)
    with pytest.raises(RegistryError, match="cannot create"):
        registry.publish(servdir, r)
    assert victim.read_text() == "precious\n"
    assert not (servdir / r.name).exists()
    assert planted.is_symlink()  # ours to leave alone, not to delete


def test_publish_failure_cleans_temp_file(servdir: Path) -> None:
    r = reg()
    (servdir / r.name).mkdir()
    (servdir / r.name / "x").write_text("x")  # rename onto a non-empty dir fails
    with pytest.raises(RegistryError, match="cannot publish"):
        registry.publish(servdir, r)
    assert os.listdir(servdir) == [r.name]


def test_concurrent_publish_delete_scan_never_returns_wrong_entry(servdir: Path) -> None:
    """P20: a reader never sees a half-written file or a mix of two files."""
    names = [reg(port=40001 + i, pid=500 + i) for i in range(3)]
    variants = {
        r.name: [
            Registration(r.host, r.port, r.start + k, f"sid{k:03d}{'x' * (k % 7)}", r.pid,
                         r.dbfname, {"hostname": f"h{k}", "pad": "p" * (k * 37 % 400)})
            for k in range(20)
        ]
        for r in names
    }
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        k = 0
        try:
            while not stop.is_set():
                for n, vs in variants.items():
                    registry.publish(servdir, vs[k % len(vs)])
                    if k % 3 == 0:
                        os.unlink(servdir / n)
                k += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    cache = registry.ScanCache()
    scans = seen = 0
    deadline = time.monotonic() + 1.5
    try:
        while time.monotonic() < deadline:
            for c in (None, cache):
                s = registry.scan(servdir, cache=c)
                scans += 1
                assert s.problems == (), s.problems
                for e in s.entries:
                    seen += 1
                    candidates = variants[e.name]
                    match = [v for v in candidates if v == e.registration]
                    assert match, e
                    assert e.registration.extras == match[0].extras
    finally:
        stop.set()
        t.join(10)
    assert not errors, errors
    assert scans > 10 and seen > 0
    print(f"{scans} scans, {seen} entries checked")


# -- removal --------------------------------------------------------------------


def test_remove_if_owned(servdir: Path) -> None:
    path = registry.publish(servdir, reg(server_id="mine"))
    assert registry.read_server_id(path) == "mine"
    assert registry.remove_if_owned(path, "theirs") is False
    assert path.exists()
    registry.publish(servdir, reg(server_id="theirs"))  # replaced under our feet
    assert registry.remove_if_owned(path, "mine") is False
    assert registry.read_server_id(path) == "theirs"
    assert registry.remove_if_owned(path, "theirs") is True
    assert not path.exists()
    assert registry.remove_if_owned(path, "theirs") is False


def test_remove_if_owned_refuses_symlink(servdir: Path, tmp_path: Path) -> None:
    real = registry.publish(servdir, reg(server_id="mine"))
    link = servdir / reg(port=1).name
    os.symlink(real, link)
    assert registry.remove_if_owned(link, "mine") is False
    assert link.is_symlink() and real.exists()


def test_remove_dead_refuses_touched_or_replaced(servdir: Path) -> None:
    path = registry.publish(servdir, reg(server_id="old"))
    judged = registry.read_entry(path)

    os.utime(path, (judged.mtime + 5, judged.mtime + 5))  # heartbeat since judged
    assert registry.remove_dead(judged) is False
    assert path.exists()

    judged = registry.read_entry(path)
    registry.publish(servdir, reg(server_id="new"))  # replaced since judged
    os.utime(path, (judged.mtime, judged.mtime))  # even with the very same mtime
    assert registry.remove_dead(judged) is False
    assert registry.read_server_id(path) == "new"

    judged = registry.read_entry(path)
    assert registry.remove_dead(judged) is True
    assert not path.exists()
    assert registry.remove_dead(judged) is False  # already gone


def test_is_stale() -> None:
    e = entry(reg(), mtime=1000.0)
    assert registry.is_stale(e, now=1000.0 + 361, stale_after=360) is True
    assert registry.is_stale(e, now=1000.0 + 360, stale_after=360) is False
    assert registry.is_stale(e, now=1000.0 + 10, stale_after=360) is False
    # A file touched "in the future" (clock skew between hosts) is never stale.
    assert registry.is_stale(e, now=1000.0 - 300, stale_after=360) is False


def test_touch_updates_mtime_not_through_symlink(servdir: Path, tmp_path: Path) -> None:
    path = registry.publish(servdir, reg())
    os.utime(path, (1000, 1000))
    registry.touch(path)
    assert path.stat().st_mtime > 1000
    victim = tmp_path / "victim"
    victim.write_text("x")
    os.utime(victim, (1000, 1000))
    link = servdir / reg(port=7).name
    os.symlink(victim, link)
    registry.touch(link)
    assert victim.stat().st_mtime == 1000


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=600))
def test_read_entry_arbitrary_bytes(servdir: Path, data: bytes) -> None:
    path = servdir / MEGATEST_NAME
    path.write_bytes(data)
    try:
        e = registry.read_entry(path)
    except RegistryError:
        return
    assert e.name == MEGATEST_NAME == e.registration.name


def test_stale_temp_files_are_removed_fresh_ones_and_others_kept(tmp_path: Path) -> None:
    import os as _os
    import time as _time

    from backend.registry import remove_stale_temp_files

    old, fresh = tmp_path / ".tmp-a:1-2:main.db.abc", tmp_path / ".tmp-b:1-2:main.db.def"
    other, link = tmp_path / ".nfs0001", tmp_path / ".tmp-link"
    for p in (old, fresh, other):
        p.write_text("x")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link.symlink_to(victim)
    past = _time.time() - 1000
    for p in (old, other):
        _os.utime(p, (past, past))
    _os.utime(link, (past, past), follow_symlinks=False)
    assert remove_stale_temp_files(tmp_path, _time.time(), 360) == 1
    assert not old.exists() and fresh.exists() and other.exists() and link.is_symlink()
    assert victim.read_text() == "keep"
