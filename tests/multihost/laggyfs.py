"""A laggy, NFS-like view of ``.servinfo/`` for in-process tests.

``LaggyOS`` stands in for the ``os`` module *inside backend.registry*
(``monkeypatch.setattr(backend.registry, "os", LaggyOS(...))``), so the real
scan / read / remove / publish code runs against what an NFS client would
show it:

- listings lag: names created recently may be missing (``hidden``), names
  removed recently may still be listed (``ghosts``: open gives ENOENT/ESTALE);
- attributes lag: a file's mtime is reported as it was up to ``max_lag``
  seconds ago (the attribute cache), per name;
- ``.nfs*`` leftovers (silly-renamed open files) sit in the directory;
- spurious ``ESTALE`` on open/stat/fstat, and spurious ``EEXIST`` on an
  ``O_EXCL`` create (a retransmitted CREATE whose first reply was lost).

Everything else is the real ``os``. The view is re-drawn by ``reshuffle``
between operations, as caches expire and refill at their own pace.
"""

from __future__ import annotations

import errno
import os
import random
import stat as stat_mod
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class _Stat:
    """A stat result with a lagged mtime; every other field is the real one."""

    def __init__(self, real: os.stat_result, mtime: float) -> None:
        self._real = real
        self.st_mtime = mtime

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _DirEntry:
    def __init__(self, fs: LaggyOS, directory: str, name: str) -> None:
        self._fs = fs
        self.name = name
        self.path = os.path.join(directory, name)

    def stat(self, *, follow_symlinks: bool = True) -> Any:
        return self._fs.stat(self.path, follow_symlinks=follow_symlinks)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        try:
            return stat_mod.S_ISREG(self.stat(follow_symlinks=follow_symlinks).st_mode)
        except OSError:
            return False


class _ScandirIterator:
    def __init__(self, entries: list[_DirEntry]) -> None:
        self._it: Iterator[_DirEntry] = iter(entries)

    def __iter__(self) -> Iterator[_DirEntry]:
        return self._it

    def __next__(self) -> _DirEntry:
        return next(self._it)

    def __enter__(self) -> _ScandirIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class LaggyOS:
    def __init__(self, directory: Path, rng: random.Random, *, max_lag: float = 60.0,
                 heartbeat: float = 5.0, fs_clock: Callable[[], float] = time.time,
                 p_estale: float = 0.1, p_eexist: float = 0.2, worst: bool = False) -> None:
        self.directory = str(directory)
        self.rng = rng
        self.max_lag = max_lag
        self.heartbeat = heartbeat
        self.worst = worst  # every cache as far behind as allowed
        self.fs_clock = fs_clock  # the file server's clock, which stamps mtimes
        self.p_estale = p_estale
        self.p_eexist = p_eexist
        self.lag: dict[str, float] = {}
        self.epoch_now = fs_clock()
        self.hidden: set[str] = set()
        self.ghosts: set[str] = set()
        self._fd_names: dict[int, str] = {}
        self.injected: dict[str, int] = {"ESTALE": 0, "EEXIST": 0, "hidden": 0, "ghost": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    # -- the view -------------------------------------------------------------------

    def reshuffle(self, *, may_hide: set[str], may_ghost: set[str]) -> None:
        """New cache state: per-name attribute lag, which new names are not listed
        yet and which removed names are still listed."""
        self.lag = {}
        self.epoch_now = self.fs_clock()
        self.hidden = {n for n in may_hide if self.rng.random() < 0.5}
        self.ghosts = {n for n in may_ghost if self.rng.random() < 0.7}
        self.injected["hidden"] += len(self.hidden)
        self.injected["ghost"] += len(self.ghosts)

    def lag_of(self, name: str) -> float:
        """How far behind this name's cached attributes are (fixed per epoch):
        up to ``max_lag``, plus where in its heartbeat the cached touch fell."""
        if name not in self.lag and self.worst:
            self.lag[name] = self.max_lag + self.heartbeat
        elif name not in self.lag:
            self.lag[name] = self.rng.uniform(0, self.max_lag) + self.rng.uniform(
                0, self.heartbeat
            )
        return self.lag[name]

    def _maybe_estale(self, path: str) -> None:
        if os.path.dirname(path) == self.directory and self.rng.random() < self.p_estale:
            self.injected["ESTALE"] += 1
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE), path)

    def _lagged(self, real: os.stat_result, name: str) -> _Stat:
        # What the attribute cache shows: the mtime as of ``lag`` seconds ago. A
        # file untouched since then shows its real mtime; one touched since (a
        # live server's heartbeat) shows an older touch, up to a heartbeat before.
        then = self.epoch_now - self.lag_of(name)
        return _Stat(real, min(real.st_mtime, then))

    # -- os functions backend.registry uses ---------------------------------------------

    def scandir(self, path: Any) -> _ScandirIterator:
        path = os.fspath(path)
        if path != self.directory:
            return os.scandir(path)  # type: ignore[return-value]
        names = [n for n in os.listdir(path) if n not in self.hidden]
        names += [g for g in self.ghosts if g not in names]
        self.rng.shuffle(names)
        return _ScandirIterator([_DirEntry(self, path, n) for n in names])

    def stat(self, path: Any, *, follow_symlinks: bool = True, **kw: Any) -> Any:
        p = os.fspath(path)
        self._maybe_estale(p)
        if os.path.basename(p) in self.ghosts and not os.path.lexists(p):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), p)
        real = os.stat(p, follow_symlinks=follow_symlinks, **kw)
        return self._lagged(real, os.path.basename(p))

    def open(self, path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        p = os.fspath(path)
        self._maybe_estale(p)
        fd = os.open(p, flags, mode, **kw)
        if flags & os.O_EXCL and flags & os.O_CREAT and self.rng.random() < self.p_eexist:
            # The create happened, but its reply was lost and the retry says EEXIST.
            os.close(fd)
            self.injected["EEXIST"] += 1
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), p)
        self._fd_names[fd] = os.path.basename(p)
        return fd

    def fstat(self, fd: int) -> Any:
        real = os.fstat(fd)
        name = self._fd_names.get(fd)
        if name is None:
            return real
        if self.rng.random() < self.p_estale / 2:
            self.injected["ESTALE"] += 1
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE))
        return self._lagged(real, name)

    def close(self, fd: int) -> None:
        self._fd_names.pop(fd, None)
        os.close(fd)
