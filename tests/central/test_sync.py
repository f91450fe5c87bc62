"""A real PostgreSQL: what one area's sync puts centrally, and what a second one adds."""

from __future__ import annotations

import json
from pathlib import Path

from backend.ops.demoload import LocalCaller
from tests.central.util import counts, demo_area, dump, local, local_write, rows, sync
from tests.helpers import backend, make_area


def _expected_tests(root: Path) -> dict[tuple[str, str], tuple[str, str]]:
    out = {}
    for dbfile in sorted(p.name for p in (root / ".mtdb").glob("[0-9]*.db")):
        for name, item, state, status in local(root, dbfile, "SELECT testname, item_path, state, status FROM tests"):
            out[(name, item)] = (state, status)
    return out


def test_demo_load_area_synced_whole_with_central_ids(area: Path, central_url: str) -> None:
    res = backend("demo-load", "--area", str(area), "--tests", "3", "--items", "2", "--seed", "7")
    assert res.returncode == 0, res.stderr
    out = backend("sync", "--area", str(area), "--to", central_url, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    (aid, name, path), = rows(central_url, "SELECT id, area_name, area_path FROM areas WHERE id > 0")
    assert (aid, path, name) == (report["area_id"], str(area.resolve()), area.name)
    (runname, *keys), = local(area, "main.db", "SELECT runname, SYSTEM, RELEASE FROM runs")
    (run_id, target, spec), = rows(central_url,
        "SELECT r.id, r.target, t.target_spec FROM runs r JOIN ttype t ON t.id = r.ttype_id "
        "WHERE r.area_id = %s AND r.run_name = %s", aid, runname)
    assert (target, spec) == ("/".join(keys), "SYSTEM/RELEASE")
    central = {(n, i): (s, st) for n, i, s, st in rows(
        central_url, "SELECT test_name, item_path, state, status FROM tests WHERE run_id = %s", run_id)}
    assert central == _expected_tests(area) and len(central) == 3 * 3
    # Steps and data hang under the central ids of their own tests.
    dbfile = next((area / ".mtdb").glob("[0-9]*.db")).name
    local_steps = sorted(local(area, dbfile,
        "SELECT t.testname, t.item_path, s.stepname, s.state, s.status FROM test_steps s "
        "JOIN tests t ON t.id = s.test_id"))
    central_steps = sorted(rows(central_url,
        "SELECT t.test_name, t.item_path, s.stepname, s.state, s.status FROM test_steps s "
        "JOIN tests t ON t.id = s.test_id WHERE t.run_id = %s", run_id))
    assert central_steps == local_steps and len(local_steps) == 6 * 4
    local_data = sorted(local(area, dbfile,
        "SELECT t.testname, t.item_path, d.category, d.variable, d.value FROM test_data d "
        "JOIN tests t ON t.id = d.test_id"))
    central_data = sorted(rows(central_url,
        "SELECT t.test_name, t.item_path, d.category, d.variable, d.value FROM test_data d "
        "JOIN tests t ON t.id = d.test_id WHERE t.run_id = %s", run_id))
    assert central_data == local_data and len(local_data) == 6 * 2
    assert rows(central_url, "SELECT tag_name FROM area_tag_view WHERE aid = %s", aid) == [("local",)]


def test_second_sync_adds_and_changes_nothing(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a")
    first = sync(root, central_url)
    assert first.written == counts(central_url)["runs"] + counts(central_url)["tests"] + \
        counts(central_url)["test_steps"] + counts(central_url)["test_data"]
    before = dump(central_url)
    again = sync(root, central_url)
    assert again.written == 0 and again.refused == 0
    assert dump(central_url) == before


def test_changes_propagate_on_next_sync(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=2)
    sync(root, central_url)
    before = counts(central_url)
    (run_id,), = local(root, "main.db", "SELECT id FROM runs")
    with LocalCaller(root / ".mtdb") as call:
        tid = call("get-test-id", "test00", "item/0", run_id=run_id)
        call("test-set-state-status-by-id", tid, "COMPLETED", "FAIL", "broke", run_id=run_id)
        call("teststep-set-status!", tid, "cleanup", "start", "n/a", "", "", run_id=run_id)
        call("csv->test-data", tid, "perf,latency,3.5,2,1,ms,,,", run_id=run_id)
    res = sync(root, central_url)
    after = counts(central_url)
    assert after["test_steps"] == before["test_steps"] + 1
    assert after["test_data"] == before["test_data"] + 1
    assert after["tests"] == before["tests"] and after["runs"] == before["runs"]
    assert rows(central_url, "SELECT state, status, comment FROM tests WHERE test_name = 'test00' "
                "AND item_path = 'item/0'") == [("COMPLETED", "FAIL", "broke")]
    assert rows(central_url, "SELECT value, expected, tol FROM test_data WHERE variable = 'latency'") == [
        (3.5, 2.0, 1.0)]
    assert res.tables["test_steps"].inserted == 1 and res.tables["test_data"].inserted == 1


def test_two_areas_with_the_same_run_names_stay_apart(tmp_path: Path, central_url: str) -> None:
    a = demo_area(tmp_path / "one" / "suite", runname="nightly", seed=1)
    b = demo_area(tmp_path / "two" / "suite", runname="nightly", seed=2)
    sync(a, central_url)
    sync(b, central_url)
    areas = rows(central_url, "SELECT id, area_name, area_path FROM areas WHERE id > 0 ORDER BY id")
    assert [p for _, _, p in areas] == [str(a.resolve()), str(b.resolve())]
    # Same directory name: Megatest's fallback name <user>_<name> for the second.
    assert areas[0][1] == "suite" and areas[1][1].endswith("_suite")
    runs = rows(central_url, "SELECT area_id, target, run_name, ttype_id FROM runs ORDER BY area_id")
    assert [r[0] for r in runs] == [areas[0][0], areas[1][0]]
    assert runs[0][1:] == runs[1][1:]  # same target, run name and one shared ttype
    assert counts(central_url)["ttype"] == 1
    per_area = rows(central_url, "SELECT r.area_id, count(*) FROM tests t JOIN runs r ON r.id = t.run_id "
                    "GROUP BY r.area_id ORDER BY r.area_id")
    assert per_area == [(areas[0][0], 12), (areas[1][0], 12)]
    # Each area's tests carry that area's results, not the other's.
    for root, (aid, _, _) in zip((a, b), areas, strict=True):
        want = {(n, i): s for (n, i), (_, s) in _expected_tests(root).items()}
        got = {(n, i): s for n, i, s in rows(central_url,
               "SELECT t.test_name, t.item_path, t.status FROM tests t JOIN runs r ON r.id = t.run_id "
               "WHERE r.area_id = %s", aid)}
        assert got == want


def test_area_tags_are_added_never_removed(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    sync(root, central_url)
    sync(root, central_url, area_tag="nightly,release")
    sync(root, central_url, area_tag="nightly")
    assert sorted(r[0] for r in rows(central_url, "SELECT tag_name FROM area_tag_view")) == [
        "local", "nightly", "release"]


def test_area_config_names_the_area(tmp_path: Path, central_url: str) -> None:
    root = make_area(tmp_path / "dir", "[setup]\narea-name  chip_regress\n")
    demo_area(root, tests=1)
    assert sync(root, central_url).area_name == "chip_regress"


def test_empty_area_registers_and_syncs_nothing(tmp_path: Path, central_url: str) -> None:
    root = make_area(tmp_path / "empty")
    res = sync(root, central_url)
    assert res.written == 0
    assert counts(central_url)["runs"] == 0
    assert rows(central_url, "SELECT area_path FROM areas WHERE id = %s", res.area_id) == [(str(root.resolve()),)]


def test_deleted_runs_as_megatest_does(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1, runname="kept")
    with LocalCaller(root / ".mtdb") as call:
        from backend.ops.demoload import run_demo_load

        run_demo_load(call, tests=1, items=0, runname="gone_early", log=lambda _m: None)
    local_write(root, "main.db", "UPDATE runs SET state = 'deleted' WHERE runname = 'gone_early'")
    res = sync(root, central_url)
    # Created and deleted between two passes: never appears, its tests skipped.
    assert [r[0] for r in rows(central_url, "SELECT run_name FROM runs")] == ["kept"]
    assert res.tables["runs"].skipped == 1 and res.tables["tests"].skipped == 1
    # Deleted after it reached the central database: kept, marked deleted
    # (a run-only change: no test of it changed).
    local_write(root, "main.db", "UPDATE runs SET state = 'deleted', comment = '' WHERE runname = 'kept'")
    sync(root, central_url)
    assert rows(central_url, "SELECT run_name, state FROM runs") == [("kept", "deleted")]
    assert counts(central_url)["tests"] == 3  # rows are never deleted centrally


def test_run_stats_synced_when_the_area_has_them(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    (run_id,), = local(root, "main.db", "SELECT id FROM runs")
    # Older areas have no run_stats table at all (schema < 3): then nothing is read.
    local_write(root, "main.db", "CREATE TABLE IF NOT EXISTS run_stats (id INTEGER PRIMARY KEY, run_id INTEGER, "
                "state TEXT, status TEXT, count INTEGER, last_update REAL DEFAULT 1)")
    local_write(root, "main.db", "INSERT INTO run_stats (run_id, state, status, count) VALUES (?, 'COMPLETED', "
                "'PASS', 2), (?, 'COMPLETED', 'FAIL', 1)", run_id, run_id)
    sync(root, central_url)
    (runname,), = local(root, "main.db", "SELECT runname FROM runs")
    assert sorted(rows(central_url, "SELECT r.run_name, s.state, s.status, s.count FROM run_stats s "
                       "JOIN runs r ON r.id = s.run_id")) == [
        (runname, "COMPLETED", "FAIL", 1), (runname, "COMPLETED", "PASS", 2)]
    local_write(root, "main.db", "UPDATE run_stats SET count = 3 WHERE status = 'PASS'")
    sync(root, central_url)
    assert rows(central_url, "SELECT count FROM run_stats WHERE status = 'PASS'") == [(3,)]


def test_sync_never_writes_the_area(tmp_path: Path, central_url: str) -> None:
    import hashlib

    root = demo_area(tmp_path / "a", tests=2)

    def files() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    before = files()
    sync(root, central_url)
    sync(root, central_url)
    after = files()
    # Every file is byte for byte as it was. The only new files are sqlite's
    # own WAL index of a WAL database opened read-only (-shm, and an empty
    # -wal), which any server of the area would have created too.
    assert {k: v for k, v in after.items() if k in before} == before
    new = set(after) - set(before)
    assert all(n.endswith(("-wal", "-shm")) for n in new)
    assert all(after[n] == hashlib.sha256(b"").hexdigest() for n in new if n.endswith("-wal"))


def test_megatest_ext_sync_spec_reaches_a_real_server(area: Path, central_url: str) -> None:
    """``[sync] to pgdb`` + Megatest's ``[ext-sync] pgdb dbtype:pg ...`` spec, end to end."""
    from urllib.parse import urlsplit

    u = urlsplit(central_url)
    demo_area(area, tests=1)
    with open(area / "megatest.config", "a") as cfg:
        cfg.write(f"[sync]\nto pgdb\n[ext-sync]\npgdb dbtype:pg dbname:{u.path[1:]} host:{u.hostname} "
                  f"port:{u.port} user:{u.username} password:{u.password}\n")
    res = backend("sync", "--area", str(area), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["written"] == counts(central_url)["runs"] + 3 + 8 + 4
    assert u.password not in res.stdout + res.stderr


def test_area_deletes_through_the_api_reach_the_central_db_as_megatest_does(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=2, runname="doomed")
    sync(root, central_url)
    before = counts(central_url)
    (run_id,), = local(root, "main.db", "SELECT id FROM runs")
    with LocalCaller(root / ".mtdb") as call:
        tid = call("get-test-id", "test00", "item/0", run_id=run_id)
        assert call("delete-test-records", tid, run_id=run_id) is True
    sync(root, central_url)
    assert rows(central_url, "SELECT state, status, comment FROM tests WHERE test_name = 'test00' "
                "AND item_path = 'item/0'") == [("DELETED", "n/a", "")]
    assert {r[0] for r in rows(central_url, "SELECT s.status FROM test_steps s JOIN tests t ON t.id = s.test_id "
                               "WHERE t.test_name = 'test00' AND t.item_path = 'item/0'")} == {"DELETED"}
    # Removing the run: its steps and data go physically in the area, the run
    # and its tests are marked. Centrally: marked, steps and data kept.
    with LocalCaller(root / ".mtdb") as call:
        call("delete-run", run_id=run_id)
        assert call("delete-run", run_id, run_id=None) is True
    sync(root, central_url)
    assert rows(central_url, "SELECT run_name, state, comment FROM runs") == [("doomed", "deleted", "")]
    assert {r[0] for r in rows(central_url, "SELECT state FROM tests")} == {"DELETED"}
    assert counts(central_url) == before
