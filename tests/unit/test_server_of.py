"""Which processes are servers of an area: argv form and standby title form."""

from __future__ import annotations

import os

import pytest

from backend.procs import server_of, server_title


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["/v/bin/python3", "-m", "backend", "server", "--area", "/a b/x", "--db", "1.db", "--detached"],
         ("/a b/x", "1.db")),
        (["backend server --area /a b/x --db main.db --detached", "", ""], ("/a b/x", "main.db")),
        (["backend standby --area /a"], None),
        (["/v/bin/python3", "-m", "backend", "serve", "--area", "/a"], None),
        (["/v/bin/python3", "-m", "backend", "server", "--area"], None),
        (["vim", "server", "--area", "/a"], None),
        ([], None),
    ],
)
def test_server_of(cmdline: list[str], expected: tuple[str, str] | None) -> None:
    want = None if expected is None else (os.path.realpath(expected[0]), expected[1])
    assert server_of(cmdline) == want


@pytest.mark.parametrize("tail", ["--detached", "(supervised)"])
def test_server_of_reads_the_titles_server_title_writes(tail: str) -> None:
    title = server_title("/a b/x", "3.db", tail)
    assert server_of([title, "", ""]) == (os.path.realpath("/a b/x"), "3.db")
