"""The area's central identity: its ``areas`` row (found by real path) and its tags."""

from __future__ import annotations

import getpass
import hashlib
import os
from typing import Any

from backend.area import Area
from backend.central import clean
from backend.config import read_megatest_section
from backend.errors import CentralError


def area_name(area: Area) -> str:
    """Megatest's: ``[setup] area-name``, else the testsuite name, else the directory."""
    setup = read_megatest_section(area.config_path, "setup")
    return (setup.get("area-name") or setup.get("testsuite")
            or os.environ.get("MT_TESTSUITE_NAME") or area.root.name or "area")


def register(conn: Any, area: Area) -> tuple[int, str]:
    """This area's central (id, name), registering it on its first pass."""
    path = str(area.root)
    row = conn.execute("SELECT id, area_name FROM areas WHERE area_path = %s", (path,)).fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
    base = clean.text(area_name(area)) or "area"
    user = getpass.getuser()
    digest = hashlib.md5(path.encode()).hexdigest()
    # Megatest's fallbacks (<user>_<name>, then 4 hex of md5(path) before
    # it), then the full digest, which cannot collide with another path.
    for candidate in (base, f"{user}_{base}", f"{digest[:4]}{user}_{base}", f"{digest}_{base}"):
        got = conn.execute(
            "INSERT INTO areas (area_name, area_path) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING id",
            (candidate, path),
        ).fetchone()
        if got is not None:
            return int(got[0]), candidate
    raise CentralError(f"cannot register area {path}: every candidate name is taken")


def add_tags(conn: Any, area_id: int, area_tag: str) -> None:
    """Tags are only ever added; an untagged area gets Megatest's default ``local``."""
    tags = [t.strip() for t in area_tag.split(",") if t.strip()]
    if not tags:
        has = conn.execute("SELECT 1 FROM area_tags WHERE area_id = %s LIMIT 1", (area_id,)).fetchone()
        tags = [] if has else ["local"]
    for tag in tags:
        conn.execute("INSERT INTO tags (tag_name) VALUES (%s) ON CONFLICT DO NOTHING", (clean.text(tag),))
        conn.execute(
            "INSERT INTO area_tags (tag_id, area_id) SELECT id, %s FROM tags WHERE tag_name = %s "
            "ON CONFLICT DO NOTHING", (area_id, clean.text(tag)))
