"""``mttui``: the command line, and ``make_app`` shared by the CLI and the tests."""

from __future__ import annotations

import argparse
import asyncio
import glob
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from backend.area import Area
from backend.config import Settings, load_settings
from backend.errors import BackendError
from backend.wire.connection import ping as real_ping
from mttui.model import Pinger, Probe
from mttui.traffic import Fetcher

# What the demo does, first on the summary line: a server it stops comes back
# because backend serve replaces it, which is otherwise a surprise.
DEMO_NOTE = ("[b]demo[/b]: a load calls main.db and 1.db; backend serve restarts a stopped"
             " server")

if TYPE_CHECKING:  # Textual is imported only when an app is built
    from mttui.app import MonitorApp


def make_app(
    area: str | os.PathLike[str] | Area, *, pinger: Pinger = real_ping,
    clock: Callable[[], float] = time.time, probe: Probe | None = None,
    poll: float | None = None, interval: float = 2.0, read_only: bool = False,
    label: str | None = None, watch: bool = True, filter_text: str = "", note: str = "",
    stats_fetcher: Callable[[], Fetcher] | None = None, traffic: bool = True,
    also: Sequence[str | os.PathLike[str] | Area] = (),
) -> MonitorApp:
    """Build the monitor for ``area`` (and the areas in ``also``, in one table with an
    Area column); raises ``BackendError`` for a bad area or config."""
    from mttui.app import MonitorApp

    the_area = area if isinstance(area, Area) else Area.open(area)
    settings = load_settings(the_area.root)
    others: list[tuple[Area, Settings]] = []
    for extra in also:
        other = extra if isinstance(extra, Area) else Area.open(extra)
        if other.root != the_area.root and other.root not in [a.root for a, _ in others]:
            others.append((other, load_settings(other.root)))
    return MonitorApp(
        the_area, settings, pinger=pinger, clock=clock, probe=probe, poll=poll,
        interval=interval, read_only=read_only, label=label, watch=watch,
        filter_text=filter_text, note=note, stats_fetcher=stats_fetcher, traffic=traffic,
        also=others,
    )


GLOB_CHARS = frozenset("*?[")


def expand_areas(given: Sequence[str]) -> list[str]:
    """``--area`` values in order, a glob (``'/proj/*'``) expanded here to the
    directories it matches, sorted; raises ``BackendError`` for one matching none."""
    out: list[str] = []
    for value in given:
        if GLOB_CHARS & set(value):
            found = sorted(p for p in glob.glob(os.path.expanduser(value)) if os.path.isdir(p))
            if not found:
                raise BackendError(f"area pattern {value!r} matches no directory")
            out += found
        else:
            out.append(value)
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mttui", description="Live monitor of an area's servers.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--area", metavar="PATH", action="append",
                       help="the area to watch (default: .); again for several areas in one"
                            " table; a quoted glob ('/proj/*') is expanded here")
    where.add_argument("--demo", action="store_true",
                       help="temporary area with 'backend serve' and a light load")
    p.add_argument("--poll", nargs="?", type=float, const=1.0, default=None, metavar="S",
                   help="poll the directory every S seconds (default 1) instead of inotify")
    p.add_argument("--interval", type=float, default=2.0, metavar="S",
                   help="seconds between background pings (default 2)")
    p.add_argument("--read-only", action="store_true", help="hide stop, start, restart, prune")
    p.add_argument("--filter", default="", metavar="TEXT",
                   help="start filtered, as typed after '/': a regex, '!regex' inverts, "
                        "'state:dead' keeps a state")
    p.add_argument("--no-traffic", action="store_true",
                   help="start without the traffic columns and their stats polling (t toggles)")
    args = p.parse_args(argv)
    if args.interval <= 0 or (args.poll is not None and args.poll <= 0):
        p.error("--interval and --poll take a positive number of seconds")
    return args


def setup_logging(area: Path) -> Path:
    """Send Python logging to ``<area>/logs/mttui.log`` (a temp file if not writable):
    nothing may reach the terminal while the app runs."""
    target: Path | None = None
    logs = area / "logs"
    try:
        logs.mkdir(exist_ok=True)
        target = logs / "mttui.log"
        handler: logging.Handler = logging.FileHandler(target, encoding="utf-8")
    except OSError:
        fd, name = tempfile.mkstemp(prefix="mttui-", suffix=".log")
        os.close(fd)
        target = Path(name)
        handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    return target


# Seconds a signalled app may take to shut down before the process ends anyway.
FORCED_EXIT_AFTER_S = 5.0


def _exit_on_signals(app: MonitorApp, cleanup: Callable[[], None] = lambda: None) -> None:
    """SIGTERM/SIGHUP end the app normally, so every ``finally`` runs.

    If the terminal is gone (SIGHUP from a closed tmux or ssh session), Textual's
    shutdown can block forever writing to it; an operator's ``kill`` must still
    end the monitor. So a signalled app that has not exited within
    ``FORCED_EXIT_AFTER_S`` (or a second signal) runs ``cleanup`` (the demo's
    processes) and ends the process."""
    signalled: list[int] = []

    def force(signum: int) -> None:
        try:
            cleanup()
        finally:
            os._exit(128 + signum)

    def handler(signum: int, _frame: object) -> None:
        if signalled:
            force(signum)
        signalled.append(signum)
        timer = threading.Timer(FORCED_EXIT_AFTER_S, force, args=(signum,))
        timer.daemon = True
        timer.start()
        try:
            asyncio.get_running_loop().call_soon_threadsafe(app.exit)
        except RuntimeError:
            raise SystemExit(128 + signum) from None

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    demo = None
    try:
        if args.demo:
            from mttui.demo import Demo

            demo = Demo()
            setup_logging(demo.root)
            demo.start()
            area_paths = [str(demo.root)]
        try:
            if not args.demo:
                area_paths = expand_areas(args.area or ["."])
            area = Area.open(area_paths[0])
            if not args.demo:
                setup_logging(area.root)
            app = make_app(area, also=area_paths[1:], poll=args.poll, interval=args.interval,
                           read_only=args.read_only, filter_text=args.filter,
                           note=DEMO_NOTE if args.demo else "", traffic=not args.no_traffic)
        except BackendError as exc:
            print(f"mttui: error: {exc}", file=sys.stderr)
            return 2
        _exit_on_signals(app, demo.cleanup if demo is not None else lambda: None)
        app.run()
        return app.return_code or 0
    finally:
        if demo is not None:
            demo.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
