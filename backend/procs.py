"""Local process facts: which host a registration lives on, whether its process
is the one that wrote it, how many servers of an area run here, and a guarded
SIGTERM.

psutil can only confirm *local* pids; a registration from another host is
"remote, ping only" and is never judged by its pid.

psutil is imported inside the functions that use it (~90 ms at import): a
``backend call`` asks only ``process_matches``, answered from ``/proc`` on Linux.
"""

# Not ``from __future__ import annotations``: NamedTuple would make each string
# annotation a ForwardRef, compiled at import, on every call (docs/design.md,
# "No dataclasses on the call path"; tests/integration/test_lean_call.py).

import functools
import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from backend import registry
from backend.registry import Registration

if TYPE_CHECKING:
    import psutil

# Two create_time readings of one process agree to within clock-tick rounding.
_PROC_START_SLACK = 1.0


@functools.lru_cache(maxsize=1)
def this_hostname() -> str:
    return socket.gethostname()


@functools.lru_cache(maxsize=1)
def _local_addresses() -> frozenset[str]:
    import psutil

    addrs = {"localhost"}
    try:
        for infos in psutil.net_if_addrs().values():
            for info in infos:
                if info.family in (socket.AF_INET, socket.AF_INET6):
                    addrs.add(info.address.split("%", 1)[0])
    except OSError:
        pass
    return frozenset(addrs)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def is_this_host(reg: Registration) -> bool:
    """Does ``reg`` describe a server on this machine?

    Our files carry a ``hostname`` extension; Megatest's files only have the
    address, which counts as ours if it is loopback or one of our interfaces
    (so an IP-registered server does not look foreign: Megatest's bug P9).
    """
    name = reg.extras.get("hostname")
    if name:
        return name == this_hostname()
    host = reg.host.strip("[]")
    return is_loopback(host) or host in _local_addresses() or host == this_hostname()


def is_loopback_address(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: an address only its own host can reach."""
    return is_loopback(host)


def is_wildcard_address(host: str) -> bool:
    """0.0.0.0 / :: bind every interface but name none: useless in a registration."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def unreachable_from_here(reg: Registration) -> bool:
    """A server on another host that registered a loopback address: nobody here
    can reach it (a connect would at best reach some other local process)."""
    return not is_this_host(reg) and is_loopback(reg.host)


class Hold(NamedTuple):
    """Another host still owns a db although none of its servers answered here."""

    hostname: str
    message: str
    unreachable: bool  # loopback-registered elsewhere: waiting cannot help


def foreign_hold(
    unanswered: Iterable[registry.Entry], now: float, stale_after: float
) -> Hold | None:
    """The home-host rule when pings fail: registrations of another host that are
    not provably dead (mtime fresh) keep the db on that host, so this host must
    neither start a server for it nor remove them. Starting one here would put
    two hosts' writers on one sqlite file over a shared filesystem.

    ``unanswered`` are entries (newest first) that did not answer with their own
    server-id; the oldest foreign fresh one names the home host.
    """
    held = [
        e for e in unanswered
        if not is_this_host(e.registration) and not registry.is_stale(e, now, stale_after)
    ]
    if not held:
        return None
    reg = held[-1].registration
    host = reg.hostname
    db = reg.dbfname
    if all(unreachable_from_here(e.registration) for e in held):
        return Hold(
            host,
            f"servers for {db} run on host {host} but registered a loopback address "
            f"({reg.host}) that this host cannot reach; start them with --host",
            True,
        )
    reg = next(e.registration for e in reversed(held) if not unreachable_from_here(e.registration))
    age = max(now - held[-1].mtime, 0.0)
    return Hold(
        host,
        f"servers for {db} run on host {host} ({reg.host}:{reg.port}) but do not answer "
        f"from host {this_hostname()}; not starting one here while their registration is "
        f"fresh (touched {age:.0f}s ago, provably dead only after {stale_after:g}s)",
        False,
    )


def host_identity(reg: Registration) -> str:
    """The key the home-host rule compares: our hostname for local files."""
    return this_hostname() if is_this_host(reg) else reg.hostname


def process_matches(reg: Registration) -> bool:
    """True if the local process ``reg.pid`` exists and started when ``reg`` says.

    A pid reused by an unrelated process fails the start-time check (when the
    file has ``proc-start``); without ``proc-start`` existence is all we know.
    """
    fast = _process_matches_procfs(reg)
    if fast is not None:
        return fast
    import psutil

    try:
        proc = psutil.Process(reg.pid)
        created = proc.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
    if proc.status() == psutil.STATUS_ZOMBIE:
        return False
    started = reg.proc_start
    return started is None or abs(created - started) <= _PROC_START_SLACK


@functools.lru_cache(maxsize=1)
def _boot_time() -> float | None:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    return None


def _process_matches_procfs(reg: Registration) -> bool | None:
    """``process_matches`` from ``/proc/<pid>/stat`` (Linux), as psutil computes it
    (create_time = btime + starttime / CLK_TCK); None when /proc cannot say."""
    try:
        with open(f"/proc/{reg.pid}/stat", "rb") as f:
            stat = f.read()
        boot = _boot_time()
    except FileNotFoundError:
        return None if not os.path.isdir("/proc/self") else False
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(b")") + 2:].split()
    if boot is None or len(fields) < 20:
        return None
    if fields[0] == b"Z":
        return False
    started = reg.proc_start
    if started is None:
        return True
    created = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return abs(created - started) <= _PROC_START_SLACK


def locally_gone(reg: Registration) -> bool:
    """Provably gone without a ping: a local registration whose process is dead."""
    return is_this_host(reg) and not process_matches(reg)


def count_area_servers(area_root: str) -> int:
    """Server processes of this area running on this host (any dbfname)."""
    import psutil

    root = os.path.realpath(area_root)
    n = 0
    for proc in psutil.process_iter(["cmdline"]):
        found = server_of(proc.info.get("cmdline") or [])
        n += bool(found and found[0] == root)
    return n


def server_title(area_root: str, dbfname: str, tail: str) -> str:
    """The process title of a server whose command line does not say what it is
    (forked by the standby, or spawned by ``backend serve``); ``server_of`` reads it."""
    return f"backend server --area {area_root} --db {dbfname} {tail}"


_TITLE = re.compile(r"\bbackend server --area (.+?) --db (\S+)")


def server_of(cmdline: list[str]) -> tuple[str, str] | None:
    """(real area path, dbfname) if ``cmdline`` is a server's, else None.

    Two forms: a launched server's argv (``... -m backend server --area A --db
    D``), and the title a server forked by the standby sets (setproctitle), which
    ``/proc`` shows as one string.
    """
    cmd = [part for part in cmdline if part]
    if len(cmd) == 1:
        match = _TITLE.search(cmd[0])
        return (os.path.realpath(match.group(1)), match.group(2)) if match else None
    if "server" not in cmd:
        return None
    try:
        area = cmd[cmd.index("--area") + 1]
        db = cmd[cmd.index("--db") + 1]
    except (ValueError, IndexError):
        return None
    return os.path.realpath(area), db


def prove_local_server(area_root: str | os.PathLike[str], reg: Registration) -> "psutil.Process | None":
    """``prove_local_server(area_root, reg) -> psutil.Process | None``: the ONLY way
    any command of ours decides that it may signal a process.

    Returns the process only when every one of these holds, else None:

    - ``reg`` is a registration of this host and names a pid >= 2 and its
      ``proc-start``;
    - that pid is alive (not a zombie), runs as this user, and its psutil
      ``create_time`` equals ``proc-start`` (a reused pid fails here);
    - its command line, or the title a forked server sets, is a server's and names
      the area's real path and ``reg.dbfname`` (a process of another area, or no
      server at all, fails here; so does a registration copied from another area);
    - it holds a LISTEN socket on the registered port itself (fix D1: a forged file
      can name any process of ours with its true start time).

    Callers signal ``proc`` only (``proc.terminate()``/``proc.kill()``: psutil
    re-checks that the pid still has that start time before sending).
    """
    if reg.pid < 2 or reg.proc_start is None or not is_this_host(reg):
        return None
    import psutil

    try:
        proc = psutil.Process(reg.pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.uids().real != os.getuid():
            return None
        if abs(proc.create_time() - reg.proc_start) > _PROC_START_SLACK:
            return None
        if server_of(proc.cmdline()) != (os.path.realpath(area_root), reg.dbfname):
            return None
        if not listens_on(proc, reg.port):
            return None
    except (psutil.Error, OSError):
        return None
    return proc


def serves_another_area(area_root: str | os.PathLike[str], reg: Registration) -> bool:
    """A local registration whose live process is a server of another area or db
    (a registration copied by ``cp -a`` or forged): it must not count as one of ours."""
    if not is_this_host(reg):
        return False
    import psutil

    try:
        found = server_of(psutil.Process(reg.pid).cmdline())
    except (psutil.Error, OSError):
        return False
    return found is not None and found != (os.path.realpath(area_root), reg.dbfname)


def terminate_if_ours(
    area_root: str | os.PathLike[str], reg: Registration, server_id_confirmed: bool
) -> bool:
    """SIGTERM the server of ``reg`` if the caller confirmed its server-id (by ping)
    and ``prove_local_server`` proves it a server of this area and db on this host."""
    if not server_id_confirmed:
        return False
    proc = prove_local_server(area_root, reg)
    if proc is None:
        return False
    import psutil

    try:
        proc.terminate()
    except psutil.Error:
        return False
    return True


def listens_on(proc: "psutil.Process", port: int) -> bool:
    """Does ``proc`` itself hold a listening socket on ``port``?"""
    import psutil

    try:
        conns = proc.net_connections(kind="inet")
    except (psutil.Error, OSError):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)
