"""Settings layering (SPEC §6): flags > MTSERVE_* > megatest.config [server] > defaults."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import config
from backend.config import Settings, load_settings
from backend.errors import ConfigError

SPEC_DEFAULTS = {
    "heartbeat": 5, "stale-after": 360, "idle-timeout": 600, "max-servers": 4,
    "busy-threshold": 20, "loaded-threshold": 10, "ping-timeout": 2, "call-deadline": 30,
    "start-throttle": 5, "max-load": 4.0, "max-server-procs": 100, "num-run-dbs": 10,
    "max-frame": 1048576, "frame-deadline": 10, "host": "127.0.0.1", "lowport": 32768,
}


def write_cfg(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "megatest.config").write_text(text)
    return root


def test_defaults_equal_spec() -> None:
    s = load_settings(None, environ={})
    d = s.as_dict()
    for key, want in SPEC_DEFAULTS.items():
        got = d[key.replace("-", "_")]
        assert got == want, (key, got, want)
        assert not isinstance(got, bool)
    for key in ("max_servers", "busy_threshold", "loaded_threshold", "max_server_procs",
                "num_run_dbs", "max_frame", "lowport"):
        assert type(d[key]) is int, key
    assert s == Settings()
    assert set(SPEC_DEFAULTS) <= set(config.setting_names())


def test_defaults_without_config_file(tmp_path: Path) -> None:
    assert load_settings(tmp_path, environ={}) == Settings()


def test_megatest_config_server_section(tmp_path: Path) -> None:
    root = write_cfg(
        tmp_path,
        """\
# a Megatest config
[setup]
heartbeat 99
max-servers 7

[server]
# comment line
heartbeat 0.5
  stale-after   120
max-servers\t2
homehost somebox
timeout 10
host 10.0.0.5
#max-load 9

[jobtools]
heartbeat 77
""",
    )
    s = load_settings(root, environ={})
    assert s.heartbeat == 0.5
    assert s.stale_after == 120.0
    assert s.max_servers == 2  # tab-separated, as Megatest allows
    assert s.host == "10.0.0.5"
    assert s.max_load == 4.0  # commented out
    assert s.idle_timeout == 600.0  # untouched default


def test_layering_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    root = write_cfg(tmp_path, "[server]\nheartbeat 1\nmax-servers 2\nping-timeout 3\n")
    env = {"MTSERVE_MAX_SERVERS": "5", "MTSERVE_PING_TIMEOUT": "6", "MTSERVE_BOGUS": "x"}
    s = load_settings(root, flags={"ping_timeout": "9", "call_deadline": None}, environ=env)
    assert s.heartbeat == 1.0  # file over default
    assert s.max_servers == 5  # env over file
    assert s.ping_timeout == 9.0  # flag over env
    assert s.call_deadline == 30.0  # a None flag means "not given"
    assert s.stale_after == 360.0  # default


def test_flags_accept_python_values(tmp_path: Path) -> None:
    s = load_settings(tmp_path, flags={"heartbeat": 0.2, "max_servers": 3, "max_load": 2},
                      environ={})
    assert (s.heartbeat, s.max_servers, s.max_load) == (0.2, 3, 2.0)
    assert isinstance(s.max_load, float)


def test_environ_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTSERVE_IDLE_TIMEOUT", "42")
    assert load_settings(tmp_path).idle_timeout == 42.0


@pytest.mark.parametrize(
    ("key", "value", "msg"),
    [
        ("heartbeat", "soon", "heartbeat must be float"),
        ("heartbeat", "0", "heartbeat must be > 0"),
        ("heartbeat", "-1", "heartbeat must be"),
        ("heartbeat", "nan", "heartbeat must be finite"),
        ("stale-after", "inf", "stale-after must be finite"),
        ("max-servers", "2.5", "max-servers must be int"),
        ("max-servers", "four", "max-servers must be int"),
        ("max-servers", "0", "max-servers must be > 0"),
        ("max-servers", "9" * 5000, "max-servers must be int"),
        ("start-throttle", "-5", "start-throttle must be >= 0"),
        ("max-load", "-1", "max-load must be >= 0"),
        ("lowport", "70000", "lowport must be 0..65535"),
        ("port", "-1", "port must be"),
        ("journal-mode", "fast", "journal-mode must be one of"),
        ("max-frame", "", "max-frame must be int"),
    ],
)
def test_bad_file_values_name_source_and_key(
    tmp_path: Path, key: str, value: str, msg: str
) -> None:
    root = write_cfg(tmp_path, f"[server]\n{key} {value}\n")
    with pytest.raises(ConfigError) as ei:
        load_settings(root, environ={})
    text = str(ei.value)
    assert str(root / "megatest.config") in text and "[server]" in text, text
    assert msg in text, text


def test_bad_env_value_names_variable() -> None:
    want = r"environment MTSERVE_MAX_SERVERS: max-servers must be int"
    with pytest.raises(ConfigError, match=want):
        load_settings(None, environ={"MTSERVE_MAX_SERVERS": "lots"})


def test_bad_flag_value_names_flag() -> None:
    with pytest.raises(ConfigError, match=r"--ping-timeout: ping-timeout must be > 0"):
        load_settings(None, flags={"ping_timeout": "0"}, environ={})
    with pytest.raises(ConfigError, match=r"--max-servers: max-servers must be int"):
        load_settings(None, flags={"max_servers": True}, environ={})
    with pytest.raises(ConfigError, match=r"--max-servers: max-servers must be int"):
        load_settings(None, flags={"max_servers": 2.5}, environ={})


def test_unknown_flag_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'no-such'"):
        load_settings(None, flags={"no_such": "1"}, environ={})


def test_unknown_keys_in_megatest_config_ignored(tmp_path: Path) -> None:
    root = write_cfg(
        tmp_path, "[server]\nhomehost box\nrequired yes\nno-such-key ???\nheartbeat 2\n"
    )
    assert load_settings(root, environ={}).heartbeat == 2.0


def test_bad_value_outside_server_section_ignored(tmp_path: Path) -> None:
    root = write_cfg(tmp_path, "[setup]\nheartbeat soon\n[include other.config]\n")
    assert load_settings(root, environ={}) == Settings()


def test_bad_file_value_overridden_by_env_still_reported(tmp_path: Path) -> None:
    """Every layer is validated, not only the winning one: a typo does not hide."""
    root = write_cfg(tmp_path, "[server]\nheartbeat soon\n")
    with pytest.raises(ConfigError, match="megatest.config"):
        load_settings(root, environ={"MTSERVE_HEARTBEAT": "1"})


def test_unreadable_config_is_config_error(tmp_path: Path) -> None:
    (tmp_path / "megatest.config").mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path, environ={})


def test_read_megatest_server_section(tmp_path: Path) -> None:
    p = tmp_path / "megatest.config"
    p.write_text("[server]\nkey   value with spaces  \nlone\n[other]\nk v\n[server]\nx 1\n")
    assert config.read_megatest_server_section(p) == {
        "key": "value with spaces", "lone": "", "x": "1"
    }
    assert config.read_megatest_server_section(tmp_path / "missing") == {}


def test_settings_replace_and_frozen() -> None:
    s = Settings()
    t = s.replace(heartbeat=1.0)
    assert t.heartbeat == 1.0 and s.heartbeat == 5.0
    with pytest.raises(AttributeError):
        s.heartbeat = 3.0  # type: ignore[misc]


def test_launcher_env_round_trips_settings() -> None:
    """What a launcher exports as MTSERVE_* loads back to the same Settings."""
    s = Settings().replace(heartbeat=0.25, max_servers=2, host="10.1.1.1", journal_mode="wal")
    assert load_settings(None, environ=s.to_env()) == s


# -- the one codec across process boundaries (launcher env, standby request, supervisor child)


def _setting_values() -> st.SearchStrategy[Settings]:
    """Any valid Settings: every field drawn from values ``coerce`` accepts."""
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for name in Settings._fields:
        default = getattr(Settings(), name)
        if name == "journal_mode":
            parts[name] = st.sampled_from(("auto", "wal", "delete"))
        elif name in ("port", "lowport"):
            parts[name] = st.integers(0, 65535)
        elif isinstance(default, str):
            parts[name] = st.from_regex(r"[A-Za-z0-9.:\-]{1,40}", fullmatch=True)
        elif isinstance(default, int):
            parts[name] = st.integers(1, 10**6)  # within every upper bound (config._UPPER)
        else:
            parts[name] = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
    return st.builds(Settings, **parts)


@settings(max_examples=200, deadline=None)
@given(_setting_values())
def test_settings_codec_round_trips(s: Settings) -> None:
    env = s.to_env()
    assert all(k.startswith("MTSERVE_") and isinstance(v, str) for k, v in env.items())
    assert Settings.from_env(env) == s
    assert load_settings(None, environ=env) == s  # what a launched server does
    wire = msgpack.unpackb(msgpack.packb(s.to_wire()))  # the standby's fork request
    assert Settings.from_wire(wire, "standby request") == s
    assert Settings.from_wire(pickle.loads(pickle.dumps(s.to_wire())), "supervisor") == s  # spawn


def test_settings_from_wire_checks_its_input() -> None:
    wire = Settings().to_wire()
    with pytest.raises(ConfigError, match="standby request: settings must name every setting"):
        Settings.from_wire({k: v for k, v in wire.items() if k != "heartbeat"}, "standby request")
    with pytest.raises(ConfigError, match="must name every setting"):
        Settings.from_wire([1, 2], "standby request")
    with pytest.raises(ConfigError, match="standby request: max-servers must be int"):
        Settings.from_wire({**wire, "max_servers": "many"}, "standby request")
    with pytest.raises(ConfigError, match="environment MTSERVE_HEARTBEAT"):
        Settings.from_env({"MTSERVE_HEARTBEAT": "-1"})
    assert Settings.from_env({}) == Settings()
