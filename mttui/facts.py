"""Facts the detail screen shows, gathered off the UI thread (no Textual here)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

from backend import procs, registry

TAIL_BYTES = 32768


@dataclass(frozen=True)
class DetailData:
    """What the detail screen shows besides the live ping data, gathered off the UI thread."""

    registration: list[str]
    process: list[str]
    log_name: str
    log: list[str]


def proc_info(reg: registry.Registration) -> list[str]:
    """What psutil knows about a local server's process (never raises)."""
    if not procs.is_this_host(reg):
        return [f"on another host ({reg.hostname}): ping only"]
    try:
        p = psutil.Process(reg.pid)
        with p.oneshot():
            mem = p.memory_info().rss / (1 << 20)
            lines = [
                f"status {p.status()}  threads {p.num_threads()}  rss {mem:.1f} MiB",
                f"cpu {p.cpu_times().user + p.cpu_times().system:.2f}s  "
                f"started {dt.datetime.fromtimestamp(p.create_time()):%Y-%m-%d %H:%M:%S}",
                # Servers forked by the standby show a title: one string, NUL-padded.
                "cmd " + " ".join(part for part in p.cmdline() if part)[:200],
            ]
    except psutil.NoSuchProcess:
        return [f"pid {reg.pid}: no such process"]
    except psutil.AccessDenied:
        return [f"pid {reg.pid}: access denied"]
    except psutil.Error as exc:
        return [f"pid {reg.pid}: {exc}"]
    if not procs.process_matches(reg):
        lines.insert(0, "WARNING: start time differs from the file: pid reused?")
    return lines


def log_tail(path: Path, lines: int = 40, label: str | None = None,
             max_bytes: int = TAIL_BYTES) -> list[str]:
    """The last ``lines`` lines of a log (reads at most ``max_bytes`` from the end).
    Opened by name each time, so a rotated log is followed to its new file."""
    name = label or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return [f"(no log at {name})"]
    except OSError as exc:
        return [f"(cannot read {name}: {exc.strerror})"]
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(size - max_bytes, 0), os.SEEK_SET)
        data = os.read(fd, max_bytes)
    except OSError as exc:
        return [f"(cannot read {name}: {exc.strerror})"]
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace").splitlines()
    if size > max_bytes and text:
        text = text[1:]  # first line is probably cut
    return text[-lines:] or ["(log is empty)"]


def registration_lines(entry: registry.Entry) -> list[str]:
    reg = entry.registration
    lines = [
        f"file      .servinfo/{entry.name}",
        f"line 1    {registry.format_registration(reg).splitlines()[0]}",
        f"started   {_utc(reg.start):%Y-%m-%d %H:%M:%S} UTC",
        f"touched   {_utc(entry.mtime):%Y-%m-%d %H:%M:%S} UTC",
    ]
    lines += [f"{k:<9} {_extra(k, v)}" for k, v in reg.extras.items()]
    return lines


def _extra(key: str, value: str) -> str:
    """An extension's value as shown: ``proc-start`` (an epoch) as a UTC time."""
    if key == "proc-start":
        try:
            return f"{_utc(float(value)):%Y-%m-%d %H:%M:%S} UTC ({value})"
        except (ValueError, OverflowError, OSError):
            return value
    return value


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)
