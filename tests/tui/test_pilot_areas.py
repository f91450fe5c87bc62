"""Several areas in one monitor (``mttui --area A --area B``): rows of both with
an Area column, per-area watching, and actions that reach the row's own area."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from backend.client import status
from mttui import model
from mttui.__main__ import expand_areas, main, make_app
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.logview import LogScreen
from tests.helpers import kill_area_processes, make_area
from tests.tui.fakes import FakePinger, fake_probe, fake_reg, ok, publish, until
from tests.tui.test_pilot_live import start_server

pytestmark = pytest.mark.timeout(60)
SIZE = (150, 30)


@pytest.fixture
def two_areas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """``proj/alpha`` and ``proj/beta``, each a real area; their servers are reaped."""
    for var in [v for v in os.environ if v.startswith("MTSERVE_")]:
        monkeypatch.delenv(var)
    alpha, beta = make_area(tmp_path / "proj" / "alpha"), make_area(tmp_path / "proj" / "beta")
    for root in (alpha, beta):
        (root / ".servinfo").mkdir()
        (root / "logs").mkdir()
    yield alpha, beta
    kill_area_processes(alpha)
    kill_area_processes(beta)


async def test_rows_of_both_areas_and_changes_in_one(two_areas: tuple[Path, Path]) -> None:
    alpha, beta = two_areas
    reg = fake_reg(41000, 5000)  # the same file name in both areas: keys must still differ
    other = fake_reg(41001, 5001, "1.db")
    publish(alpha, reg)
    publish(beta, reg)
    pinger = FakePinger({41000: ok(reg.server_id), 41001: ok(other.server_id)})
    app = make_app(alpha, also=[beta], pinger=pinger, probe=fake_probe(), interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        a_key, b_key = f"alpha/{reg.name}", f"beta/{reg.name}"
        await until(pilot, lambda: {a_key, b_key} <= set(app.table.keys), what="both rows")
        assert app.table.shown_columns[0] == "area"
        area_col = model.COLUMN_KEYS.index("area")
        assert app.rows[a_key].cells[area_col] == "alpha"
        assert app.rows[b_key].cells[area_col] == "beta"
        await until(pilot, lambda: app.rows[b_key].state == status.RUNNING, what="pinged")
        # A change in beta's .servinfo shows in beta's rows only.
        publish(beta, other)
        await until(pilot, lambda: f"beta/{other.name}" in app.table.keys, limit=2.0,
                    what="beta's new row")
        (beta / ".servinfo" / reg.name).unlink()
        await until(pilot, lambda: b_key not in app.table.keys, limit=2.0, what="beta row gone")
        assert a_key in app.table.keys and f"alpha/{other.name}" not in app.table.keys
        assert str(alpha) in app.label and str(beta) in app.label  # the summary line
        # Narrow: Area is kept while Server and DB go (State, Load, Age, Touched stay).
        await pilot.resize_terminal(60, 30)
        await until(pilot, lambda: "server" not in app.table.shown_columns, what="narrow")
        assert {"area", "state", "threads", "age", "touched"} <= set(app.table.shown_columns)


async def test_one_area_has_no_area_column(two_areas: tuple[Path, Path]) -> None:
    alpha, _beta = two_areas
    reg = fake_reg(41000, 5000)
    publish(alpha, reg)
    app = make_app(alpha, pinger=FakePinger(), probe=fake_probe(), interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: reg.name in app.table.keys, what="row keyed by file name")
        assert "area" not in app.table.shown_columns


async def test_stop_and_log_of_a_beta_row_use_beta(two_areas: tuple[Path, Path]) -> None:
    alpha, beta = two_areas
    a_name, b_name = await start_server(alpha), await start_server(beta)
    app = make_app(alpha, also=[beta], interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        a_key, b_key = f"alpha/{a_name}", f"beta/{b_name}"
        await until(pilot, lambda: all(k in app.rows and app.rows[k].state == status.RUNNING
                                       for k in (a_key, b_key)), limit=20, what="both RUNNING")
        b_pid = app.rows[b_key].entry.registration.pid
        app.table.move_cursor(row=app.table.keys.index(b_key), animate=False)
        await pilot.pause()
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen), what="log screen")
        assert isinstance(app.screen, LogScreen)
        assert app.screen.path.parent == beta / "logs"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LogScreen), what="log closed")
        app.table.move_cursor(row=app.table.keys.index(b_key), animate=False)
        await pilot.pause()
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        # An authenticated stop needs beta's key: with alpha's the server would
        # answer "serves another area" and keep running.
        await until(pilot, lambda: b_key not in app.table.keys, limit=20, what="beta row gone")
        assert not (beta / ".servinfo" / b_name).exists()
        await until(pilot, lambda: not psutil.pid_exists(b_pid)
                    or psutil.Process(b_pid).status() == psutil.STATUS_ZOMBIE,
                    limit=10, what="beta's server ended")
        assert app.rows[a_key].state == status.RUNNING
        assert (alpha / ".servinfo" / a_name).exists()


async def test_glob_expands_to_the_areas(two_areas: tuple[Path, Path]) -> None:
    alpha, beta = two_areas
    found = expand_areas([str(alpha.parent / "*")])
    assert found == [str(alpha), str(beta)]
    app = make_app(found[0], also=found[1:], pinger=FakePinger(), probe=fake_probe())
    assert [s.label for s in app.sources] == ["alpha", "beta"]


def test_bad_areas_are_one_line_errors(two_areas: tuple[Path, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    alpha, _beta = two_areas
    missing = alpha.parent / "nope"
    assert main(["--area", str(alpha), "--area", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mttui: error:") and "nope" in err
    assert main(["--area", str(alpha.parent / "zz*")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matches no directory" in err


def test_short_labels_tell_alike_names_apart(tmp_path: Path) -> None:
    assert model.short_labels([tmp_path / "x" / "a", tmp_path / "y" / "a", tmp_path / "b"]) \
        == ["x/a", "y/a", "b"]


def test_an_unreadable_area_leaves_the_others_shown(two_areas: tuple[Path, Path]) -> None:
    from backend import registry
    from mttui import tasks

    alpha, beta = two_areas
    reg = fake_reg(41000, 5000)
    publish(alpha, reg)
    read = tasks.read_snapshot(alpha / ".servinfo", registry.ScanCache(), fake_probe(), "alpha")
    not_a_dir = beta / "megatest.config"  # a file where .servinfo/ should be
    gone = tasks.read_snapshot(not_a_dir, registry.ScanCache(), fake_probe(), "beta")
    assert gone.error is not None
    merged = tasks.merge_snapshots([("alpha", read), ("beta", gone)])
    assert merged.error is None and [e.name for e in merged.entries] == [f"alpha/{reg.name}"]
    assert merged.area_errors == (f"beta: {gone.error}",)
    assert tasks.merge_snapshots([("beta", gone)]).error == f"beta: {gone.error}"
