"""Per-server log files in ``<area>/logs/``: naming, size rotation, removal by count.

Every server process writes ``logs/server-<dbfname>-<pid>.log`` (SPEC §1).
Without limits a busy area collected a new file per server pid forever (33 in
15 minutes of demo), so:

- **Rotation by size**: when a server's log passes ``log-max-bytes`` (default
  1 MiB) it is renamed to ``<name>.1`` (replacing an older ``.1``) and a new
  file is started under the same name; a server never uses more than twice
  that. The name of the current file never changes, so ``tail -f`` style
  readers (the monitor's detail screen, ``backend logs -f``) keep working.
- **Removal by count**: when a server starts it removes the oldest server logs
  of the area (by mtime) beyond the newest ``log-keep`` (default 20), never
  one whose pid is still running. Their ``.1`` goes with them.

Files are opened with O_NOFOLLOW (a symlink planted at a predictable log name
must not redirect our writes).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from backend.area import DBFNAME_RE
from backend.fs import read_head

LOG_RE = re.compile(rf"^server-(?P<dbfname>{DBFNAME_RE.pattern})-(?P<pid>[0-9]{{1,10}})\.log$")


@dataclass(frozen=True)
class LogFile:
    path: Path
    dbfname: str
    pid: int
    mtime: float
    started: float  # the time on the log's first line (else its mtime)

    @property
    def rotated(self) -> Path:
        return self.path.with_name(self.path.name + ".1")


def server_logs(logs_dir: Path, dbfname: str | None = None) -> list[LogFile]:
    """The current server logs of an area, newest first (by mtime)."""
    out: list[LogFile] = []
    try:
        names = os.listdir(logs_dir)
    except OSError:
        return out
    for name in names:
        match = LOG_RE.match(name)
        if not match or (dbfname is not None and match["dbfname"] != dbfname):
            continue
        try:
            st = os.stat(logs_dir / name, follow_symlinks=False)
        except OSError:
            continue
        path = logs_dir / name
        started = _first_line_time(path) or st.st_mtime
        out.append(LogFile(path, match["dbfname"], int(match["pid"]), st.st_mtime, started))
    # Newest *server* first: an old server's log is written last when it exits
    # after its replacement started, so the mtime would put it first.
    return sorted(out, key=lambda f: (f.started, f.mtime, f.pid), reverse=True)


def _first_line_time(path: Path) -> float | None:
    """The timestamp of the first log line (``logging``'s asctime, local time)."""
    raw = read_head(path, 32)
    if raw is None:
        return None
    head = raw.decode("ascii", "replace")
    try:
        stamp = time.strptime(head[:19], "%Y-%m-%d %H:%M:%S")
        return time.mktime(stamp) + int(head[20:23]) / 1000
    except ValueError:
        return None


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_old_logs(logs_dir: Path, keep: int, *, spare: int | None = None) -> list[Path]:
    """Remove server logs beyond the newest ``keep`` whose process is not running
    (``spare``: a pid to keep whatever its age, e.g. our own)."""
    removed: list[Path] = []
    for f in server_logs(logs_dir)[keep:]:
        if f.pid == spare or _pid_running(f.pid):
            continue
        for path in (f.path, f.rotated):
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(path)
    return removed


def open_log(path: Path) -> int:
    # 0600: logs name keys, values and paths of the data (issue 12 item 13).
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)


class RotatingLog:
    """A text stream for ``logging.StreamHandler`` that rotates its file by size.

    ``redirect_fds`` (1 and 2 in a detached server) are pointed at the new file
    after each rotation, so stray output follows the log.
    """

    def __init__(self, path: Path, max_bytes: int, redirect_fds: tuple[int, ...] = ()) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.redirect_fds = redirect_fds
        self._lock = threading.Lock()
        self._fd = open_log(path)
        self._size = os.fstat(self._fd).st_size
        self._redirect()

    def _redirect(self) -> None:
        for target in self.redirect_fds:
            os.dup2(self._fd, target)

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "replace")
        with self._lock:
            if self.max_bytes and self._size + len(data) > self.max_bytes and self._size > 0:
                self._rotate()
            try:
                os.write(self._fd, data)
            except OSError:
                return 0  # a full disk must not take the server down with it
            self._size += len(data)
        return len(text)

    def _rotate(self) -> None:
        try:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            fd = open_log(self.path)
        except OSError:
            return  # keep writing where we are
        os.close(self._fd)
        self._fd, self._size = fd, 0
        self._redirect()

    def flush(self) -> None:
        pass  # every write is a write(2)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
