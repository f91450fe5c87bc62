"""api.scm's TESTMETA group (read/write section): testmeta-add-record,
testmeta-update-field, get-tests-tags."""

from __future__ import annotations

from pathlib import Path

from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q
from tests.unit.test_api_tests import bad_request


def test_add_record_once_with_megatest_defaults(lc: LocalCaller, tmp_path: Path) -> None:
    assert lc.call("testmeta-add-record", "test1") is True
    assert lc.call("testmeta-add-record", "test1") is False  # ignored if the name exists
    assert q(
        tmp_path / "main.db",
        "SELECT testname, author, owner, description, reviewed, iterated, avg_runtime, "
        "avg_disk, tags, jobgroup FROM test_meta",
    ) == [("test1", "", "", "", "", "", None, None, "", "default")]


def test_update_field_whitelist(lc: LocalCaller, tmp_path: Path) -> None:
    lc.call("testmeta-add-record", "t")
    assert lc.call("testmeta-update-field", "t", "author", "matt") is True
    assert lc.call("testmeta-update-field", "t", "avg_runtime", 12.5) is True
    assert lc.call("testmeta-update-field", "t", "reviewed", "ww50.3") is True
    assert lc.call("testmeta-update-field", "nosuch", "author", "x") is False
    assert q(tmp_path / "main.db", "SELECT author, avg_runtime, reviewed FROM test_meta") == [
        ("matt", 12.5, "ww50.3")
    ]
    # Megatest interpolated the field name into its SQL
    assert "field must be one of" in bad_request(lc, "testmeta-update-field", "t", "id", 3)
    assert "field must be one of" in bad_request(
        lc, "testmeta-update-field", "t", "author = 'x' --", "y"
    )
    assert "value must be" in bad_request(lc, "testmeta-update-field", "t", "tags", ["a"])
    assert "value must be" in bad_request(lc, "testmeta-update-field", "t", "tags", True)
    assert "too large" in bad_request(lc, "testmeta-update-field", "t", "avg_disk", 2**70)
    assert "testname must be" in bad_request(lc, "testmeta-add-record", "")
    assert "main.db command" in bad_request(lc, "testmeta-add-record", "t", run_id=1)


def test_get_tests_tags(lc: LocalCaller) -> None:
    assert lc.call("get-tests-tags") == {}
    for name, tags in [("test1", "tagone,tagtwo"), ("test2", " tagtwo,, tagthree "), ("test3", None)]:
        lc.call("testmeta-add-record", name)
        lc.call("testmeta-update-field", name, "tags", tags)
    got = lc.call("get-tests-tags")
    # all-rmt L46: sorted names of tagtwo are test1, test2; Megatest's order is newest first
    assert got == {"tagone": ["test1"], "tagtwo": ["test2", "test1"], "tagthree": ["test2"]}
    assert "expected 0" in bad_request(lc, "get-tests-tags", "x")
