"""docs/api.md maps each of api.scm's 95 dispatch names to what answers it."""

from __future__ import annotations

import re
from pathlib import Path

from backend.db.api import COMMANDS
from tests.megatest.test_dispatch_95 import DISPATCH

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def mapping_rows() -> list[tuple[int, str, str]]:
    text = DOC.read_text().split("## Mapping of api.scm's 95 commands", 1)[1]
    return [(int(m[1]), m[2], m[3]) for m in
            re.finditer(r"^\| (\d+) \| (\S+) \| (.+?) \| [^|]+ \|$", text, flags=re.M)]


def test_mapping_lists_the_95_names_in_api_scm_order() -> None:
    rows = mapping_rows()
    assert [n for n, _, _ in rows] == list(range(1, 96))
    names = [name for _, name, _ in rows]
    # The dispatch test sends the same names (kill-server moved last there).
    assert sorted(names) == sorted(n for n, _, _ in DISPATCH)
    for _, name, ours in rows:
        # Every name is a command of ours, or the protocol's ping.
        assert name in COMMANDS or (name == "ping" and "ping" in ours), name
        if "unsupported" in ours:
            assert "`unsupported`" in ours
