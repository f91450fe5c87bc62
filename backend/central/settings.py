"""Where and how often to sync: flags > ``MTSERVE_SYNC_*`` > megatest.config > defaults.

The same layering as every setting (backend/config.py), kept apart from
``Settings`` on purpose: the destination may hold a password, and ``Settings``
travels to every server process (environment, standby requests).

In megatest.config::

    [sync]
    to     postgresql://mt@dbhost/megatest     # or a name in [ext-sync], below
    every  60                                  # seconds between passes of `backend serve`
    area-tag nightly

    [ext-sync]
    pgdb   dbtype:pg dbname:megatest host:dbhost user:mt password:secret

``to`` naming an ``[ext-sync]`` entry reads Megatest's own ``key:value`` spec
(split at the FIRST colon, so passwords may hold colons; ``dbtype`` optional,
only ``pg`` accepted).
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from backend.config import read_megatest_section
from backend.errors import ConfigError

DEFAULT_EVERY = 60.0
_SPEC_KEYS = {"dbname", "host", "user", "password", "port", "sslmode", "connect_timeout"}


@dataclass(frozen=True)
class SyncSettings:
    to: str = ""
    every: float = DEFAULT_EVERY
    area_tag: str = ""

    def __repr__(self) -> str:  # never show a password in a traceback or log
        return f"SyncSettings(to={redact(self.to)!r}, every={self.every!r}, area_tag={self.area_tag!r})"


def load_sync_settings(
    area_root: Path | None,
    *,
    to: str | None = None,
    every: float | str | None = None,
    area_tag: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SyncSettings:
    environ = os.environ if environ is None else environ
    cfg = area_root / "megatest.config" if area_root is not None else None
    section = read_megatest_section(cfg, "sync") if cfg is not None else {}
    raw: dict[str, tuple[str, object]] = {}
    for key in ("to", "every", "area-tag"):
        if key in section:
            raw[key] = (f"{cfg} [sync] {key}", section[key])
        env_key = "MTSERVE_SYNC_" + key.replace("-", "_").upper()
        if env_key in environ:
            raw[key] = (f"environment {env_key}", environ[env_key])
    for key, flag in (("to", to), ("every", every), ("area-tag", area_tag)):
        if flag is not None:
            raw[key] = (f"--{'sync-' if key == 'every' else ''}{key}", flag)
    dest = str(raw["to"][1]).strip() if "to" in raw else ""
    if dest:
        dest = resolve_destination(dest, cfg)
    secs = DEFAULT_EVERY
    if "every" in raw:
        source, value = raw["every"]
        secs = _seconds(value, source)
    return SyncSettings(dest, secs, str(raw["area-tag"][1]).strip() if "area-tag" in raw else "")


def _seconds(value: object, source: str) -> float:
    try:
        secs = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: sync every must be a number of seconds, got {value!r}") from None
    if not math.isfinite(secs) or secs <= 0:
        raise ConfigError(f"{source}: sync every must be > 0 seconds, got {value!r}")
    return secs


def resolve_destination(dest: str, cfg: Path | None) -> str:
    """A libpq URL or ``key=value`` DSN as is; a bare name through ``[ext-sync]``."""
    if "://" in dest or "=" in dest:
        if "://" in dest and not dest.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"sync destination {redact(dest)!r}: only postgresql:// is supported")
        return dest
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", dest):
        raise ConfigError(f"sync destination {dest!r}: expected postgresql://..., a DSN, or an [ext-sync] name")
    spec = read_megatest_section(cfg, "ext-sync").get(dest) if cfg is not None else None
    if spec is None:
        raise ConfigError(f"sync destination {dest!r} is not a URL and megatest.config has no [ext-sync] {dest}")
    return spec_to_dsn(spec, f"[ext-sync] {dest}")


def spec_to_dsn(spec: str, where: str) -> str:
    """Megatest's ``dbtype:pg dbname:x host:y ...`` as a libpq DSN."""
    parts: list[str] = []
    for item in spec.split():
        key, sep, value = item.partition(":")
        if not sep or not key or not value:
            raise ConfigError(f"{where}: bad item {item.split(':')[0]!r}..., expected key:value")
        if key == "dbtype":
            if value != "pg":
                raise ConfigError(f"{where}: dbtype {value!r} is not supported (only pg)")
            continue
        if key not in _SPEC_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: dbtype, {', '.join(sorted(_SPEC_KEYS))})")
        quoted = value.replace("\\", "\\\\").replace("'", "\\'")
        parts.append(f"{key}='{quoted}'")
    if not parts:
        raise ConfigError(f"{where}: empty connection spec")
    return " ".join(parts)


def redact(dest: str) -> str:
    """``dest`` without its password, for messages and events."""
    if "://" in dest:
        try:
            u = urllib.parse.urlsplit(dest)
        except ValueError:
            return "<unparsable URL>"
        if u.password is not None:
            netloc = u.netloc.rpartition("@")[2]
            user = u.username or ""
            u = u._replace(netloc=f"{user}:***@{netloc}")
        return urllib.parse.urlunsplit(u._replace(query=re.sub(r"password=[^&]*", "password=***", u.query)))
    return re.sub(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", "password=***", dest)
