"""The client's static command table must match the db layer's real one."""

from __future__ import annotations

from backend import commandinfo
from backend.db import api


def test_static_table_names_every_command_with_its_write_flag() -> None:
    real = {name: cmd.write for name, cmd in api.COMMANDS.items()}
    assert commandinfo.WRITES == real


def test_unknown_commands_count_as_writes() -> None:
    assert commandinfo.is_write("no-such-command") is True
    assert commandinfo.is_write("get-var") is False
    assert commandinfo.is_write("set-var") is True
