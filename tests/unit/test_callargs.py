"""``backend call``'s fast parse (``cli/callargs.py``) against argparse.

The fast path reads only the plain form and must give exactly what argparse
gives for it; everything else it hands back (``None``) for argparse to parse,
help or refuse. And the call-only parser must help and err as the full one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backend.cli.callargs import CALL_OPTIONS, parse_call
from backend.cli.callparser import call_parser
from backend.cli.parser import build_parser


def _argparse(parser: argparse.ArgumentParser, words: list[str]) -> tuple[dict[str, Any] | None, int, str, str]:
    """(namespace or None, exit code, stdout, stderr) of ``backend call WORDS``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ns = parser.parse_args(["call", *words])
        except SystemExit as exc:
            return None, int(exc.code or 0), out.getvalue(), err.getvalue()
    return vars(ns), 0, out.getvalue(), err.getvalue()


def _agrees(words: list[str]) -> None:
    fast = parse_call(words)
    slow, code, _out, err = _argparse(call_parser(), words)
    if fast is None:
        return  # argparse's to read: nothing to compare
    assert slow is not None, (words, code, err)
    # The top parser's --version leaves ``version=None`` in argparse's namespace.
    assert set(slow) - set(vars(fast)) <= {"version"}, words
    assert vars(fast) == {k: v for k, v in slow.items() if k != "version"}, words


WORDS = st.sampled_from([
    "--area", "--area=/a", "--run-id", "--json", "--direct", "--deadline", "--quiet", "-q", "-qq",
    "-h", "--help", "--", "--ar", "--bogus", "--version", "-", "", "/a", "a b", "-x y",
    "get-var", "k", "v", "3", "0", "-1", "2.5", "nan", "inf", "1e3", "9" * 30, "{", "[1]",
])
# Mostly well-formed pieces (an option with a value, a flag), so that the
# plain form and its near misses come up often, not only random words.
PIECES = st.one_of(
    st.tuples(st.sampled_from(["--area", "--run-id", "--deadline"]), WORDS).map(list),
    st.sampled_from(["--json", "--direct", "--quiet", "-q"]).map(lambda w: [w]),
    WORDS.map(lambda w: [w]),
)
ARGVS = st.lists(PIECES, max_size=8).map(lambda pieces: [w for piece in pieces for w in piece])


@settings(max_examples=600, deadline=None)
@given(ARGVS)
@example(["--area", "--json", "get-var", "k"])  # an option where a value belongs
@example(["--area", "/a", "get-var", "k", "--json", "x"])  # an option among the params
def test_the_fast_parse_gives_what_argparse_gives_or_leaves_it_to_argparse(words: list[str]) -> None:
    _agrees(words)


def test_the_plain_form_is_read_without_argparse() -> None:
    args = parse_call(["--area", "/a", "--run-id", "3", "--json", "--direct", "--deadline", "2.5", "-q",
                       "get-var", "k", "", "[1]"])
    assert args is not None
    assert vars(args) == {"command": "call", "area": "/a", "run_id": 3, "json": True, "direct": True,
                          "deadline": 2.5, "quiet": True, "cmd": "get-var", "params": ["k", "", "[1]"]}
    plain = parse_call(["--area", "/a", "get-var", "k"])
    assert plain is not None and (plain.json, plain.run_id, plain.params) == (False, None, ["k"])
    _agrees(["--area", "/a", "--run-id", "3", "--quiet", "--quiet", "set-var", "k", "v"])


@pytest.mark.parametrize("words", [
    ["--help"], ["--area", "/a", "-h", "get-var"], ["--area=/a", "get-var", "k"], ["--ar", "/a", "get-var", "k"],
    ["--area", "/a", "--", "get-var", "k"], ["--area", "/a", "get-var", "k", "--json"],
    ["--area", "/a", "set-var", "k", "-1"], ["--area", "-x", "get-var"], ["get-var", "k"], ["--area", "/a"],
    ["--area", "/a", "--run-id", "x", "get-var", "k"], ["--area", "/a", "--run-id", "9" * 30, "get-var", "k"],
    ["--area", "/a", "--deadline", "nan", "get-var", "k"], ["--area", "/a", "--deadline"], ["-qq", "--area", "/a", "c"],
])
def test_every_other_form_is_left_to_argparse(words: list[str]) -> None:
    assert parse_call(words) is None


@pytest.mark.parametrize("words", [
    ["--help"], [], ["--area"], ["--area", "/a"], ["--area", "/a", "--bogus", "get-var", "k"],
    ["--area", "/a", "--run-id", "-1", "get-var", "k"], ["--area", "/a", "--deadline", "0", "get-var", "k"],
    ["--area", "/a", "get-var", "k", "--json", "extra"],
])
def test_the_call_only_parser_helps_and_errs_as_the_full_parser(words: list[str]) -> None:
    full = _argparse(build_parser(), words)
    alone = _argparse(call_parser(), words)
    assert alone == full
    if words != ["--help"]:
        assert full[1] == 2 and len(full[3].splitlines()) == 1, full  # usage: one line, exit 2


def test_call_help_lists_the_options_of_the_table_and_the_commands() -> None:
    _ns, code, out, _err = _argparse(call_parser(), ["--help"])
    assert code == 0
    for opt in CALL_OPTIONS:
        assert all(flag in out for flag in opt.flags), opt.flags
    assert "get-var" in out and "exit codes:" in out
