"""psycopg 3, imported only here and only when a central command runs.

``backend call`` and the servers never load it; a missing driver is one line
(``pip install 'mtserve[central]'``), and every driver error leaves here as a
``CentralError`` with the password redacted.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from backend.central.settings import redact
from backend.errors import CentralError

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT = 10
INSTALL_HINT = "the PostgreSQL driver is not installed: pip install 'mtserve[central]' (psycopg 3)"


def psycopg_module() -> Any:
    try:
        return importlib.import_module("psycopg")
    except ImportError:
        raise CentralError(INSTALL_HINT) from None


def connect(dest: str, *, timeout: int = CONNECT_TIMEOUT) -> psycopg.Connection[Any]:
    """A new autocommit connection: every transaction is an explicit ``conn.transaction()``."""
    pg = psycopg_module()
    if not dest:
        raise CentralError("no central database given: --to postgresql://..., MTSERVE_SYNC_TO, or [sync] to")
    try:
        conn: psycopg.Connection[Any] = pg.connect(dest, connect_timeout=timeout, autocommit=True)
    except pg.Error as exc:
        raise CentralError(f"cannot connect to {redact(dest)}: {one_line(exc)}") from None
    return conn


def one_line(exc: BaseException) -> str:
    """The first line of a driver error (libpq messages span several lines)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def is_driver_error(exc: BaseException) -> bool:
    try:
        pg = importlib.import_module("psycopg")
    except ImportError:
        return False
    return isinstance(exc, pg.Error)
