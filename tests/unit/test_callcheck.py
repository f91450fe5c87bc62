"""``callcheck.parse_param`` skips json for a PARAM that cannot start a JSON
value; it must answer exactly as parsing every PARAM with json did."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from backend.cli.callcheck import parse_param
from backend.errors import ConfigError


def _with_json(text: str) -> Any:
    """What parse_param did before the shortcut: json.loads on every PARAM."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ConfigError("nested too deeply") from None
    except ValueError:
        if text.lstrip()[:1] in ("{", "["):
            raise ConfigError("looks like JSON but does not parse") from None
        return text


def _outcome(parse: Any, text: str) -> tuple[str, str]:
    try:
        value = parse(text)
    except ConfigError:
        return ("error", "")
    return ("value", repr(value))  # repr: NaN is not equal to itself, and 1 == 1.0 == True


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=12), st.from_regex(r"[\s\ufeff]{0,2}[-+0-9.eEtrufalsnNIiy\"{}\[\],:]{0,10}",
                                                     fullmatch=True)))
@example("k")
@example("")
@example("test-1")
@example("NaN")
@example("-Infinity")
@example("Infinity")
@example("null")
@example("nul")
@example(" 7")
@example("\t[1, 2]")
@example("\ufeff1")
@example("\u00a05")
@example("\x85{")  # str.lstrip strips it, json does not: refused as JSON
@example("{bad")
@example("[" * 100_000)
@example("true")
@example("+1")
@example(".5")
def test_parse_param_answers_as_json_on_every_param_did(text: str) -> None:
    assert _outcome(lambda t: parse_param(t, 1), text) == _outcome(_with_json, text)


def test_a_word_is_itself_and_json_is_parsed() -> None:
    assert parse_param("color", 1) == "color"
    assert parse_param("7", 1) == 7 and parse_param('{"a": [1]}', 2) == {"a": [1]}
    assert parse_param("null", 1) is None and parse_param('"7"', 1) == "7"
