"""The server table: rows keyed by registration file name, updated in place.

``apply`` adds new rows, updates only the cells that changed, removes rows that
are gone, then sorts once and puts the cursor back on the server it was on.
It never calls ``clear()`` (that would lose the cursor and the scroll offset).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.color import Color
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from mttui.model import COLUMN_BY_KEY, COLUMN_KEYS, STATE_COLOURS, Row, fit_columns

STATE_COL = COLUMN_KEYS.index("state")
T = TypeVar("T")


def state_text(row: Row) -> Text:
    colour = STATE_COLOURS.get(row.state, "white")
    if row.remote:
        return Text.assemble(("REMOTE ", "bold blue"), (row.state, colour))
    return Text(row.state, style=colour)


class ServerTable(DataTable[str | Text]):
    """One row per registration; ``cursor_key`` is the highlighted file name.

    Which columns show, and how wide, is decided per refresh by
    ``model.fit_columns`` from the content and the table's width; ``apply`` takes
    that layout. Widths change in place; a change of the column *set* (a resize
    across a threshold, the traffic toggle) rebuilds the table once and puts the
    cursor back on its row.
    """

    _frame_styles: dict[str, object] | None = None  # see render_lines

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        # before DataTable.__init__, whose reactives already call _clear_caches
        self._fast_cells: LRUCache[tuple[object, ...], list[list[Segment]]] = LRUCache(2048)
        super().__init__(cursor_type="row", zebra_stripes=True, id=id, classes=classes)
        self._cells: dict[str, tuple[str, ...]] = {}
        self._order: list[str] = []
        self._layout: list[tuple[str, int]] = []
        self.sort_column = "server"
        self.sort_reverse = False

    @property
    def shown_columns(self) -> list[str]:
        """Keys of the columns on screen, left to right."""
        return [k for k, _w in self._layout]

    @property
    def cursor_key(self) -> str | None:
        if not self._order or not self.is_valid_row_index(self.cursor_row):
            return None
        return self._order[self.cursor_row]

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    def set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._label_headers()

    def _label_headers(self) -> None:
        arrow = " ▼" if self.sort_reverse else " ▲"
        for key, _width in self._layout:
            col = self.columns.get(ColumnKey(key))
            if col is not None:
                label = COLUMN_BY_KEY[key].label
                col.label = Text(label + (arrow if key == self.sort_column else ""))
        self.refresh()

    def _set_layout(self, layout: list[tuple[str, int]]) -> str | None:
        """Show ``layout``; returns the cursor's row key if the table was rebuilt."""
        if [k for k, _ in layout] != self.shown_columns:
            keep = self.cursor_key
            self.clear(columns=True)
            self._cells.clear()
            self._order = []
            for key, width in layout:
                self.add_column(COLUMN_BY_KEY[key].label, key=key, width=width)
            self._layout = list(layout)
            self._label_headers()
            return keep
        if layout != self._layout:
            for key, width in layout:
                col = self.columns.get(ColumnKey(key))
                if col is not None and col.width != width:
                    col.width = width
            self._layout = list(layout)
            self._require_update_dimensions = True
            self._clear_caches()
            self.refresh()
        return None

    def apply(self, rows: list[Row], layout: list[tuple[str, int]] | None = None) -> None:
        """Make the table show ``rows`` (already filtered and sorted), in place,
        in ``layout`` (column keys and widths; default: as before, at first every column
        as wide as its content)."""
        kept = self._set_layout(layout or self._layout or fit_columns(rows, 1 << 16))
        keep = kept or self.cursor_key
        old_index = self.cursor_row
        wanted = {r.key: r for r in rows}
        shown = [COLUMN_KEYS.index(k) for k in self.shown_columns]
        with self.app.batch_update():
            for key in [k for k in self._cells if k not in wanted]:
                self.remove_row(key)
                del self._cells[key]
            for row in rows:
                old = self._cells.get(row.key)
                if old is None:
                    self.add_row(*self._row_cells(row, shown), key=row.key)
                elif old != row.cells:
                    for i in shown:
                        if old[i] != row.cells[i]:
                            value = state_text(row) if i == STATE_COL else Text(row.cells[i])
                            self.update_cell(row.key, COLUMN_KEYS[i], value)
                self._cells[row.key] = row.cells
            order = [r.key for r in rows]
            if order != self._order:
                self._reorder(order)
                self._order = order
            self._restore_cursor(keep, old_index)

    def _reorder(self, order: list[str]) -> None:
        """Put the rows in ``order`` (the model sorted them already): what
        DataTable.sort does, by row key, so it needs no particular column shown."""
        position = {k: i for i, k in enumerate(order)}
        self._row_locations = TwoWayDict({rk: position[str(rk.value)] for rk in self._data})
        self._update_count += 1
        self.refresh()

    def _restore_cursor(self, keep: str | None, old_index: int) -> None:
        if not self._order:
            return
        if keep is not None and keep in self._cells:
            index = self._order.index(keep)
        else:  # the server left: stay at the same position
            index = min(max(old_index, 0), len(self._order) - 1)
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)

    def _row_cells(self, row: Row, shown: list[int]) -> list[str | Text]:
        # Not ``_render``: that name is Widget's own (render to a Visual).
        # Text, not str: DataTable parses every str cell as markup on each render,
        # and any update_cell invalidates every visible cell (its cache key holds
        # a table-wide update count), so this is paid on every refresh.
        return [state_text(row) if i == STATE_COL else Text(row.cells[i]) for i in shown]

    # Fast cell rendering. Any update_cell bumps DataTable's table-wide
    # ``_update_count``, which is part of every cell cache key, so each 2 s age /
    # touched update re-renders every visible cell through rich
    # (``console.render_lines(Styled(Padding(...)))``): ~88 % of the monitor's
    # busy main-thread time when idle. For a one-line body cell holding a
    # span-free, single-width Text that fits, the result is known: left
    # padding, the text, a blank fill and right padding, styled as rich would
    # style them. Build those segments directly; anything else goes through
    # DataTable. Relies on private DataTable API (Textual is pinned exactly);
    # tests/tui/test_table_render.py proves the output equals DataTable's own,
    # segment and style.

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        lines = self._fast_render_cell(row_index, column_index, base_style, width, cursor, hover)
        if lines is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        return lines

    def _fast_render_cell(
        self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool, hover: bool,
    ) -> list[list[Segment]] | None:
        """DataTable._render_cell's output for simple cells, or None (then use DataTable's)."""
        if row_index < 0 or column_index < 0:
            return None  # header or row label
        row_key = self._row_locations.get_key(row_index)
        if row_key is None:
            return None
        row = self.rows.get(row_key)
        if row is None or row.height != 1:
            return None
        column_key = self._column_locations.get_key(column_index)
        if column_key is None:
            return None
        value = self._data[row_key].get(column_key)
        if not isinstance(value, Text) or value._spans:
            return None
        plain = value.plain
        padding = self.cell_padding
        inner = width - 2 * padding
        if inner < 1 or len(plain) > inner or padding < 0:
            return None
        if plain and not (plain.isprintable() and (plain.isascii() or cell_len(plain) == len(plain))):
            return None  # control characters, wide or zero-width characters
        if value.justify not in (None, "default") or value.no_wrap is False or value.end not in ("", "\n"):
            return None
        # DataTable shows an empty Text as its own unstyled empty Text.
        text_style = value.style if plain else ""

        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            row_index < self.fixed_rows or column_index < self.fixed_columns,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        # Cached by content (everything the segments depend on), not by the update
        # count: a ping round changes one or two cells per row, not all nine.
        key = (row_index, column_index, width, plain, text_style, base_style, component_style, post_style, padding)
        cached = self._fast_cells.get(key)
        if cached is not None:
            return cached
        # Styled(Padding(cell)): pre_style + segment style + post_style, where
        # padding and fill carry no style of their own and the text carries its
        # Text style (rich renders a span-free Text's style as one span).
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        blank_style = pre_style + post_style if post_style else pre_style
        if text_style:
            own = self.app.console.get_style(text_style, default=Style.null())
            styled = pre_style + own
            body_style = styled + post_style if post_style else styled
        else:
            body_style = blank_style
        line = [Segment(plain, body_style)]
        if inner > len(plain):
            line.append(Segment(" " * (inner - len(plain)), blank_style))
        if padding:
            pad = Segment(" " * padding, blank_style)
            line = [pad, *line, pad]
        self._fast_cells[key] = [line]
        return [line]

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._fast_cells.clear()

    # Per-frame style memo. DataTable asks for the table's rich style, its
    # background colours and the row's zebra style once per rendered line; each
    # walks every ancestor's CSS (~0.1 ms per line together). Nothing can change
    # CSS while one frame renders synchronously, so inside render_lines each is
    # computed once; outside it they behave exactly as in DataTable.

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._frame_styles = None

    def _per_frame(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()``, once per frame inside render_lines; every time outside it."""
        memo = self._frame_styles
        if memo is None:
            return compute()
        if key not in memo:
            memo[key] = compute()
        # Each key is stored by one call site only, whose compute returns T.
        return cast(T, memo[key])

    @property
    def rich_style(self) -> Style:
        return self._per_frame("rich_style", lambda: super(ServerTable, self).rich_style)

    @property
    def background_colors(self) -> tuple[Color, Color]:
        return self._per_frame("background_colors", lambda: super(ServerTable, self).background_colors)

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        if row_index < self.fixed_rows or not self.zebra_stripes:
            return super()._get_row_style(row_index, base_style)  # also the header (-1)
        component = "datatable--odd-row" if row_index % 2 else "datatable--even-row"
        return self._per_frame(component, lambda: self.get_component_styles(component).rich_style)
