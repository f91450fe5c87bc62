"""Settings: flags > environment ``MTSERVE_*`` > ``[server]`` of megatest.config > defaults.

One frozen ``Settings`` object is built once per process and passed down; nothing
else reads the environment or the config file.
"""

# Not ``from __future__ import annotations``: NamedTuple would make each string
# annotation a ForwardRef, compiled at import, on every call (docs/design.md,
# "No dataclasses on the call path"; tests/integration/test_lean_call.py).

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from backend.errors import ConfigError


class Settings(NamedTuple):
    """All tunables, named as in ``[server]`` with ``-`` turned into ``_``.

    A NamedTuple, not a dataclass: every ``backend call`` imports this module, and
    ``dataclasses`` (with ``inspect``) cost a call ~9 ms of imports plus ~2 ms to
    build this class (docs/design.md, "No dataclasses on the call path")."""

    heartbeat: float = 5.0
    stale_after: float = 360.0
    idle_timeout: float = 600.0
    max_servers: int = 4
    busy_threshold: int = 20
    loaded_threshold: int = 10
    ping_timeout: float = 2.0
    call_deadline: float = 30.0
    start_throttle: float = 5.0
    max_load: float = 4.0
    max_server_procs: int = 100
    num_run_dbs: int = 10
    max_frame: int = 1048576
    frame_deadline: float = 10.0
    auth_deadline: float = 5.0
    host: str = "127.0.0.1"
    lowport: int = 32768
    # Not in SPEC §6; ours (docs/config.md).
    port: int = 0
    db_busy_timeout: float = 10.0
    journal_mode: str = "auto"
    drain_timeout: float = 10.0
    request_timeout: float = 15.0
    registration_visible_timeout: float = 12.0
    standby_timeout: float = 600.0
    # Operating the pool (docs/operations.md).
    suspect_ttl: float = 30.0
    log_max_bytes: int = 1048576
    log_keep: int = 20

    def replace(self, **changes: Any) -> "Settings":
        return self._replace(**changes)

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()

    # -- the one codec across process boundaries ------------------------------
    # A launched server gets its settings as ``MTSERVE_*`` (``to_env``, read back by
    # ``load_settings``/``from_env``); the standby's fork request and the
    # supervisor's spawned child get a plain dict (``to_wire``/``from_wire``).

    def to_env(self) -> dict[str, str]:
        """The ``MTSERVE_*`` variables that make a child load exactly these settings."""
        return {ENV_PREFIX + name.upper(): str(value) for name, value in self.as_dict().items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        """Settings from ``MTSERVE_*`` alone (defaults for the rest); ConfigError if bad."""
        return cls(**_env_values(environ))

    def to_wire(self) -> dict[str, Any]:
        """Every setting as a plain map (str -> int, float or str) that msgpack and JSON carry."""
        return self.as_dict()

    @classmethod
    def from_wire(cls, raw: Any, source: str) -> "Settings":
        """The inverse of ``to_wire``, checked like any input: every setting named, each valid."""
        if not isinstance(raw, dict) or set(raw) != set(SETTING_TYPES):
            raise ConfigError(f"{source}: settings must name every setting")
        return cls(**{k: coerce(k, v, source) for k, v in raw.items()})


ENV_PREFIX = "MTSERVE_"


SETTING_TYPES: dict[str, type] = dict(Settings.__annotations__)  # real types (see above the imports)
_POSITIVE = {
    "heartbeat", "stale_after", "idle_timeout", "ping_timeout", "call_deadline",
    "max_frame", "frame_deadline", "auth_deadline", "max_servers", "num_run_dbs", "drain_timeout",
    "request_timeout", "log_max_bytes", "log_keep",
}
_JOURNAL_MODES = ("auto", "wal", "delete")
# Upper bounds (issue 12 item 9): a value beyond these is a typo, and some would
# break an invariant (a 7-digit run db is no valid dbfname; a frame length is 32 bits).
_DEFAULT_UPPER: dict[type, float] = {float: 1e9, int: 10**9}  # 1e9 s is 31 years
_UPPER: dict[str, float] = {
    "num_run_dbs": 10**6, "max_frame": 2**31, "max_load": 1e6,
}


def setting_names() -> list[str]:
    """Config-file spelling of every setting (``stale-after``)."""
    return [name.replace("_", "-") for name in Settings._fields]


def coerce(name: str, raw: Any, source: str) -> Any:
    """Convert ``raw`` to the type of setting ``name`` (underscore form); ConfigError if bad."""
    if name not in SETTING_TYPES:
        raise ConfigError(f"{source}: unknown setting {name.replace('_', '-')!r}")
    typ = SETTING_TYPES[name]
    try:
        # A bool is an int to Python, and int(4.5) is 4: neither is a valid number here.
        if typ is not str and isinstance(raw, bool):
            raise TypeError
        if typ is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError
        value: Any = typ(raw) if not isinstance(raw, typ) else raw
        if typ is int and isinstance(raw, str):
            value = int(raw.strip())
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"{source}: {name.replace('_', '-')} must be {typ.__name__}, got {raw!r}"
        ) from None
    # float("nan") / float("inf") parse, and nan passed every "<= 0" check below.
    if typ is float and not math.isfinite(value):
        raise ConfigError(f"{source}: {name.replace('_', '-')} must be finite, got {raw!r}")
    # No setting is meaningful below zero (a negative threshold or throttle).
    if typ in (int, float) and value < 0:
        raise ConfigError(f"{source}: {name.replace('_', '-')} must be >= 0, got {raw!r}")
    if name in _POSITIVE and value <= 0:
        raise ConfigError(f"{source}: {name.replace('_', '-')} must be > 0, got {raw!r}")
    upper = _UPPER.get(name, _DEFAULT_UPPER.get(typ))
    if upper is not None and value > upper:
        raise ConfigError(f"{source}: {name.replace('_', '-')} must be <= {upper:g}, got {raw!r}")
    if name == "journal_mode" and value not in _JOURNAL_MODES:
        raise ConfigError(f"{source}: journal-mode must be one of {', '.join(_JOURNAL_MODES)}")
    if name in ("port", "lowport") and not 0 <= value <= 65535:
        raise ConfigError(f"{source}: {name} must be 0..65535, got {raw!r}")
    return value


_SECTION_RE = re.compile(r"^\[([^\]]+)\]\s*$")


def read_megatest_server_section(path: Path) -> dict[str, str]:
    """``key value`` lines of the ``[server]`` section (Megatest config syntax)."""
    return read_megatest_section(path, "server")


def read_megatest_section(path: Path, name: str) -> dict[str, str]:
    """``key value`` lines of section ``[name]`` (Megatest config syntax).

    Megatest's syntax: ``[section]`` headers, ``key value`` lines, ``#`` comments;
    other directives (``[include ...]``, ``#{...}`` expansions) are not ours to
    interpret and are ignored.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    section = None
    out: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _SECTION_RE.match(stripped)
        if m:
            section = m.group(1).strip()
            continue
        if section != name:
            continue
        # Megatest separates key and value by any whitespace (a tab too); partition(" ")
        # turned "heartbeat\t3" into an unknown key that was silently ignored.
        parts = stripped.split(None, 1)
        out[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return out


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in SETTING_TYPES:
        env_key = ENV_PREFIX + name.upper()
        if env_key in environ:
            values[name] = coerce(name, environ[env_key], f"environment {env_key}")
    return values


def load_settings(
    area_root: Path | None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the four layers. Unknown keys in megatest.config are ignored (Megatest's
    ``[server]`` has keys of its own, e.g. ``homehost``); unknown flags are errors."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if area_root is not None:
        cfg_path = area_root / "megatest.config"
        for key, raw in read_megatest_server_section(cfg_path).items():
            name = key.replace("-", "_")
            if name in SETTING_TYPES:
                values[name] = coerce(name, raw, f"{cfg_path} [server] {key}")
    values.update(_env_values(environ))
    for name, raw in (flags or {}).items():
        if raw is not None:
            values[name] = coerce(name, raw, f"--{name.replace('_', '-')}")
    return Settings(**values)
