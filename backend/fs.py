"""Filesystem detection: is a path on a network filesystem?

In the core (not the db layer) because two layers ask: the store picks its
journal mode by it, and the monitor's watcher picks polling over inotify by
it. The watcher must not load sqlite and every command module to ask.
"""

from __future__ import annotations

import os
from pathlib import Path

NETWORK_FS = {
    "nfs", "nfs4", "cifs", "smbfs", "smb3", "fuse.sshfs", "sshfs", "9p", "afs",
    "lustre", "gpfs", "ceph", "glusterfs", "fuse.glusterfs", "beegfs", "davfs",
}


def filesystem_type(path: Path) -> str:
    """The fstype of the mount holding ``path`` ('' if unknown)."""
    import psutil

    target = os.path.realpath(path)
    best, fstype = "", ""
    try:
        parts = psutil.disk_partitions(all=True)
    except OSError:
        return ""
    for part in parts:
        mp = part.mountpoint
        if (target == mp or target.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
            best, fstype = mp, part.fstype
    return fstype


def is_network_fs(path: Path) -> bool:
    return filesystem_type(path).lower() in NETWORK_FS


def read_head(path: os.PathLike[str] | str, limit: int) -> bytes | None:
    """Up to ``limit`` bytes from the start of a small file of ours, or None when
    it cannot be read. Never through a symlink (O_NOFOLLOW) and never blocking
    on a FIFO planted in its place (O_NONBLOCK)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)
