"""docs/api.md documents every command of the command table, each with a
``backend call`` example (issue 17 item 5)."""

from __future__ import annotations

import re
from pathlib import Path

from backend.db.api import COMMANDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def sections() -> list[tuple[str, str]]:
    """(heading line, body up to the next heading) for every markdown heading."""
    out: list[tuple[str, str]] = []
    heading, body = "", []
    for line in DOC.read_text().splitlines():
        if line.startswith("#"):
            out.append((heading, "\n".join(body)))
            heading, body = line, []
        else:
            body.append(line)
    out.append((heading, "\n".join(body)))
    return out


def test_every_command_has_a_section_with_an_example() -> None:
    documented: dict[str, str] = {}
    for heading, body in sections():
        for name in re.findall(r"`([^`]+)`", heading):
            documented.setdefault(name, body)
    missing = sorted(n for n in COMMANDS if n not in documented)
    assert not missing, f"commands without a docs/api.md heading: {missing}"
    no_example = sorted(n for n in COMMANDS if "backend call" not in documented[n])
    assert not no_example, f"commands without a backend call example: {no_example}"
