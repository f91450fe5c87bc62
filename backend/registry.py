"""Registration files in ``<area>/.servinfo/``: parse, format, publish, scan.

Line 1 is byte-compatible with Megatest (v1.80):

    SERVER STARTED: <host>:<port> AT <start> server-id: <id> pid: <pid> dbfname: <db>

Megatest's Chicken 4 wrote ``AT`` as a float (``1616502350.0``), Chicken 5 as an
integer; we read both and write an integer. Further ``key: value`` lines are
our extensions (``hostname``, ``proc-start``, ``user``), ignored by Megatest.

Safety rules for readers (every file here may be hostile or half-written):
names that do not match the pattern are not parsed (temp files and dotfiles
silently, other garbage is reported); files are opened with O_NOFOLLOW and
O_NONBLOCK (no symlink is followed, no FIFO blocks), must be regular files and
are read up to 4 KiB. A bad file becomes a ``Problem``, never an exception.
"""

# Not ``from __future__ import annotations``: NamedTuple would make each string
# annotation a ForwardRef, compiled at import, on every call (docs/design.md,
# "No dataclasses on the call path"; tests/integration/test_lean_call.py).

import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from backend.area import DBFNAME_RE
from backend.errors import RegistryError

MAX_FILE_SIZE = 4096
TEMP_PREFIX = ".tmp-"  # publish's temp files: dotfiles, so readers skip them
NAME_RE = re.compile(
    r"^(?P<host>[A-Za-z0-9._\-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(?P<port>[0-9]{1,5})"
    rf"-(?P<pid>[0-9]{{1,10}}):(?P<dbfname>{DBFNAME_RE.pattern})$"
)
# re.ASCII: in a str pattern ``\d`` also matches non-ASCII digits ("٤٠٠٠١"), which
# int() accepts; digit counts are bounded so that int() never sees more than
# sys.get_int_max_str_digits() digits (a huge pid raised ValueError, not RegistryError).
LINE1_RE = re.compile(
    r"^SERVER STARTED: (?P<host>\S+):(?P<port>\d{1,5}) AT (?P<at>\d{1,20}(?:\.\d{0,20})?) "
    r"server-id: (?P<server_id>\S+) pid: (?P<pid>\d{1,10}) dbfname: (?P<dbfname>\S+)\s*$",
    re.ASCII,
)
SERVER_ID_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")
EXT_KEY_RE = re.compile(r"^[a-z][a-z0-9\-]{0,63}$")


# The records here are NamedTuples, not dataclasses: every ``backend call`` imports
# this module (docs/design.md, "No dataclasses on the call path").

_NO_EXTRAS: Mapping[str, str] = MappingProxyType({})  # read-only: one default shared by all


class Registration(NamedTuple):
    host: str
    port: int
    start: float
    server_id: str
    pid: int
    dbfname: str
    extras: Mapping[str, str] = _NO_EXTRAS

    # Line 1 is who the server is; the extensions are facts about it: equality and
    # hash leave them out (a dict is unhashable, too).
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registration) and self[:6] == other[:6]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:6])

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}-{self.pid}:{self.dbfname}"

    @property
    def hostname(self) -> str:
        """The machine the server runs on (the ``hostname`` extension, else ``host``)."""
        return self.extras.get("hostname") or self.host

    @property
    def proc_start(self) -> float | None:
        try:
            return float(self.extras["proc-start"])
        except (KeyError, ValueError):
            return None


class Entry(NamedTuple):
    """A parsed registration as found on disk."""

    path: Path
    registration: Registration
    mtime: float
    inode: int

    @property
    def name(self) -> str:
        return self.path.name


class Problem(NamedTuple):
    name: str
    reason: str


class Scan(NamedTuple):
    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...]


def format_registration(reg: Registration) -> str:
    start = int(reg.start)
    lines = [
        f"SERVER STARTED: {reg.host}:{reg.port} AT {start} server-id: {reg.server_id} "
        f"pid: {reg.pid} dbfname: {reg.dbfname}"
    ]
    lines += [f"{k}: {v}" for k, v in reg.extras.items()]
    return "\n".join(lines) + "\n"


def parse_registration(text: str, name: str | None = None) -> Registration:
    """Parse file content; if ``name`` is given it must agree with the content."""
    lines = text.splitlines()
    if not lines:
        raise RegistryError("empty file")
    m = LINE1_RE.match(lines[0])
    if not m:
        raise RegistryError("line 1 is not 'SERVER STARTED: <host>:<port> AT ...'")
    host, dbfname, server_id = m["host"], m["dbfname"], m["server_id"]
    port, pid = int(m["port"]), int(m["pid"])
    start = float(m["at"])
    if not 1 <= port <= 65535:
        raise RegistryError(f"port {port} out of range")
    if pid < 2:
        raise RegistryError(f"pid {pid} refused")
    if not math.isfinite(start) or start <= 0:
        raise RegistryError("start time is not a positive number")
    if not DBFNAME_RE.fullmatch(dbfname):
        raise RegistryError(f"invalid dbfname {dbfname[:64]!r}")
    if not SERVER_ID_RE.match(server_id):
        raise RegistryError("invalid server-id")
    if not NAME_RE.match(f"{host}:{port}-{pid}:{dbfname}"):
        raise RegistryError(f"invalid host {host[:64]!r}")
    extras: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and EXT_KEY_RE.match(key):
            extras[key] = value.strip()
    reg = Registration(host, port, start, server_id, pid, dbfname, extras)
    if name is not None and name != reg.name:
        raise RegistryError(f"content names {reg.name}, not the file name")
    return reg


def is_candidate_name(name: str) -> bool:
    """Names readers look at: not dotfiles (temp files, ``.nfs*``, our lock files)."""
    return not name.startswith(".")


def _read_file(path: Path) -> tuple[bytes, os.stat_result]:
    """The bytes of one registration file, read safely, and the fstat of what was read."""
    name = path.name
    if not NAME_RE.match(name):
        raise RegistryError("name does not match <host>:<port>-<pid>:<dbfname>")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise RegistryError("vanished while being read") from None
    except OSError as exc:
        if os.path.islink(path):
            raise RegistryError("symlink (not followed)") from None
        raise RegistryError(f"cannot open: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RegistryError("not a regular file")
        if st.st_size > MAX_FILE_SIZE:
            raise RegistryError(f"too large ({st.st_size} bytes > {MAX_FILE_SIZE})")
        data = os.read(fd, MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise RegistryError(f"cannot read: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_SIZE:
        raise RegistryError(f"too large (> {MAX_FILE_SIZE} bytes)")
    return data, st


def _parse_bytes(data: bytes, name: str) -> Registration:
    if b"\0" in data:
        raise RegistryError("binary content")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RegistryError("not UTF-8") from None
    return parse_registration(text, name)


def read_entry(path: Path, cache: "ScanCache | None" = None) -> Entry:
    """Read one registration file safely; ``RegistryError`` with a reason otherwise."""
    data, st = _read_file(path)
    reg = cache.get(path.name, data) if cache is not None else None
    if reg is None:
        reg = _parse_bytes(data, path.name)
        if cache is not None:
            cache.put(path.name, data, reg)
    return Entry(path, reg, st.st_mtime, st.st_ino)


class ScanCache:
    """Parsed registrations by (name, exact file content): a touched file (heartbeat)
    is read but not parsed again; a replaced one with new content is re-parsed.

    The key used to be (name, inode, size) without reading the file. On ext4 a
    file removed and re-published under the same name usually gets the freed
    inode back, with the same size, so the cache returned the old server-id for
    the new file (a wrong entry, P20). Comparing content is exact, and the read
    (<= 4 KiB) is cheap next to the open/fstat every scan already does.
    """

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[bytes, Registration]] = {}

    def get(self, name: str, data: bytes) -> Registration | None:
        hit = self._parsed.get(name)
        if hit is not None and hit[0] == data:
            return hit[1]
        return None

    def put(self, name: str, data: bytes, reg: Registration) -> None:
        self._parsed[name] = (data, reg)

    def prune(self, live: Iterable[str]) -> None:
        keep = set(live)
        for name in [n for n in self._parsed if n not in keep]:
            del self._parsed[name]

    def __len__(self) -> int:
        return len(self._parsed)


def scan(directory: Path, dbfname: str | None = None, cache: ScanCache | None = None) -> Scan:
    """Every registration in ``directory`` (optionally only ``*:<dbfname>``).

    A missing directory is an empty scan. Never raises for bad files.
    """
    entries: list[Entry] = []
    problems: list[Problem] = []
    suffix = f":{dbfname}" if dbfname else None
    try:
        it = os.scandir(directory)
    except FileNotFoundError:
        return Scan((), ())
    except OSError as exc:
        raise RegistryError(f"cannot read {directory}: {exc.strerror}") from exc
    seen: list[str] = []
    with it:
        for de in it:
            name = de.name
            if not is_candidate_name(name):
                continue
            if suffix and not name.endswith(suffix):
                continue
            seen.append(name)
            try:
                st = de.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished between listing and stat
            if stat.S_ISLNK(st.st_mode):
                problems.append(Problem(name, "symlink (not followed)"))
                continue
            if stat.S_ISDIR(st.st_mode):
                problems.append(Problem(name, "a directory"))
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(Problem(name, "not a regular file"))
                continue
            try:
                entry = read_entry(Path(de.path), cache)
            except RegistryError as exc:
                if str(exc) != "vanished while being read":
                    problems.append(Problem(name, str(exc)))
                continue
            entries.append(entry)
    if cache is not None:
        cache.prune(seen)
    return Scan(tuple(entries), tuple(problems))


def newest_first(entries: Iterable[Entry]) -> list[Entry]:
    """Megatest's order: start time descending, ties by server-id descending
    (numeric equality of start times, which Megatest's ``eq?`` got wrong)."""
    return sorted(
        entries, key=lambda e: (e.registration.start, e.registration.server_id), reverse=True
    )


def is_stale(entry: Entry, now: float, stale_after: float) -> bool:
    """The file part of the provably-dead rule: mtime not advanced for ``stale_after``.

    Combined by callers with a failed (or mismatched) ping; never enough alone.
    An mtime more than ``stale_after`` in the FUTURE counts as well (issue 12 item
    7): no clock skew we allow (5 minutes, less than stale-after) explains it, so a
    dead file touched "in the future" (skew, ``touch -d``) must not hold the db
    until then; a live server still answers its ping and is kept.
    """
    return abs(now - entry.mtime) > stale_after


def in_the_future(entry: Entry, now: float, slack: float = 1.0) -> float:
    """Seconds ``entry``'s mtime lies ahead of ``now`` (0 if it does not)."""
    ahead = entry.mtime - now
    return ahead if ahead > slack else 0.0


# -- writing -------------------------------------------------------------------


def _temp_suffix() -> str:
    # secrets.token_hex(6) without importing secrets (random, base64): a backend
    # call loads this module and never publishes.
    return os.urandom(6).hex()


def publish(directory: Path, reg: Registration) -> Path:
    """Atomically create ``directory/reg.name``: exclusive temp file, fsync, rename."""
    final = directory / reg.name
    tmp = directory / f"{TEMP_PREFIX}{reg.name}.{_temp_suffix()}"
    data = format_registration(reg).encode("utf-8")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise RegistryError(f"cannot create {tmp}: {exc.strerror}") from exc
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        # rename(2) replaces whatever directory entry is at ``final`` (a planted
        # symlink or hard link included) without touching what it pointed to.
        os.replace(tmp, final)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise RegistryError(f"cannot publish {final}: {exc.strerror}") from exc
    _fsync_dir(directory)
    return final


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename still holds
    finally:
        os.close(dfd)


def touch(path: Path) -> None:
    """Heartbeat: set the file's mtime to now (never through a symlink)."""
    os.utime(path, follow_symlinks=False)


def read_server_id(path: Path) -> str | None:
    """The server-id in ``path``, or None if it is gone or unreadable."""
    try:
        return read_entry(path).registration.server_id
    except RegistryError:
        return None


def remove_if_owned(path: Path, server_id: str) -> bool:
    """Remove ``path`` only if it still names ``server_id``."""
    if read_server_id(path) != server_id:
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def remove_stale_temp_files(directory: Path, now: float, max_age: float) -> int:
    """Remove our own publish temp files (``.tmp-*``) older than ``max_age``.

    A publish holds its temp file for milliseconds; one that old was left by a
    writer killed mid-publish. Only regular files are removed, never followed.
    """
    removed = 0
    try:
        it = os.scandir(directory)
    except OSError:
        return 0
    with it:
        for de in it:
            if not de.name.startswith(TEMP_PREFIX):
                continue
            try:
                st = de.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and now - st.st_mtime > max_age:
                    os.unlink(de.path)
                    removed += 1
            except OSError:
                continue
    return removed


def remove_dead(entry: Entry) -> bool:
    """Remove a registration judged provably dead, only if it is still the same file.

    False when it is gone, replaced or touched since it was judged, or cannot be
    removed right now (ESTALE, EACCES on a network filesystem): every caller just
    judges it again at its next scan, so no caller needs its own error handling.
    """
    try:
        st = os.stat(entry.path, follow_symlinks=False)
        if st.st_ino != entry.inode or st.st_mtime != entry.mtime:
            return False  # replaced or touched since we judged it
        os.unlink(entry.path)
    except OSError:
        return False
    return True
