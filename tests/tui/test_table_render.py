"""ServerTable's fast cell rendering gives exactly DataTable's own output.

ServerTable._render_cell builds the segments of simple cells itself instead of
rendering them through rich, caches them by content, and works out the row
styles once per frame (see the comments in mttui/widgets/server_table.py);
these tests compare the cells, segment by segment and style by style (meta
included), with ``DataTable._render_cell`` called explicitly, and the screen
lines with those of DataTable alone.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.strip import Strip
from textual.widgets import DataTable, Input

from backend import registry
from mttui.model import Row, make_row
from mttui.widgets.server_table import ServerTable
from tests.tui.fakes import FROZEN, ok

pytestmark = pytest.mark.timeout(60)


def entry(reg: registry.Registration, mtime: float) -> registry.Entry:
    return registry.Entry(Path("/area/.servinfo") / reg.name, reg, mtime, 0)


def reg(port: int, pid: int, db: str = "main.db", host: str = "127.0.0.1",
        start: float = FROZEN - 300) -> registry.Registration:
    return registry.Registration(host, port, start, f"{port:04x}{pid:08x}" * 2, pid, db, {})


def demo_rows() -> list[Row]:
    rows = [
        make_row(entry(reg(40101, 7101, start=FROZEN - 3700), FROZEN - 2), ok("", 4, 0.8),
                 FROZEN, 60.0),
        make_row(entry(reg(40102, 7102, "1.db"), FROZEN - 1), ok("", 0, 0.6, "starting"),
                 FROZEN, 60.0),
        make_row(entry(reg(40103, 7103, "2.db"), FROZEN - 4), None, FROZEN, 60.0, gone=True),
        make_row(entry(reg(40104, 7104, "3.db", start=FROZEN - 9000), FROZEN - 4000), None,
                 FROZEN, 60.0),
        # REMOTE: the state cell has spans (slow path)
        make_row(entry(reg(40105, 7105, "1.db", host="10.0.0.7"), FROZEN - 2), ok("", 2, 3.2),
                 FROZEN, 60.0, remote=True),
        # the server cell is wider than its column (slow path: rich crops it)
        make_row(entry(reg(40106, 7106, "4.db", host="a-very-long-host-name.example.org"),
                       FROZEN - 2), ok("", 1, 12.5), FROZEN, 60.0),
        make_row(entry(reg(40107, 7107, "5.db"), FROZEN - 30), ok("intruder-id"), FROZEN, 60.0),
    ]
    rows += [
        make_row(entry(reg(40200 + i, 8200 + i, f"{i}.db"), FROZEN - i), ok("", i, 0.1 * i),
                 FROZEN, 60.0)
        for i in range(6, 20)
    ]
    return rows


class TableApp(App[None]):
    CSS = "ServerTable { height: 14; }"

    def compose(self) -> ComposeResult:
        yield ServerTable()
        yield Input()


async def loaded(pilot: Any) -> ServerTable:
    table: ServerTable = pilot.app.query_one(ServerTable)
    table.apply(demo_rows())
    # Cells that only tests make: each must take the slow path or render equally.
    key = table.keys[-1]
    table.update_cell(key, "db", Text("日本.db"))  # wide characters
    table.update_cell(key, "pid", Text("ab\tc"))  # a tab
    table.update_cell(key, "threads", Text(""))  # empty
    table.update_cell(key, "age", Text("", style="red"))  # empty with a style
    table.update_cell(key, "touched", Text("7s", justify="right"))
    table.update_cell(key, "ping", "[b]1.0[/b]")  # str with markup
    key2 = table.keys[-2]
    table.update_cell(key2, "ping", Text("12345678"))  # exactly fills its width
    table.update_cell(key2, "sid", Text("x", style="bold on blue"))  # own background
    table.update_cell(key2, "age", Text(" 3s ", style="italic"))  # edge spaces
    table.focus()
    table.move_cursor(row=2, animate=False)
    await pilot.pause()
    return table


def flat(lines: list[list[Segment]]) -> list[tuple[Any, ...]]:
    """Segments with everything that counts: text, style (hash: colours, attributes,
    link, meta), the meta itself, control."""
    return [
        (seg.text, seg.style, seg.style.meta if seg.style else None, seg.control)
        for line in lines
        for seg in line
    ]


def compare_all_cells(table: ServerTable) -> int:
    """Every body cell, every cursor/hover combination: fast == DataTable. Returns
    how many renders took the fast path."""
    fast_count = 0
    widths = [column.get_render_width(table) for column in table.ordered_columns]
    for row_index in range(table.row_count):
        base = table._get_row_style(row_index, table.rich_style)  # zebra stripes
        for column_index, width in enumerate(widths):
            for cursor, hover in itertools.product((False, True), repeat=2):
                args = (row_index, column_index, base, width, cursor, hover)
                expected = DataTable._render_cell(table, *args)
                fast = table._fast_render_cell(*args)
                if fast is not None:
                    fast_count += 1
                    assert flat(fast) == flat(expected), (args, fast, expected)
                assert flat(table._render_cell(*args)) == flat(expected), args
    return fast_count


async def test_fast_cells_equal_datatable_cells() -> None:
    app = TableApp()
    async with app.run_test(size=(130, 30)) as pilot:
        table = await loaded(pilot)
        rows, columns = table.row_count, len(table.ordered_columns)  # Area: not with one area
        # DataTable's path: the REMOTE state cell (spans), the too-long server
        # cell, and of the test cells the wide db, the tab, the right-justified
        # Text and the markup str (the empty styled Text is fast: DataTable
        # shows an empty Text unstyled)
        slow_cells = 1 + 1 + 4
        for show_hover in (False, True):
            table._show_hover_cursor = show_hover
            assert compare_all_cells(table) == 4 * (rows * columns - slow_cells)
        # again, now served from ServerTable's cache of fast cells
        cached = len(table._fast_cells)
        assert cached > rows * columns
        assert compare_all_cells(table) == 4 * (rows * columns - slow_cells)
        assert len(table._fast_cells) == cached
        # unfocused: other cursor colours
        app.query_one(Input).focus()
        await pilot.pause()
        assert not table.has_focus
        table._show_hover_cursor = True
        assert compare_all_cells(table) == 4 * (rows * columns - slow_cells)
        # the cursor priorities decide the post style (plain attributes, not
        # reactive: DataTable's caches must be cleared by hand after a change)
        for fg, bg in itertools.product(("css", "renderable"), repeat=2):
            table.cursor_foreground_priority = fg  # type: ignore[assignment]
            table.cursor_background_priority = bg  # type: ignore[assignment]
            table._clear_caches()
            assert len(table._fast_cells) == 0
            assert compare_all_cells(table) == 4 * (rows * columns - slow_cells)
        # another theme: other colours, the cached cells must not be reused
        app.theme = "textual-light"
        await pilot.pause()
        assert compare_all_cells(table) == 4 * (rows * columns - slow_cells)


def segments(strip: Strip) -> list[tuple[Any, ...]]:
    return [(s.text, s.style, s.style.meta if s.style else None) for s in strip]


def screen(table: ServerTable, *, whole: bool) -> list[list[tuple[Any, ...]]]:
    """The table's lines, from scratch: one render_lines call (a frame, as the
    compositor does it) or render_line per line."""
    table._clear_caches()
    table._styles_cache.clear()
    if whole:
        return [segments(strip) for strip in table.render_lines(table.size.region)]
    table._pseudo_class_state = table.get_pseudo_class_state()
    return [segments(table.render_line(y)) for y in range(table.size.height)]


def assert_same_screen(table: ServerTable) -> None:
    """The table's lines equal DataTable's own, and both shortcuts were taken."""
    fast_cells = memo_rows = 0
    fast = table._fast_render_cell
    row_style = table._get_row_style

    def counting_fast(*args: Any) -> Any:
        nonlocal fast_cells
        result = fast(*args)
        fast_cells += result is not None
        return result

    def counting_row_style(*args: Any) -> Any:
        nonlocal memo_rows
        memo_rows += table._frame_styles is not None
        return row_style(*args)

    table._fast_render_cell = counting_fast  # type: ignore[method-assign,assignment]
    table._get_row_style = counting_row_style  # type: ignore[method-assign,assignment]
    frame = screen(table, whole=True)
    assert fast_cells > 20 and memo_rows > 3
    by_line = screen(table, whole=False)
    # DataTable alone: no fast cells, no per-frame memo
    table._fast_render_cell = lambda *args: None  # type: ignore[method-assign,assignment]
    table.render_lines = lambda crop: DataTable.render_lines(table, crop)  # type: ignore[method-assign]
    plain_frame = screen(table, whole=True)
    plain_by_line = screen(table, whole=False)
    del table._fast_render_cell, table._get_row_style, table.render_lines
    assert ["".join(s[0] for s in line) for line in frame] == [
        "".join(s[0] for s in line) for line in plain_frame
    ]
    assert frame == plain_frame
    assert by_line == plain_by_line


async def test_screen_lines_equal_datatable_lines() -> None:
    app = TableApp()
    async with app.run_test(size=(130, 30)) as pilot:
        table = await loaded(pilot)
        table._show_hover_cursor = True
        table.hover_coordinate = Coordinate(5, 3)
        await pilot.pause()
        for scroll_y in (0, 3):
            table.scroll_to(y=scroll_y, animate=False, immediate=True)
            await pilot.pause()
            assert table.scroll_offset.y == scroll_y
            assert_same_screen(table)
        # a cell cursor: DataTable fades the row's end with the background colours
        table.cursor_type = "cell"
        await pilot.pause()
        assert_same_screen(table)
        # fewer rows than lines: the blank lines use the table's own style
        table.cursor_type = "row"
        table.apply(demo_rows()[:4])
        await pilot.pause()
        assert table.row_count == 4
        assert_same_screen(table)
