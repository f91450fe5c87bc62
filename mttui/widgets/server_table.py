"""The server table: rows keyed by registration file name, updated in place.

``apply`` adds new rows, updates only the cells that changed, removes rows that
are gone, then sorts once and puts the cursor back on the server it was on.
It never calls ``clear()`` (that would lose the cursor and the scroll offset).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from mttui.model import COLUMN_KEYS, COLUMNS, STATE_COLOURS, Row

STATE_COL = COLUMN_KEYS.index("state")


def state_text(row: Row) -> Text:
    colour = STATE_COLOURS.get(row.state, "white")
    if row.remote:
        return Text.assemble(("REMOTE ", "bold blue"), (row.state, colour))
    return Text(row.state, style=colour)


class ServerTable(DataTable[str | Text]):
    """One row per registration; ``cursor_key`` is the highlighted file name."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._cells: dict[str, tuple[str, ...]] = {}
        self._order: list[str] = []
        self.sort_column = "server"
        self.sort_reverse = False

    def on_mount(self) -> None:
        for key, label, width, _numeric in COLUMNS:
            self.add_column(label, key=key, width=width)
        self._label_headers()

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
        for key, label, _width, _numeric in COLUMNS:
            col = self.columns.get(ColumnKey(key))
            if col is not None:
                col.label = Text(label + (arrow if key == self.sort_column else ""))
        self.refresh()

    def apply(self, rows: list[Row]) -> None:
        """Make the table show ``rows`` (already filtered and sorted), in place."""
        keep = self.cursor_key
        old_index = self.cursor_row
        wanted = {r.key: r for r in rows}
        with self.app.batch_update():
            for key in [k for k in self._cells if k not in wanted]:
                self.remove_row(key)
                del self._cells[key]
            for row in rows:
                old = self._cells.get(row.key)
                if old is None:
                    self.add_row(*self._render(row), key=row.key)
                elif old != row.cells:
                    for i, (a, b) in enumerate(zip(old, row.cells, strict=True)):
                        if a != b:
                            value = state_text(row) if i == STATE_COL else Text(b)
                            self.update_cell(row.key, COLUMN_KEYS[i], value)
                self._cells[row.key] = row.cells
            order = [r.key for r in rows]
            if order != self._order:
                # The model sorted already; server, pid and db spell the row key.
                position = {k: i for i, k in enumerate(order)}
                self.sort(
                    "server", "pid", "db", key=lambda c: position[f"{c[0]}-{c[1]}:{c[2]}"]
                )
                self._order = order
            self._restore_cursor(keep, old_index)

    def _restore_cursor(self, keep: str | None, old_index: int) -> None:
        if not self._order:
            return
        if keep is not None and keep in self._cells:
            index = self._order.index(keep)
        else:  # the server left: stay at the same position
            index = min(max(old_index, 0), len(self._order) - 1)
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)

    def _render(self, row: Row) -> list[str | Text]:
        # Text, not str: DataTable parses every str cell as markup on each render,
        # and any update_cell invalidates every visible cell (its cache key holds
        # a table-wide update count), so this is paid on every refresh.
        cells: list[str | Text] = [Text(c) for c in row.cells]
        cells[STATE_COL] = state_text(row)
        return cells
