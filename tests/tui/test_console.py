"""The console items: columns that fit the terminal, traffic figures, the by-db
view, graphs and the events pane (unit tests of the model, pilot tests of the app)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from backend import events, registry
from backend.area import Area
from backend.client.statsfetch import Sample
from backend.stats import ServerStats
from mttui import model, traffic
from mttui.__main__ import make_app
from mttui.widgets.events_pane import EventsPane
from mttui.widgets.graphs import GraphBand, ServerGraphs, sparkline
from tests.tui.fakes import FROZEN, FakePinger, FakeStats, fake_probe, fake_reg, ok, publish, until, wire_stats

pytestmark = pytest.mark.timeout(60)


def entry(reg: registry.Registration) -> registry.Entry:
    return registry.Entry(Path("/a/.servinfo") / reg.name, reg, FROZEN, 0)


def stats(reg: registry.Registration, now: float, requests: int, errors: int = 0,
          latency: float = 0.002, started: float | None = None) -> ServerStats:
    wire = wire_stats(reg, now, requests, errors, latency)
    if started is not None:
        wire["started"] = started
    return ServerStats.from_wire(wire)


def rows_for(regs: list[registry.Registration]) -> list[model.Row]:
    return [model.make_row(entry(r), ok(r.server_id, 3, 0.5), FROZEN, 360) for r in regs]


# -- columns ---------------------------------------------------------------------------


def test_columns_fit_80_and_drop_in_order() -> None:
    rows = rows_for([fake_reg(40100 + i, 7100 + i, f"{i}.db") for i in range(5)])
    wide = [k for k, _ in model.fit_columns(rows, 1000)]
    assert wide == list(model.DISPLAY_ORDER)
    dropped: list[str] = []
    for width in range(200, 20, -1):
        shown = [k for k, _ in model.fit_columns(rows, width)]
        dropped += [k for k in wide if k not in shown and k not in dropped]
        layout = model.fit_columns(rows, width)
        for key in ("state", "threads", "age", "touched"):  # the design card's columns stay
            assert key in shown, (width, key)
        if width >= 78:
            assert sum(w + 2 for _, w in layout) <= width, width
    assert dropped[:6] == ["sid", "ping", "pid", "err", "p99", "req"]
    at80 = [k for k, _ in model.fit_columns(rows, 78)]
    assert {"server", "db", "state", "threads", "req", "age", "touched"} <= set(at80)


def test_columns_leave_room_for_the_sort_arrow_and_size_to_content() -> None:
    rows = rows_for([fake_reg(40100, 7100)])
    layout = dict(model.fit_columns(rows, 1000))
    for key, width in layout.items():
        assert width >= len(model.COLUMN_BY_KEY[key].label) + model.ARROW, key
    assert layout["state"] == len("RUNNING")  # not 22: as wide as the widest state shown
    assert layout["server"] == len("127.0.0.1:40100")


def test_without_traffic_no_traffic_columns() -> None:
    rows = rows_for([fake_reg(40100, 7100)])
    keys = [k for k, _ in model.fit_columns(rows, 1000, traffic=False)]
    assert not {"req", "p99", "err"} & set(keys)


# -- traffic ---------------------------------------------------------------------------


def test_rates_p99_and_errors_from_two_samples() -> None:
    a, b = fake_reg(40100, 7100), fake_reg(40101, 7101, "1.db")
    book = traffic.TrafficBook()
    book.apply(traffic.StatsRound({a.name: stats(a, FROZEN, 100, 1),
                                   b.name: stats(b, FROZEN, 10)}, {}, FROZEN), [a.name, b.name])
    assert book.get(a.name) == traffic.Traffic(None, None, 1)  # one sample: no rate yet
    book.apply(traffic.StatsRound({a.name: stats(a, FROZEN + 5, 150, 3, latency=0.004),
                                   b.name: stats(b, FROZEN + 5, 60)}, {}, FROZEN + 5),
               [a.name, b.name])
    fig = book.get(a.name)
    assert fig.req_s == pytest.approx((153 - 101) / 5)  # answered requests, errors included
    assert fig.errors == 3
    assert fig.p99_ms is not None and 2.5 < fig.p99_ms <= 5.0  # the 4 ms bucket
    assert book.summary([a.name, b.name]).req_s == pytest.approx(10.4 + 10.0)
    assert book.area_req.values() == [0.0, pytest.approx(20.4)]
    assert book.area_err.values() == [0.0, 2.0]
    assert fig.cells() == ("10.4", f"{fig.p99_ms:.1f}", "3")


def test_a_restarted_server_has_no_rate_until_its_second_sample() -> None:
    a = fake_reg(40100, 7100)
    book = traffic.TrafficBook()
    book.apply(traffic.StatsRound({a.name: stats(a, FROZEN, 500)}, {}, FROZEN), [a.name])
    book.apply(traffic.StatsRound({a.name: stats(a, FROZEN + 5, 20, started=FROZEN + 1)}, {},
                                  FROZEN + 5), [a.name])
    assert book.get(a.name).req_s is None


def test_gone_servers_leave_the_book() -> None:
    a = fake_reg(40100, 7100)
    book = traffic.TrafficBook()
    book.apply(traffic.StatsRound({a.name: stats(a, FROZEN, 5)}, {}, FROZEN), [a.name])
    book.apply(traffic.StatsRound({a.name: stats(a, FROZEN + 5, 9)}, {}, FROZEN + 5), [])
    assert book.current == {} and book.server_req == {} and book.get(a.name).req_s is None


def test_fetch_reports_failures_and_never_raises() -> None:
    a, b = fake_reg(40100, 7100), fake_reg(40101, 7101)

    def fetcher(e: registry.Entry, timeout: float) -> Sample:
        if e.registration.port == 40100:
            return Sample(e, stats(a, FROZEN, 1))
        return Sample(e, None, "connection refused")

    result = traffic.fetch([entry(a), entry(b)], lambda: fetcher, 1.0, lambda: FROZEN)
    assert set(result.stats) == {a.name} and result.errors == {b.name: "connection refused"}

    def no_key() -> traffic.Fetcher:
        raise OSError("key file unreadable")

    bad = traffic.fetch([entry(a)], no_key, 1.0, lambda: FROZEN)
    assert bad.stats == {} and bad.problem is not None and "key file unreadable" in bad.problem


def test_group_by_db_sums() -> None:
    regs = [fake_reg(40100, 7100), fake_reg(40101, 7101), fake_reg(40102, 7102, "1.db")]
    book = traffic.TrafficBook()
    for n, now in enumerate((FROZEN, FROZEN + 10)):
        book.apply(traffic.StatsRound({r.name: stats(r, now, 100 * n * (i + 1), n)
                                       for i, r in enumerate(regs)}, {}, now),
                   [r.name for r in regs])
    rows = model.build_rows(model.Snapshot(tuple(entry(r) for r in regs)),
                            {r.name: ok(r.server_id, 2) for r in regs}, {}, FROZEN, 360,
                            book.per_server)
    groups = {r.key: r for r in model.group_by_db(rows, book)}
    assert set(groups) == {"db:main.db", "db:1.db"}
    main = groups["db:main.db"].cells
    idx = model.COLUMN_KEYS.index
    assert main[idx("server")] == "2 servers" and main[idx("threads")] == "4"
    assert main[idx("req")] == "30.2"  # (101 + 201 answered) / 10 s
    assert main[idx("err")] == "2"
    assert groups["db:1.db"].cells[idx("req")] == "30.1"


def test_sparkline() -> None:
    assert sparkline([], 4) == "    "
    assert sparkline([0, 0], 2) == "▁▁"
    assert sparkline([1, 2, 4, 8], 4) == "▂▃▅█"
    assert sparkline([1, 2, 4, 8], 2) == "▅█"  # the last values, scaled to their own top


# -- the app -----------------------------------------------------------------------------


def demo(area: Path, fetcher: FakeStats | None = None) -> Any:
    regs = [fake_reg(40100 + i, 7100 + i, f"{i % 3}.db" if i % 3 else "main.db")
            for i in range(6)]
    answers = {}
    for r in regs:
        publish(area, r, FROZEN - 1)
        answers[r.port] = ok(r.server_id, 1, 0.4)
    rates = {r.port: (10.0 * (i + 1), 0, 0.002) for i, r in enumerate(regs)}
    app = make_app(area, pinger=FakePinger(answers), clock=lambda: FROZEN, probe=fake_probe(),
                   interval=3600, stats_fetcher=fetcher or FakeStats(rates))
    app.stats_every = 3600  # the tests poll when they mean to
    return app, regs


async def ready(pilot: Any, rounds: int = 2) -> None:
    app = pilot.app
    await until(pilot, lambda: app.ping_rounds >= 1 and app.table.row_count == 6)
    for n in range(app.book.rounds + 1, rounds + 1):
        app.stats_round()
        await until(pilot, lambda n=n: app.book.rounds >= n, what=f"stats round {n}")
    app.dirty = True
    app.flush()
    await pilot.pause()


async def test_resize_drops_and_restores_columns_keeping_the_cursor(quiet_area: Path) -> None:
    app, regs = demo(quiet_area)
    async with app.run_test(size=(160, 30)) as pilot:
        await ready(pilot)
        table = app.table
        assert table.shown_columns == list(model.DISPLAY_ORDER)
        await pilot.press("down", "down")
        key = table.cursor_key
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: "sid" not in table.shown_columns, what="narrow layout")
        assert {"state", "threads", "age", "touched", "req"} <= set(table.shown_columns)
        assert not {"sid", "ping", "pid"} & set(table.shown_columns)
        total = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert total <= 80
        assert table.cursor_key == key
        await pilot.resize_terminal(160, 30)
        await until(pilot, lambda: "sid" in table.shown_columns, what="wide layout")
        assert table.cursor_key == key


async def test_sort_arrow_on_a_narrow_column(quiet_area: Path) -> None:
    app, _ = demo(quiet_area)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        for digit, key in (("7", "touched"), ("5", "threads")):
            await pilot.press(digit)
            column = app.table.columns[next(c for c in app.table.columns if c.value == key)]
            label = column.label.plain
            assert label.endswith(" ▲"), label
            assert column.get_render_width(app.table) - 2 >= len(label)


async def test_traffic_columns_show_rates_and_the_toggle_stops_polling(quiet_area: Path) -> None:
    fetcher = FakeStats({40100 + i: (10.0 * (i + 1), 0, 0.002) for i in range(6)},
                        step=5.0)
    app, regs = demo(quiet_area, fetcher)
    async with app.run_test(size=(160, 30)) as pilot:
        await ready(pilot, rounds=2)
        idx = model.COLUMN_KEYS.index("req")
        assert all(app.rows[r.name].cells[idx] != "-" for r in regs)
        graphs = app.query_one(GraphBand)._shown
        assert graphs.startswith("req/s ") and " up " in graphs and " err " in graphs
        await pilot.press("t")
        assert not app.traffic_on and "req" not in app.table.shown_columns
        made = fetcher.made
        app.stats_round()
        await pilot.pause(0.2)
        assert fetcher.made == made  # no polling while the columns are off
        assert "req/s" not in app.query_one(GraphBand)._shown
        await pilot.press("t")
        await until(pilot, lambda: fetcher.made > made, what="polling again")
        await until(pilot, lambda: "req" in app.table.shown_columns)


async def test_by_db_view_toggles(quiet_area: Path) -> None:
    app, regs = demo(quiet_area)
    async with app.run_test(size=(160, 30)) as pilot:
        await ready(pilot)
        await pilot.press("down")
        server_key = app.table.cursor_key
        await pilot.press("g")
        assert sorted(app.table.keys) == ["db:1.db", "db:2.db", "db:main.db"]
        assert app.selected_entry() is None  # actions never act on a whole db by accident
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is app.screen_stack[0]  # no detail screen for a db row
        await pilot.press("g")
        assert len(app.table.keys) == 6 and server_key in app.table.keys


async def test_events_pane_history_and_live(quiet_area: Path) -> None:
    area = Area(quiet_area)
    events.record_event(area, events.STARTED, dbfname="main.db", port=40100)
    app, _ = demo(quiet_area)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, rounds=0)
        pane = app.query_one(EventsPane)
        assert not pane.display
        await until(pilot, lambda: pane.count == 1, what="history")
        await pilot.press("e")
        assert pane.display
        events.record_event(area, events.CRASHED, dbfname="1.db", pid=7101, code=-9)
        await until(pilot, lambda: pane.count == 2, limit=5, what="live event")
        assert "crashed" in pane.lines()[0] and "started" in pane.lines()[1]  # newest first
        await pilot.press("e")
        assert not pane.display


async def test_detail_graphs_follow_the_server(quiet_area: Path) -> None:
    app, regs = demo(quiet_area)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, rounds=3)
        await pilot.press("enter")
        graphs = await until(pilot, lambda: next(iter(app.screen.query(ServerGraphs)), None),
                             what="detail graphs")
        key = graphs.key
        await until(pilot, lambda: graphs._shown.startswith("req/s"))
        lines = graphs._shown.splitlines()
        assert [line.split()[0] for line in lines] == ["req/s", "p99ms", "load"]
        assert lines[0].split()[-1] == app.book.get(key).cells()[0]
        assert len(app.book.server_req[key].values()) == 3


async def test_real_servers_counters_reach_the_table(area: Path) -> None:
    from tests.tui.test_pilot_live import start_server

    name = await start_server(area)
    app = make_app(area, interval=0.5)
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: name in app.rows, what="row")
        app.stats_round()
        await until(pilot, lambda: name in app.book.current, limit=15, what="stats")
        first = app.book.current[name]
        assert first.server_id == app.rows[name].entry.registration.server_id
        await asyncio.sleep(0.2)
        app.stats_round()
        await until(pilot, lambda: app.book.rounds >= 2 and app.book.get(name).req_s is not None,
                    limit=15, what="a rate")
        app.dirty = True
        app.flush()
        assert app.rows[name].cells[model.COLUMN_KEYS.index("req")] != "-"


async def test_an_action_failure_is_also_an_event(quiet_area: Path) -> None:
    from mttui.messages import ActionFailed

    app, _ = demo(quiet_area)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, rounds=0)
        pane = app.query_one(EventsPane)
        app.post_message(ActionFailed("start", "cannot write the area: Operation not permitted"))
        await until(pilot, lambda: pane.count >= 1, what="note")
        assert "start failed: cannot write the area" in pane.lines()[0]
        assert "monitor" in pane.lines()[0]
