"""A ``backend call`` to a running server imports only what a call needs
(issue 16 item 1): checked on the imports themselves, not on time.

The plain form is parsed without argparse (``cli/callargs.py``); any other
form, ``--help`` included, by the call-only argparse parser, never by the full
one (``cli/parser.py``, every subcommand); both give the same answers."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import ForwardRef

from tests.helpers import backend, clean_env

HEAVY = ("asyncio", "psutil", "sqlite3", "logging", "prometheus_client", "textual", "mttui",
         "backend.db", "backend.server", "backend.client.launcher", "backend.ops", "backend.stats",
         # The full parser and its subcommands' modules; secrets (random, base64): os.urandom does.
         "backend.cli.parser", "backend.cli.pool", "backend.cli.central", "secrets", "random",
         # Records on the call path are NamedTuples or slotted classes (docs/design.md, "No
         # dataclasses on the call path"): dataclasses pulls inspect (ast, dis, tokenize ...).
         "dataclasses", "inspect")
# Only what a call needs to read the plain form: argparse (and what it loads for help) neither.
PARSING = ("argparse", "gettext", "shutil", "backend.cli.callparser")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "backend", *argv],
                          capture_output=True, text=True, timeout=60, env=clean_env())


def _modules(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def _imported(area: Path, *call: str) -> tuple[str, set[str]]:
    proc = _run("call", "--area", str(area), *call)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip(), _modules(proc.stderr)


def _heavy(modules: set[str], heavy: tuple[str, ...] = HEAVY) -> set[str]:
    return {m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy)}


def test_call_to_a_running_server_imports_no_heavy_module(area: Path) -> None:
    # The first call starts the server (the launcher's imports are fine there).
    backend("call", "--area", str(area), "set-var", "color", "blue", check=True)
    out, modules = _imported(area, "get-var", "color")
    assert out == "blue"
    assert "backend.client.client" in modules and "msgpack" in modules  # really a wire call
    assert not _heavy(modules), sorted(_heavy(modules))
    assert not _heavy(modules, PARSING), sorted(_heavy(modules, PARSING))
    assert "dataclasses" not in modules and "inspect" not in modules  # (in HEAVY too: said out loud)
    assert "json" not in modules  # a word PARAM and a string answer: nothing to parse or show as JSON
    out, modules = _imported(area, "--json", "-q", "--deadline", "20", "set-var", "color", "red")
    assert out == "true" and "json" in modules
    assert not _heavy(modules, HEAVY + PARSING), sorted(_heavy(modules, HEAVY + PARSING))
    assert _imported(area, "get-var", "color")[0] == "red"


def test_other_forms_of_a_call_use_the_call_only_parser_with_the_same_result(area: Path) -> None:
    backend("call", "--area", str(area), "set-var", "n", "7", check=True)
    plain = _imported(area, "--json", "get-var", "n")
    for form in (["get-var", "n", "--json"], ["--js", "get-var", "n"], ["--json", "--", "get-var", "n"]):
        out, modules = _imported(area, *form)
        assert out == plain[0] == '"7"', form
        assert "argparse" in modules and "backend.cli.callparser" in modules  # argparse read it ...
        assert not _heavy(modules), (form, sorted(_heavy(modules)))  # ... without the full parser
    usage = _run("call", "--area", str(area), "--bogus", "get-var", "n")
    assert usage.returncode == 2
    assert [line for line in usage.stderr.splitlines() if not line.startswith("import time:")] == [
        "backend: error: unrecognized arguments: --bogus (see --help)"]
    assert "backend.cli.parser" not in _modules(usage.stderr)
    helped = _run("call", "--help")
    assert helped.returncode == 0 and "get-var" in helped.stdout and "--deadline S" in helped.stdout
    assert "backend.cli.parser" not in _modules(helped.stderr)


def test_direct_call_still_reads_the_db(area: Path) -> None:
    backend("call", "--area", str(area), "set-var", "n", "7", check=True)
    out, modules = _imported(area, "--direct", "get-var", "n")
    assert out == "7"
    assert "sqlite3" in modules  # --direct is the path that may pay for the db


def test_records_on_the_call_path_have_real_types_as_annotations(area: Path) -> None:
    # A NamedTuple in a module with ``from __future__ import annotations`` gets string
    # annotations, each made a ForwardRef and compiled at import (~3 ms of a call, the
    # first compile of a process the most): those modules go without the future import.
    backend("call", "--area", str(area), "set-var", "color", "blue", check=True)
    _, modules = _imported(area, "get-var", "color")
    records = []
    for name in sorted(m for m in modules if m.startswith("backend")):
        for obj in vars(importlib.import_module(name)).values():
            if isinstance(obj, type) and issubclass(obj, tuple) and obj.__module__ == name:
                records.append(obj.__name__)
                strings = [f for f, a in obj.__annotations__.items() if isinstance(a, str | ForwardRef)]
                assert not strings, (name, obj.__name__, strings)
    assert {"Area", "Settings", "Registration", "Entry", "Response", "PingResult"} <= set(records)
