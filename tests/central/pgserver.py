"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries,
a fresh cluster in a temp directory, loopback TCP only, a random password.

The tests run as root on CI, and ``initdb``/``postgres`` refuse to run as root:
then the cluster belongs to the ``postgres`` user the Debian package creates and
every server command runs through ``runuser -u postgres``. ``make pg`` installs
the package on a fresh machine (docs/central.md).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 60


class PgUnavailable(Exception):
    """PostgreSQL cannot run on this machine at all (why is the message)."""


def find_bindir() -> Path:
    """The newest installed ``/usr/lib/postgresql/<v>/bin``, else ``initdb`` on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    raise PgUnavailable("PostgreSQL is not installed (no initdb); `make pg` installs it as root")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    base: Path
    port: int
    password: str
    as_user: str | None

    @property
    def data(self) -> Path:
        return self.base / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *argv: str, timeout: float = START_TIMEOUT) -> None:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed ({res.returncode}): {res.stderr.strip()}\n{tail}")

    @classmethod
    def start(cls) -> PgServer:
        bindir = find_bindir()
        as_user = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root and there is no 'postgres' user to run the server as") from None
            as_user = "postgres"
        base = Path(tempfile.mkdtemp(prefix="mtserve-pg-"))
        srv = cls(bindir, base, 0, secrets.token_hex(16), as_user)
        try:
            pwfile = base / "pwfile"
            pwfile.write_text(srv.password + "\n")
            if as_user:
                os.chown(base, owner.pw_uid, owner.pw_gid)
                os.chown(pwfile, owner.pw_uid, owner.pw_gid)
            # --no-sync: a throwaway cluster; scram on TCP, no unix socket at all.
            srv._run("initdb", "-D", str(srv.data), "-U", "postgres", f"--pwfile={pwfile}",
                     "--auth=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions")
            for attempt in range(3):
                srv.port = _free_port()
                with open(srv.data / "postgresql.auto.conf", "a") as conf:
                    conf.write(f"listen_addresses = '127.0.0.1'\nport = {srv.port}\n"
                               "unix_socket_directories = ''\nfsync = off\n"
                               "shared_buffers = 16MB\nmax_connections = 40\n")
                try:
                    srv._run("pg_ctl", "-D", str(srv.data), "-l", str(base / "server.log"),
                             "-w", "-t", str(START_TIMEOUT), "start")
                    return srv
                except RuntimeError:
                    if attempt == 2:
                        raise
        except BaseException:
            srv.stop()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
