"""The row filter (``/``, ``--filter``): regex, ``!`` inverts, ``state:``, hide dead."""

from __future__ import annotations

from pathlib import Path

from backend import registry
from backend.client import status
from mttui import filtering
from mttui.model import Row, make_row
from tests.tui.fakes import FROZEN, fake_reg, ok


def row(port: int, db: str, *, answers: bool = True, stale: bool = False) -> Row:
    reg = fake_reg(port, 100 + port, db)
    entry = registry.Entry(Path(f"/x/127.0.0.1:{port}:{db}"), reg,
                           FROZEN - (1000 if stale else 1), 1)
    ping = ok(reg.server_id) if answers else None
    return make_row(entry, ping, FROZEN, 360.0, gone=not answers and not stale)


ROWS = [row(7001, "main.db"), row(7002, "1.db"), row(7003, "2.db", answers=False),
        row(7004, "3.db", answers=False, stale=True)]


def keys(text: str, hide: bool = False) -> list[int]:
    return [r.entry.registration.port
            for r in filtering.apply(ROWS, filtering.parse(text), hide)]


def test_states_of_the_fixture() -> None:
    assert [r.state for r in ROWS] == [status.RUNNING, status.RUNNING, status.DEAD,
                                       status.STALE]


def test_regex_and_case() -> None:
    assert keys("") == [7001, 7002, 7003, 7004]
    assert keys(r"700[12]") == [7001, 7002]
    assert keys("MAIN") == [7001]
    assert keys(r"^127\.0\.0\.1:7004") == [7004]


def test_bang_inverts() -> None:
    assert keys("!main") == [7002, 7003, 7004]
    assert filtering.toggle_invert("main") == "!main"
    assert filtering.toggle_invert("!main") == "main"
    assert filtering.toggle_invert("state:dead x") == "state:dead !x"
    assert filtering.toggle_invert("state:dead") == "state:dead"  # nothing to invert


def test_state_filter() -> None:
    assert keys("state:dead") == [7003]
    assert keys("state:dead,stale") == [7003, 7004]
    assert keys("!state:running") == [7003, 7004]
    assert keys("state:running 1.db") == [7002]
    assert keys("state:nosuch") == []


def test_invalid_regex_is_searched_as_text_with_a_reason() -> None:
    f = filtering.parse("[unclosed")
    assert f.error is not None and "not a regular expression" in f.error
    assert filtering.apply(ROWS, f) == []  # no row holds the text: none shown, no raise
    assert filtering.parse("a.b").error is None


def test_hide_dead_and_marks() -> None:
    assert keys("", hide=True) == [7001, 7002]
    shown = filtering.show_marks(ROWS, {ROWS[1].key})
    assert shown[1].cells[0] == filtering.MARK + ROWS[1].cells[0]
    assert shown[0].cells == ROWS[0].cells
