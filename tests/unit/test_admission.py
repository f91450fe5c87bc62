"""The connection caps (backend/admission.py) as pure bookkeeping."""

from __future__ import annotations

from backend.server.admission import Admission, caps_for


def test_caps_leave_headroom_below_the_fd_limit() -> None:
    total, unauth, per_peer = caps_for(1024)
    assert total == 1024 - 160 and unauth == total // 2 and per_peer == unauth // 2
    assert caps_for(10)[0] >= 8  # never zero


def test_excess_drops_the_oldest_silent_unauthenticated_first() -> None:
    a: Admission[str] = Admission(max_total=100, max_unauth=3, max_unauth_per_peer=10)
    for name in ("legit-old", "f1", "f2", "legit-new", "f3"):
        assert a.admit(name, "127.0.0.1") == (True, [])
    a.spoke("legit-old")
    a.spoke("legit-new")
    assert a.over
    # two over the cap: the oldest silent ones go, the ones that spoke stay
    assert sorted(a.excess()) == ["f1", "f2"]
    assert not a.over and a.total == 3
    a.authenticated("legit-new")
    assert a.unauthenticated == 2 and a.total == 3


def test_per_peer_cap_spares_other_peers() -> None:
    a: Admission[str] = Admission(max_total=100, max_unauth=50, max_unauth_per_peer=2)
    for i in range(4):
        a.admit(f"bad{i}", "10.0.0.9")
    a.admit("good", "10.0.0.1")
    assert sorted(a.excess()) == ["bad0", "bad1"]
    assert a.total == 3


def test_total_cap_drops_an_unauthenticated_one_or_refuses() -> None:
    a: Admission[str] = Admission(max_total=2, max_unauth=10, max_unauth_per_peer=10)
    a.admit("a", "p")
    a.admit("b", "p")
    assert a.admit("c", "p") == (True, ["a"])
    a.authenticated("b")
    a.authenticated("c")
    assert a.admit("d", "p") == (False, [])  # every connection holds the key
    a.closed("b")
    a.closed("b")  # idempotent
    assert a.admit("d", "p") == (True, [])
    assert a.total == 2
