"""Watching ``.servinfo/``: a watchdog observer whose events coalesce into one
"registry changed" notification.

Threads: watchdog calls ``_Handler.on_any_event`` on its emitter thread. That
thread must never block or touch the UI, so it only calls ``Coalescer.__call__``,
which flips a flag and, if the flag was clear, calls ``post`` (the app's
thread-safe ``post_message`` of a payload-free message). The app calls
``Coalescer.taken()`` *before* it re-reads the directory, so an event arriving
during the re-read posts again: no change is ever lost, and any burst of
events costs at most one queued message.

Atomic publishes look different per observer: inotify reports
``moved(.tmp-x -> name)``, the polling observer ``created(name)`` (it never saw
the temp file) or ``moved``. Both are relevant because the destination name is;
our own reads (``opened``/``closed``) are ignored, or every re-read would
trigger the next one.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from backend.fs import is_network_fs

log = logging.getLogger(__name__)

IGNORED_EVENTS = {"opened", "closed", "closed_no_write"}
SERVINFO = ".servinfo"


class Coalescer:
    """Turns any number of calls into one ``post()`` until ``taken()``."""

    def __init__(self, post: Callable[[], object]) -> None:
        self._post = post
        self._pending = threading.Event()
        self.posted = 0

    def __call__(self) -> None:
        if not self._pending.is_set():
            self._pending.set()
            self.posted += 1
            self._post()

    def taken(self) -> None:
        self._pending.clear()


def relevant(event: FileSystemEvent, watching_root: bool) -> bool:
    if event.event_type in IGNORED_EVENTS:
        return False
    names = [os.path.basename(os.fsdecode(event.src_path))]
    if getattr(event, "dest_path", ""):
        names.append(os.path.basename(os.fsdecode(event.dest_path)))
    if watching_root:
        return SERVINFO in names
    return any(n == SERVINFO or not n.startswith(".") for n in names)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: RegistryWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if relevant(event, self.watcher.watching_root):
            self.watcher.notify()


class RegistryWatcher:
    """Observer on ``<area>/.servinfo`` (or on the area until that exists)."""

    def __init__(self, area_root: Path, notify: Callable[[], None],
                 poll: float | None = None) -> None:
        self.root = area_root
        self.servinfo = area_root / SERVINFO
        self.notify = notify
        self.poll_interval = poll or 1.0
        self.fallback_reason: str | None = None
        self.kind = "polling" if poll else "inotify"
        if self.kind == "inotify" and is_network_fs(area_root):
            self.kind, self.fallback_reason = "polling", "network filesystem"
        self._observer: BaseObserver | None = None
        self._watch: ObservedWatch | None = None
        self.watching_root = False
        self._lock = threading.Lock()

    def _new_observer(self) -> BaseObserver:
        if self.kind == "polling":
            return PollingObserver(timeout=self.poll_interval)
        return Observer()

    def start(self) -> None:
        try:
            self._start()
        except OSError as exc:
            if self.kind != "inotify":
                raise
            # inotify instance/watch limits (ENOSPC, EMFILE) or no inotify at all.
            reason = "inotify limit reached" if exc.errno in (errno.ENOSPC, errno.EMFILE) \
                else f"inotify failed: {exc.strerror or exc}"
            log.warning("falling back to polling: %s", reason)
            self._stop_observer()
            self.kind, self.fallback_reason = "polling", reason
            self._start()

    def _start(self) -> None:
        with self._lock:
            self._observer = self._new_observer()
            self._schedule()
            self._observer.start()

    def _schedule(self) -> None:
        assert self._observer is not None
        target = self.servinfo if self.servinfo.is_dir() else self.root
        self.watching_root = target == self.root
        self._watch = self._observer.schedule(_Handler(self), str(target), recursive=False)
        log.info("watching %s with %s", target, self.kind)

    def retarget(self) -> bool:
        """Switch from the area to ``.servinfo`` once it exists (any thread).

        Returns True if it switched; the caller then re-reads, since files may
        have appeared before the new watch was in place.
        """
        with self._lock:
            if not self.watching_root or self._observer is None or not self.servinfo.is_dir():
                return False
            if self._watch is not None:
                self._observer.unschedule(self._watch)
            self._schedule()
            return not self.watching_root

    def _stop_observer(self) -> None:
        obs, self._observer = self._observer, None
        if obs is not None:
            try:
                obs.stop()
                if obs.is_alive():
                    obs.join(timeout=5)
            except RuntimeError:
                pass  # never started

    def stop(self) -> None:
        with self._lock:
            self._stop_observer()
