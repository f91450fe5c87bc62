"""``backend stop --force``: SIGTERM, then SIGKILL, for a local server proven to
be this area's, then its registration goes.

The escalation a supervisor does (systemd: SIGTERM + SIGCONT, then SIGKILL
after a timeout). SIGCONT follows SIGTERM so a SIGSTOPped server wakes up and
shuts down cleanly (drains, removes its own file) instead of needing SIGKILL.

Every signal is guarded by ``proven_ours``: the one place the proof lives, so
the general check of issue 12 (``procs``) replaces its body without touching
the escalation.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from backend import events, procs, registry
from backend.area import Area
from backend.backoff import Backoff
from backend.registry import Registration


def proven_ours(area: Area, reg: Registration) -> bool:
    """Is ``reg``'s pid proven a server of this area and db on this host?
    ``procs.prove_local_server`` decides (user, start time, command line naming
    the area and db, listening port); nothing less is signalled."""
    return procs.prove_local_server(area.root, reg) is not None


def wait_exit(reg: Registration, timeout: float, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Wait until ``reg``'s process is gone (a zombie counts as gone: its parent
    reaps it, it serves nothing)."""
    wait = Backoff(timeout, first=0.01, cap=0.1, sleep=sleep)
    while procs.process_matches(reg):
        if not wait.sleep():
            return False
    return True


def force_stop(area: Area, entry: registry.Entry, kill_after: float) -> tuple[bool, str]:
    """Escalate on a server that did not stop when asked. (stopped, what happened)."""
    reg = entry.registration
    if not procs.is_this_host(reg):
        return False, (f"runs on host {reg.hostname}: --force cannot signal a process on another host; "
                       f"stop it there")
    if not procs.process_matches(reg):
        removed = registry.remove_if_owned(entry.path, reg.server_id)
        return True, f"process {reg.pid} is not running; registration {'removed' if removed else 'gone'}"
    if not proven_ours(area, reg):
        return False, (f"pid {reg.pid} is not proven to be this area's server "
                       f"(user, start time, listening port, command line): not signalled")
    how = "SIGTERM"
    _signal(reg.pid, signal.SIGTERM)
    _signal(reg.pid, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
    if not wait_exit(reg, kill_after):
        # Proven a moment ago, and the same process (pid and start time) since.
        if procs.process_matches(reg):
            how = f"SIGKILL after {kill_after:g}s"
            _signal(reg.pid, signal.SIGKILL)
        if not wait_exit(reg, 5.0):
            return False, f"pid {reg.pid} survived SIGKILL"
    # The process is gone: its file is provably dead, whatever its mtime.
    if registry.remove_if_owned(entry.path, reg.server_id):
        events.record_event(area, events.MARKED_DEAD, dbfname=reg.dbfname, name=entry.name, pid=reg.pid,
                            by=f"stop --force ({how})")
    return True, f"ended by {how}"


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
