"""``hotline stb add|list|revoke`` against a migrated SQLite database."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import yaml

from ivr.cli import main
from stb_api.devices import DeviceRegistry
from tickets.config import load_settings
from tickets.store import Store


def _config(tmp_path: Path, secret_key: str = "cli-secret-key-0123456789") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": "sqlite+aiosqlite:///h.db"},
                                    "security": {"secret_key": secret_key}}), encoding="utf-8")
    return path


async def _secret_of(cfg: Path, stbid: str) -> str:
    settings = load_settings(cfg, env={})
    store = Store(settings)
    try:
        registry = DeviceRegistry(store.sessions, settings.security.secret_key)
        device = await registry.get(stbid)
        assert device is not None
        return registry.secret_of(device)
    finally:
        await store.close()


def test_add_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(_config(tmp_path))
    assert main(["--config", cfg, "db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["--config", cfg, "stb", "add", "--stbid", "0010039900E0", "--mac", "00-1a-2b-3c-4d-5e",
                 "--ca", "8001234567", "--town", "510112001000"]) == 0
    out = capsys.readouterr().out
    assert "registered 0010039900E0 (MAC 00:1A:2B:3C:4D:5E)" in out
    secret = re.search(r"shown once.*: (\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
    assert secret == asyncio.run(_secret_of(Path(cfg), "0010039900E0"))
    assert main(["--config", cfg, "stb", "add", "--stbid", "0010039900E0", "--mac", "001a2b3c4d5e"]) == 1
    assert "already registered" in capsys.readouterr().err
    assert main(["--config", cfg, "stb", "add", "--stbid", "BOX2", "--mac", "nope"]) == 1
    assert "mac: expected 6 hex byte pairs" in capsys.readouterr().err
    assert main(["--config", cfg, "stb", "list"]) == 0
    assert "0010039900E0\t00:1A:2B:3C:4D:5E\t8001234567\t510112001000\tactive" in capsys.readouterr().out
    assert main(["--config", cfg, "stb", "revoke", "0010039900E0"]) == 0
    assert main(["--config", cfg, "stb", "list", "--active"]) == 0
    assert capsys.readouterr().out == "revoked 0010039900E0\n"
    assert main(["--config", cfg, "stb", "revoke", "NOBOX"]) == 1
    assert "no set-top box with stbid NOBOX" in capsys.readouterr().err
