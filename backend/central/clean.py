"""sqlite values to values PostgreSQL accepts, the same rules on insert and update.

sqlite stores anything in any column; PostgreSQL refuses a string in a numeric
column, a NUL in text, an integer beyond BIGINT. Megatest cleaned data values
on insert only (P5, P6) and matched NULL key parts with ``=`` (P7). Here every
value goes through one of these functions, so a row the area holds is a row
the central schema accepts: NULL key parts become ``''``, NULL values stay NULL
(absent is not zero), a comparator in ``tol`` goes to ``tol_text``.
"""

from __future__ import annotations

import math
from typing import Any

BIGINT_MAX = 2**63 - 1


def text(v: Any, default: str = "") -> str:
    """A key part or label: NULL -> ``default``; NUL bytes dropped (PostgreSQL text forbids them)."""
    if v is None:
        return default
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return str(v).replace("\x00", "")


def opt_text(v: Any) -> str | None:
    return None if v is None else text(v)


def real(v: Any) -> float | None:
    """A number, or NULL for NULL and for anything that is not a number."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def integer(v: Any, default: int) -> int:
    """An integer column: numbers rounded, anything else ``default``."""
    f = real(v)
    if f is None or not math.isfinite(f):
        return default
    return max(-BIGINT_MAX, min(BIGINT_MAX, int(f)))


def int32(v: Any, default: int) -> int:
    return max(-(2**31), min(2**31 - 1, integer(v, default)))


def tol(v: Any) -> tuple[float | None, str | None]:
    """(numeric tol, comparator text): ``>=`` is a rule, not a number (P6)."""
    f = real(v)
    if f is not None:
        return f, None
    s = opt_text(v)
    return None, (s if s else None)


def target(keyvals: list[Any]) -> str:
    """Megatest's target: key values joined by ``/``, NULL as ``''``."""
    return "/".join(text(v) for v in keyvals)
