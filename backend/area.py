"""The area: a directory holding registrations, databases, logs and the key.

Everything that turns a name into a path goes through here, so that nothing is
ever opened outside the area (``dbfname`` is validated before it is joined).
"""

# Not ``from __future__ import annotations``: NamedTuple would make each string
# annotation a ForwardRef, compiled at import, on every call (docs/design.md,
# "No dataclasses on the call path"; tests/integration/test_lean_call.py).

import errno
import os
import re
import stat
from pathlib import Path
from typing import NamedTuple

from backend.errors import ConfigError

# The one dbfname pattern: main.db or <digits>.db. Use ``fullmatch`` (with
# ``match`` and "$", "main.db\n" passed); registry.py and logfiles.py embed
# ``DBFNAME_RE.pattern`` in their own file-name patterns.
DBFNAME_RE = re.compile(r"(?:main|[0-9]{1,6})\.db")
KEY_RE = re.compile(r"^[0-9a-f]{64}$")


def validate_dbfname(name: str) -> str:
    """Return ``name`` if it is a valid dbfname, else raise ``ConfigError``."""
    # fullmatch: with match, "$" also matches before a trailing newline, so
    # "main.db\n" passed and named a different file in .mtdb/.
    if not isinstance(name, str) or not DBFNAME_RE.fullmatch(name):
        raise ConfigError(f"invalid dbfname {name!r}: expected main.db or <digits>.db")
    return name


def dbfname_for_run_id(run_id: int | None, num_run_dbs: int) -> str:
    """Megatest's mapping: run-id None -> main.db, n -> f"{n % num_run_dbs}.db"."""
    if run_id is None:
        return "main.db"
    if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id < 0:
        raise ConfigError(f"invalid run-id {run_id!r}: expected a non-negative integer")
    return f"{run_id % num_run_dbs}.db"


DB_SIDE_FILES = ("-wal", "-shm", "-journal")


def check_db_files(path: Path) -> Path:
    """Return ``path`` (a db in ``.mtdb/``) if neither ``.mtdb/`` nor the db nor its
    -wal/-shm/-journal is a symlink or other non-regular file; else ConfigError
    naming it (issue 12 item 3: sqlite follows links, SPEC §1 says nothing is
    opened outside ``.mtdb/``). lstat only: no open() of a db file outside sqlite.
    A link planted between this check and sqlite's open is not caught; only the
    area's owner can write ``.mtdb/`` (0700 by default, docs/reliability.md)."""
    for p in (path.parent, path, *(path.with_name(path.name + s) for s in DB_SIDE_FILES)):
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot check {p}: {exc.strerror}") from exc
        if stat.S_ISLNK(st.st_mode):
            raise ConfigError(f"refusing {p}: it is a symbolic link (db files are never opened through links)")
        want = stat.S_ISDIR if p == path.parent else stat.S_ISREG
        if not want(st.st_mode):
            raise ConfigError(f"refusing {p}: not a regular {'directory' if p == path.parent else 'file'}")
    return path


class Area(NamedTuple):
    """An area directory. (A NamedTuple, as every record on a call's import path:
    docs/design.md, "No dataclasses on the call path".)"""

    root: Path

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> "Area":
        """An existing area directory (resolved); raise ``ConfigError`` otherwise."""
        p = Path(path).expanduser()
        try:
            st = p.stat()
        except FileNotFoundError:
            raise ConfigError(f"area {str(p)!r} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"area {str(p)!r} cannot be read: {exc.strerror}") from exc
        if not stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"area {str(p)!r} is not a directory")
        return cls(p.resolve())

    @property
    def servinfo_dir(self) -> Path:
        return self.root / ".servinfo"

    @property
    def db_dir(self) -> Path:
        return self.root / ".mtdb"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def key_path(self) -> Path:
        return self.root / ".mtkey"

    @property
    def config_path(self) -> Path:
        return self.root / "megatest.config"

    def db_path(self, dbfname: str) -> Path:
        """The db file of ``dbfname``, checked by ``check_db_files``."""
        return check_db_files(self.db_dir / validate_dbfname(dbfname))

    def log_path(self, dbfname: str, pid: int) -> Path:
        return self.logs_dir / f"server-{validate_dbfname(dbfname)}-{pid}.log"

    def identity(self) -> str:
        """What tells this area from every other, also from a ``cp -a`` copy of it,
        and is the same on every host that mounts it (docs/reliability.md, "Area
        identity"): the inode number of the area directory. NFS hands every client
        the server's file id; a copy is a new directory, so a new inode. Servers put
        it in the ping reply's meta as ``area``."""
        try:
            ino = os.stat(self.root).st_ino
        except OSError as exc:
            raise ConfigError(f"area {self.root} cannot be read: {exc.strerror}") from exc
        return f"{ino:x}"

    def ensure_dirs(self) -> None:
        """Create the area's directories; ConfigError naming the first that cannot
        be made (its real cause: EPERM, EROFS, ...) or is not a real directory.

        ``.mtdb/`` and ``logs/`` are private (0700, files in them 0600: the data is
        as secret as the key); ``.servinfo/`` stays readable, so that another
        user's monitor can show the servers (registrations hold no secret)."""
        for d, mode in ((self.servinfo_dir, 0o755), (self.db_dir, 0o700), (self.logs_dir, 0o700)):
            try:
                d.mkdir(mode=mode, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create {d}: {exc.strerror}") from exc
            if d.is_symlink() or not d.is_dir():
                raise ConfigError(f"cannot use {d}: it is a symbolic link or not a directory")

    # -- the area key -------------------------------------------------------

    def read_key(self) -> bytes | None:
        """The HMAC key (the hex text as ASCII bytes), or None if there is no key file."""
        try:
            fd = os.open(self.key_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigError(f"key file {self.key_path} is a symlink: refused") from None
            raise ConfigError(f"key file {self.key_path} cannot be read: {exc.strerror}") from exc
        try:
            st = os.fstat(fd)
            _check_key_file(self.key_path, st)
            data = os.read(fd, 257)
        finally:
            os.close(fd)
        text = data.decode("ascii", "replace").strip()
        # len check: a 256-byte read of "<key>\n\n...<junk>" used to pass, ignoring the junk.
        if len(data) > 256 or not KEY_RE.match(text):
            raise ConfigError(f"key file {self.key_path} does not hold 64 hex characters")
        return text.encode("ascii")

    def key(self) -> bytes:
        """The area key, created (0600, O_EXCL, O_NOFOLLOW) on first need."""
        existing = self.read_key()
        if existing is not None:
            return existing
        # Creating ``.mtkey`` itself with O_EXCL and then writing it let a concurrent
        # first caller read the still-empty file and fail ("does not hold 64 hex
        # characters"): 50 clients starting on a fresh area hit that. So the key is
        # written to an exclusive temp file and link(2)ed into place: link never
        # replaces an existing name, and readers only ever see a complete key.
        # os.urandom(n).hex() = secrets.token_hex(n): a backend call never imports secrets
        text = os.urandom(32).hex()
        tmp = self.root / f".mtkey.tmp-{os.urandom(6).hex()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot create key file {self.key_path}: {exc.strerror}") from exc
        try:
            try:
                os.write(fd, (text + "\n").encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, self.key_path, follow_symlinks=False)
        except FileExistsError:
            # Another process won the race; use its key.
            got = self.read_key()
            if got is None:
                raise ConfigError(
                    f"key file {self.key_path} vanished while being created"
                ) from None
            return got
        except OSError as exc:
            raise ConfigError(f"cannot create key file {self.key_path}: {exc.strerror}") from exc
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return text.encode("ascii")


def _check_key_file(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"key file {path} is not a regular file: refused")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"key file {path} is group/other-writable: refused (chmod 600 it)")
    if st.st_uid != os.geteuid():
        raise ConfigError(f"key file {path} is owned by another user (uid {st.st_uid}): refused")
