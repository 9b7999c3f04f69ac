"""The store's CLI: migrations on an empty PostgreSQL database and on SQLite, calendar and users."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml

from ivr.cli import main
from tests import pgutil
from tickets.workdays import parse_calendar
from tickets.migrate import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": url}}), encoding="utf-8")
    return path


def _head() -> str:
    return sorted(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("*.py"))[-1]


def test_db_upgrade_on_empty_postgres(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pgutil.require_postgres()
    with pgutil.temporary_database() as name:
        cfg = _config(tmp_path, pgutil.url_for(name))
        assert main(["--config", str(cfg), "db", "current"]) == 0
        assert "empty" in capsys.readouterr().out
        assert main(["--config", str(cfg), "db", "upgrade"]) == 0
        assert f"database at revision {_head()}" in capsys.readouterr().out
        assert main(["--config", str(cfg), "db", "upgrade"]) == 0  # idempotent


def test_db_upgrade_sqlite_and_calendar_and_users(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path, "sqlite+aiosqlite:///data/h.db")
    assert main(["--config", str(cfg), "db", "upgrade"]) == 0
    assert (tmp_path / "data" / "h.db").exists()
    assert main(["--config", str(cfg), "calendar", "load", str(ROOT / "tickets/data/calendar-2026.yaml")]) == 0
    assert "loaded 39 calendar days" in capsys.readouterr().out
    assert main(["--config", str(cfg), "departments", "add", "ZJJ", "区住房和城乡建设局"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long passphrase\n"))
    assert main(["--config", str(cfg), "users", "add", "li", "李坐席", "--role", "agent"]) == 0
    assert "user li (agent) added" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["--config", str(cfg), "users", "add", "wu", "吴", "--role", "agent"]) == 1
    assert "at least 10 characters" in capsys.readouterr().err


def test_bad_calendar_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"^x: holidays\[0\]: expected dates as YYYY-MM-DD"):
        parse_calendar({"holidays": [{"date": "2026-13-01"}]}, "x")
    with pytest.raises(ValueError, match=r"^x: holidays\[0\]: 'to' is before 'from'$"):
        parse_calendar({"holidays": [{"from": "2026-10-07", "to": "2026-10-01"}]}, "x")
    with pytest.raises(ValueError, match=r"^x: workdays\[0\]: missing 'from'$"):
        parse_calendar({"workdays": [{"name": "?"}]}, "x")
    with pytest.raises(ValueError, match="expected a mapping with 'holidays'"):
        parse_calendar(["2026-01-01"], "x")
    cfg = _config(tmp_path, "sqlite+aiosqlite:///h.db")
    bad = tmp_path / "cal.yaml"
    bad.write_text("holidays: [{date: nope}]\n", encoding="utf-8")
    assert main(["--config", str(cfg), "calendar", "load", str(bad)]) == 2
    assert "expected dates as YYYY-MM-DD" in capsys.readouterr().err


def test_config_error_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("web: {port: x}\n", encoding="utf-8")
    assert main(["--config", str(cfg), "db", "current"]) == 2
    assert "configuration error: web.port: expected an integer" in capsys.readouterr().err
