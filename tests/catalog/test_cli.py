"""``hotline guides import/export/search`` through ivr.cli.main with a temporary configuration, on both
databases."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ivr.cli import main
from tickets.catalog import Catalog
from tickets.config import DatabaseSettings
from tickets.db import create_engine, session_factory

from .conftest import KINDS, SAMPLE, create_tables, fresh_database


@pytest.fixture(params=KINDS)
def config(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("HOTLINE_DB_URL", raising=False)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    with fresh_database(request.param, tmp_path) as url:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump({"database": {"url": url}, "logging": {"level": "WARNING"}}), encoding="utf-8")
        yield path


def _revision_and_count(config: Path) -> tuple[int, int]:
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["database"]["url"]

    async def read() -> tuple[int, int]:
        await create_tables(url)  # the bad import may have stopped before the database was touched
        engine = create_engine(DatabaseSettings(url=url))
        try:
            snap = await Catalog(session_factory(engine)).snapshot()
            return snap.revision, len(snap.items)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_import_export_round_trip(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(config), "guides"]
    assert main([*cfg, "import", str(SAMPLE)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "guides.yaml: added 46, updated 0, unchanged 0 (catalog revision 1)\n"
    assert captured.err == ""  # no progress bar when standard error is not a terminal
    assert main([*cfg, "import", str(SAMPLE)]) == 0
    assert capsys.readouterr().out == "guides.yaml: added 0, updated 0, unchanged 46 (catalog revision 1)\n"

    for name in ("out.csv", "out.json", "out.yml"):
        assert main([*cfg, "export", str(tmp_path / name)]) == 0
        assert capsys.readouterr().err == f"wrote 46 items (catalog revision 1) to {tmp_path / name}\n"
        assert main([*cfg, "import", str(tmp_path / name)]) == 0
        assert capsys.readouterr().out == f"{name}: added 0, updated 0, unchanged 46 (catalog revision 1)\n"

    assert main([*cfg, "export"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# 96536 service-guide catalog (办事指南), revision 1, 46 items\nitems:\n")
    assert out == (tmp_path / "out.yml").read_text(encoding="utf-8")
    assert main([*cfg, "export", "--format", "json"]) == 0
    assert capsys.readouterr().out == (tmp_path / "out.json").read_text(encoding="utf-8")

    exported = (tmp_path / "out.yml").read_text(encoding="utf-8")
    edited = exported.replace("promised_limit_days: 5\n", "promised_limit_days: 4\n", 1)
    (tmp_path / "edited.yaml").write_text(edited, encoding="utf-8")
    assert main([*cfg, "import", str(tmp_path / "edited.yaml")]) == 0
    assert capsys.readouterr().out == "edited.yaml: added 0, updated 1, unchanged 45 (catalog revision 2)\n"


def test_bad_file_imports_nothing(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(config), "guides"]
    text = SAMPLE.read_text(encoding="utf-8")
    bad = (text.replace("basic_code: QR00107001", "basic_code: QR107001")
               .replace("consult_phone: 028-84860010", "consult_phone: 84860010", 1)
               .replace("promised_limit_days: 5\n", "promised_limit_days: 4\n", 1))  # a good change, not applied
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")
    assert main([*cfg, "import", str(tmp_path / "bad.yaml")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "row 7, field basic_code: expected QR + 8 digits (5-digit main item, 3-digit sub-item), got 'QR107001'\n"
        "row 43, field consult_phone: expected a number like 028-84851234 or a 5-6 digit hotline, got '84860010'\n"
        "hotline guides import: nothing imported from bad.yaml (2 problems)\n"
    )
    assert _revision_and_count(config) == (0, 0)

    assert main([*cfg, "import", str(SAMPLE)]) == 0
    capsys.readouterr()
    assert main([*cfg, "import", str(tmp_path / "bad.yaml")]) == 1
    assert _revision_and_count(config) == (1, 46)  # the good edit in the bad file was not applied either
    capsys.readouterr()

    (tmp_path / "broken.json").write_text('{"items": [', encoding="utf-8")
    assert main([*cfg, "import", str(tmp_path / "broken.json")]) == 1
    assert capsys.readouterr().err == (
        "broken.json: not valid JSON at line 1, column 12: Expecting value\n"
        "hotline guides import: nothing imported from broken.json (1 problem)\n"
    )
    assert main([*cfg, "export", str(tmp_path / "out.txt")]) == 2
    assert capsys.readouterr().err == (
        "hotline guides export: unknown format for out.txt (expected .yaml, .yml, .json or .csv)\n")


def test_search_command(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(config), "guides"]
    assert main([*cfg, "import", str(SAMPLE)]) == 0
    capsys.readouterr()
    assert main([*cfg, "search", "4579"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "0 found\n"
    assert main([*cfg, "search", "hkq"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[1] for line in lines] == ["户口迁入登记", "户口迁出登记"]
    assert lines[0].endswith("[hkqrdj 457735]  仅跑一次")
    assert main([*cfg, "search", "户口", "--mode", "digits"]) == 2
    assert capsys.readouterr().err == "hotline guides search: digits search expects the digits 0-9, got '户口'\n"


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """The real console script on a pseudo-terminal (80 columns) draws the tqdm bar on standard error."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"},
                                      "logging": {"level": "WARNING"}}), encoding="utf-8")
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("HOTLINE_DB_URL", "HOTLINE_CONFIG")}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ivr.cli", "--config", str(config), "guides", "import", str(SAMPLE)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=env, timeout=60, check=False,
        )
    finally:
        os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO once the terminal side is closed and drained
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)
    assert proc.returncode == 0
    assert proc.stdout.decode() == "guides.yaml: added 46, updated 0, unchanged 0 (catalog revision 1)\n"
    assert "importing: 100%" in screen.decode() and "46/46" in screen.decode()
