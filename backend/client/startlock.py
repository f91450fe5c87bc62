"""The start lock of one db: a lease that expires (SPEC §6; issue 12 item 6).

It was an ``flock``: a holder that stopped (SIGSTOP, a hung NFS write, a laptop
lid) kept it forever, and every start of that db failed "held for over 5s". Now
holding the lock means owning the file ``.servinfo/.start-<dbfname>.held``,
created with ``O_EXCL`` and naming its holder: ``pid= host= at= token=``.

- A lease older than ``LEASE_TTL`` (by the waiter's clock, or as far in the
  future: skew), or whose holder is a dead process of this host, or that never
  got its content (a holder killed between create and write: judged by mtime),
  is broken: renamed away (one waiter wins the rename), then taken anew.
- A holder releases only a file that still holds its own token, so a holder that
  resumes after its lease was broken removes nobody else's.
- A waiter gives up after ``LOCK_WAIT`` (longer than ``LEASE_TTL``, so a stuck
  holder is outlived) with ``StartLockBusy`` naming the holder.

A broken holder that resumes goes on with its start: at worst one server more,
and a server's own start-up scan still enforces max-servers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from backend import events, procs
from backend.backoff import Backoff
from backend.errors import ConfigError, StartLockBusy
from backend.fs import read_head

LEASE_TTL = 10.0
"""Seconds a holder may keep the lock: the critical section (a directory scan, a
standby fork or one Popen) takes well under a second."""
LOCK_WAIT = 12.0


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    at: float
    token: str


def _read(path: Path) -> Holder | None:
    raw = read_head(path, 512)
    if raw is None:
        return None
    text = raw.decode("ascii", "replace")
    fields = dict(part.partition("=")[::2] for part in text.split())
    try:
        return Holder(int(fields["pid"]), fields["host"], float(fields["at"]), fields["token"])
    except (KeyError, ValueError):
        return None


def _expired(path: Path, holder: Holder | None, now: float) -> bool:
    if holder is None:  # no content yet, or garbage: judge by the file's age
        try:
            return abs(now - os.lstat(path).st_mtime) > LEASE_TTL
        except FileNotFoundError:
            return True
    if abs(now - holder.at) > LEASE_TTL:
        return True
    if holder.host == procs.this_hostname():
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return True  # its holder is dead: no need to wait out the lease
        except PermissionError:
            pass
    return False


def _break(path: Path, judged: Holder | None) -> None:
    """Take an expired lease away; put it back if it turned out to be a new one."""
    aside = path.with_name(f"{path.name}.broken-{secrets.token_hex(6)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # released, or another waiter broke it first
    try:
        got = _read(aside)
        if judged is not None and got is not None and got.token != judged.token:
            with contextlib.suppress(OSError):
                os.link(aside, path)  # a fresh lease taken meanwhile: not ours to break
    finally:
        with contextlib.suppress(OSError):
            os.unlink(aside)


@contextlib.contextmanager
def start_lease(
    servinfo: Path, dbfname: str, notify: Callable[..., None] | None = None
) -> Iterator[None]:
    """Hold the start lock of ``dbfname`` for the ``with`` block.

    ``notify(kind, **fields)`` hears of a lease broken (``lock_expired``) and of
    giving up (``lock_busy``), for the area's event history; taking a free lock
    is not an event (every ``start_requested`` took one)."""
    path = servinfo / f".start-{dbfname}.held"
    token = secrets.token_hex(8)
    wait = Backoff(LOCK_WAIT, first=0.002, cap=0.05)
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            holder = _read(path)
            now = time.time()
            if _expired(path, holder, now):
                _break(path, holder)
                if notify is not None:
                    notify(events.LOCK_EXPIRED, dbfname=dbfname,
                           holder_pid=holder.pid if holder else None,
                           holder_host=holder.host if holder else None,
                           held_for=round(now - holder.at, 3) if holder else None)
                continue
            if wait.expired():
                who = (f"pid {holder.pid} on {holder.host} for {time.time() - holder.at:.1f}s"
                       if holder else "a process that wrote nothing yet")
                if notify is not None:
                    notify(events.LOCK_BUSY, dbfname=dbfname, holder=who)
                raise StartLockBusy(
                    f"start lock {path} is held by {who}; it expires after {LEASE_TTL:g}s"
                ) from None
            wait.sleep()
            continue
        except OSError as exc:
            raise ConfigError(f"cannot take start lock {path}: {exc.strerror}") from exc
        try:
            os.write(fd, f"pid={os.getpid()} host={procs.this_hostname()} "
                         f"at={time.time():.6f} token={token}\n".encode("ascii"))
        finally:
            os.close(fd)
        break
    try:
        yield
    finally:
        held = _read(path)
        if held is not None and held.token == token:
            with contextlib.suppress(OSError):
                os.unlink(path)
