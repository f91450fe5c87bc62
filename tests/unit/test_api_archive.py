"""api.scm's ARCHIVES group (read/write section): archive-register-disk,
archive-register-block-name, archive-allocate-testsuite/area-to-block."""

from __future__ import annotations

from pathlib import Path

from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q
from tests.unit.test_api_tests import bad_request


def test_register_disk_updates_df_of_a_known_disk(lc: LocalCaller, tmp_path: Path) -> None:
    disk = lc.call("archive-register-disk", "area1", "/arch/d1", 1000)
    other = lc.call("archive-register-disk", "area1", "/arch/d2", 5)
    assert other != disk
    assert lc.call("archive-register-disk", "area1", "/arch/d1", 900) == disk
    rows = q(tmp_path / "main.db",
             "SELECT id, last_df, last_df_time, creation_time FROM archive_disks ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [(disk, 900), (other, 5)]
    assert all(r[2] > 0 and r[3] > 0 for r in rows)  # Megatest's creation_time was NULL (B19)


def test_register_block_returns_the_id_on_creation(lc: LocalCaller, tmp_path: Path) -> None:
    disk = lc.call("archive-register-disk", "a", "/d", 1)
    block = lc.call("archive-register-block-name", disk, "/d/blk1")
    assert isinstance(block, int)  # Megatest returned #f here (B9)
    assert lc.call("archive-register-block-name", disk, "/d/blk1") == block
    assert q(tmp_path / "main.db", "SELECT archive_disk_id, disk_path, last_du FROM archive_blocks") == [
        (disk, "/d/blk1", 0)
    ]
    assert "unknown archive disk" in bad_request(lc, "archive-register-block-name", 99, "/x")


def test_allocate_records_once(lc: LocalCaller, tmp_path: Path) -> None:
    disk = lc.call("archive-register-disk", "a", "/d", 1)
    block = lc.call("archive-register-block-name", disk, "/d/b")
    alloc = lc.call("archive-allocate-testsuite/area-to-block", block, "suite", "areakey")
    assert lc.call("archive-allocate-testsuite/area-to-block", block, "suite", "areakey") == alloc
    assert q(tmp_path / "main.db",
             "SELECT archive_block_id, testname, item_path FROM archive_allocations") == [
        (block, "suite", "areakey")
    ]
    assert "unknown archive block" in bad_request(
        lc, "archive-allocate-testsuite/area-to-block", 42, "s", "k"
    )


def test_bad_input(lc: LocalCaller) -> None:
    assert "df must be" in bad_request(lc, "archive-register-disk", "a", "/d", "lots")
    assert "bdisk-path must be" in bad_request(lc, "archive-register-disk", "a", "", 1)
    assert "expected 3" in bad_request(lc, "archive-register-disk", "a")
    assert "bdisk-id must be" in bad_request(lc, "archive-register-block-name", "1", "/x")
    assert "main.db command" in bad_request(lc, "archive-register-disk", "a", "/d", 1, run_id=1)
