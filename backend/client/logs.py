"""``backend logs``: the server logs of an area, newest server first; ``-f``
follows them across server restarts and log rotations (like ``tail -F``).

A server is found by dbfname (file name), or by server-id: the live
registration names its pid, and a server that is gone is found by the
"... as <server-id>" line each server writes near the top of its log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from backend import logfiles, registry
from backend.area import Area

HEAD_BYTES = 65536  # where a server's start-up lines (with its server-id) are


def select(area: Area, dbfname: str | None = None, server_id: str | None = None) -> list[logfiles.LogFile]:
    """Matching current logs, newest first."""
    files = logfiles.server_logs(area.logs_dir, dbfname)
    if not server_id:
        return files
    pids = {e.registration.pid for e in registry.scan(area.servinfo_dir).entries
            if e.registration.server_id.startswith(server_id)}
    return [f for f in files if f.pid in pids or _names_server(f.path, server_id)]


def _names_server(path: Path, server_id: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        head = os.read(fd, HEAD_BYTES).decode("utf-8", "replace")
    except OSError:
        return False
    finally:
        os.close(fd)
    return f" as {server_id}" in head


def tail(path: Path, n: int) -> tuple[list[str], int]:
    """The last ``n`` lines of ``path`` and the offset after them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return [], 0
    try:
        size = os.fstat(fd).st_size
        chunk = min(size, max(n, 1) * 512 + 4096)
        data = os.pread(fd, chunk, size - chunk)
    finally:
        os.close(fd)
    lines = data.decode("utf-8", "replace").splitlines()
    if chunk < size and lines:
        lines = lines[1:]  # the first line of the chunk is probably cut
    return (lines[-n:] if n > 0 else []), size


def header(area: Area, f: logfiles.LogFile) -> str:
    return f"==> {f.path.relative_to(area.root)} <=="


def show(area: Area, files: list[logfiles.LogFile], n: int, out: TextIO) -> None:
    for i, f in enumerate(files):
        lines, _ = tail(f.path, n)
        if i:
            print(file=out)
        print(header(area, f), file=out)
        for line in lines:
            print(line, file=out)
    out.flush()


@dataclass
class _Followed:
    log: logfiles.LogFile
    inode: int
    offset: int


def follow(
    area: Area, dbfname: str | None, server_id: str | None, n: int, out: TextIO, *,
    poll: float = 0.25, until: Callable[[], bool] = lambda: False,
) -> None:
    """Print the last ``n`` lines of the newest matching log, then everything
    written to any matching log from now on, including logs of servers that
    start later; a rotated log is reopened from its start. Ends when ``until()``
    (tests) or on Ctrl-C."""
    followed: dict[Path, _Followed] = {}
    current: Path | None = None
    first = True
    while not until():
        files = select(area, dbfname, server_id)
        for f in reversed(files):  # oldest first: output in time order
            state = followed.get(f.path)
            try:
                st = os.stat(f.path, follow_symlinks=False)
            except OSError:
                continue
            if state is None:
                if first and f != files[0]:
                    # Logs that existed before we started: only new lines.
                    followed[f.path] = _Followed(f, st.st_ino, st.st_size)
                    continue
                lines, offset = tail(f.path, n) if first else _read_from(f.path, 0)
                followed[f.path] = _Followed(f, st.st_ino, offset)
                current = _emit(area, f, lines, current, out)
                continue
            if st.st_ino != state.inode or st.st_size < state.offset:
                state.inode, state.offset = st.st_ino, 0  # rotated: the new file from its start
            if st.st_size > state.offset:
                lines, state.offset = _read_from(f.path, state.offset)
                current = _emit(area, f, lines, current, out)
        first = False
        time.sleep(poll)


def _read_from(path: Path, offset: int) -> tuple[list[str], int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return [], offset
    try:
        data = os.pread(fd, 1 << 20, offset)
    finally:
        os.close(fd)
    # Only whole lines; a partial last line waits for its newline.
    end = data.rfind(b"\n") + 1
    return data[:end].decode("utf-8", "replace").splitlines(), offset + end


def _emit(area: Area, f: logfiles.LogFile, lines: list[str], current: Path | None, out: TextIO) -> Path | None:
    if not lines and current is not None:
        return current
    if current != f.path:
        print(header(area, f), file=out)
    for line in lines:
        print(line, file=out)
    out.flush()
    return f.path
