"""Typed, frozen settings: defaults, relative paths, environment overrides and clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tickets.config import ConfigError, load_settings, settings_from_mapping

ROOT = Path(__file__).resolve().parents[2]


def test_project_config_loads_with_paths_relative_to_it() -> None:
    s = load_settings(ROOT / "config.yaml", env={})
    assert s.web.port == 8080 and s.sip.port == 5060
    assert s.database.url == f"sqlite+aiosqlite:///{ROOT / 'var' / 'hotline.db'}"
    assert s.paths.recordings_dir == ROOT / "var" / "recordings"
    assert s.sip.codecs == ("PCMA", "PCMU", "G722")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.web.port = 1  # type: ignore[misc]


def test_environment_overrides(tmp_path: Path) -> None:
    env = {"HOTLINE_DB_URL": "postgresql+asyncpg://u@db/hotline", "HOTLINE_SECRET_KEY": "k" * 32,
           "HOTLINE_CONFIG": str(ROOT / "config.yaml")}
    s = load_settings(env=env)
    assert s.database.url == "postgresql+asyncpg://u@db/hotline"
    assert s.security.secret_key == "k" * 32


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"web": {"port": "eighty"}}, "web.port: expected an integer, got 'eighty'"),
        ({"web": {"port": 70000}}, "web.port: expected a port 0-65535, got 70000"),
        ({"sip": {"codecs": ["OPUS"]}}, "sip.codecs[0]: expected one of 'PCMA', 'PCMU', 'G722', got 'OPUS'"),
        ({"sip": {"trunks": [{"name": "x"}]}}, "sip.trunks[0].network: missing (expected a string)"),
        ({"sip": {"allowed_networks": ["10.0.0.300/8"]}},
         "sip.allowed_networks[0]: expected a network like 10.0.0.0/8, got '10.0.0.300/8'"),
        ({"ivr": {"no_input_timeout": 5}}, "ivr.no_input_timeout: unknown key"),
        ({"database": {"url": "mysql://x"}}, "database.url: expected a sqlite+aiosqlite:// or postgresql+asyncpg://"),
        ({"tickets": []}, "tickets: expected a mapping, got []"),
        ({"ivr": {"max_retries": 0}}, "ivr.max_retries: expected at least 1, got 0"),
    ],
)
def test_wrong_values_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(data, ROOT, env={})
    assert str(info.value).startswith(message)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("web: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, env={})
    bad.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_settings(bad, env={})


def test_secret_key_generated_once_into_data_dir(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("paths: {data_dir: data}\n", encoding="utf-8")
    first = load_settings(cfg, env={})
    key_file = tmp_path / "data" / "secret.key"
    assert len(first.security.secret_key) == 64 and key_file.stat().st_mode & 0o777 == 0o600
    assert load_settings(cfg, env={}).security.secret_key == first.security.secret_key
    assert load_settings(cfg, env={"HOTLINE_SECRET_KEY": "x" * 40}).security.secret_key == "x" * 40
