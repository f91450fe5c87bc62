"""One progress line for long waits (issue 13 item 10).

A command that waits (a call for a server to start, a stop for an exit) prints
one line on stderr once it has waited ``delay`` seconds, saying what it waits
for; nothing when it finishes sooner, with ``--quiet``, or when stderr is not a
terminal (scripts and logs get no noise). The message can be updated while
waiting (``set``); the line shows the latest.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO


class Progress:
    def __init__(self, message: str, *, enabled: bool = True, delay: float = 1.0,
                 stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.message = message
        self.enabled = enabled and _is_tty(self.stream)
        self._timer = threading.Timer(delay, self._show)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self._done = False
        self.shown = False

    def set(self, message: str) -> None:
        self.message = message

    def _show(self) -> None:
        with self._lock:
            if self._done:
                return
            self.shown = True
            print(f"backend: {self.message} ...", file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        if self.enabled:
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
