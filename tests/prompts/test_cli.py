"""``hotline prompts render``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ivr import prompts_cli
from ivr.prompts import PromptLibrary

from .conftest import make_settings


def run(argv: list[str], settings: object) -> int:
    parser = argparse.ArgumentParser(prog="hotline")
    prompts_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args, settings))


def test_render_pieces_and_texts_file(
    tmp_path: Path, session_cache: Path, pieces: PromptLibrary, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("# the welcome\nwelcome\t欢迎致电九六五三六\n\n请稍候\n", encoding="utf-8")
    settings = make_settings(tmp_path, session_cache, tmp_path / "recordings")
    assert run(["prompts", "render", "--texts", str(texts)], settings) == 0
    out = capsys.readouterr().out
    assert "prompts: 2 texts and the number pieces ready" in out
    assert "rendered 2 " in out  # the pieces came from the session cache
    assert "KiB" in out

    assert run(["prompts", "render", "--texts", str(texts)], settings) == 0
    assert "rendered 0 " in capsys.readouterr().out


def test_render_refuses_a_bad_texts_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("welcome\t\n", encoding="utf-8")
    settings = make_settings(tmp_path, tmp_path / "cache", tmp_path / "recordings")
    assert run(["prompts", "render", "--texts", str(texts)], settings) == 2
    expected = f"hotline prompts: {texts}:1: expected 'key<TAB>text' or 'text', got 'welcome\\t'\n"
    assert capsys.readouterr().err == expected
    assert run(["prompts", "render", "--texts", str(tmp_path / "missing.txt")], settings) == 2
    assert "cannot read prompt texts" in capsys.readouterr().err


def test_render_reports_an_unusable_cache_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings = make_settings(tmp_path, blocker / "cache", tmp_path / "recordings")
    assert run(["prompts", "render"], settings) == 1
    assert capsys.readouterr().err.startswith(f"hotline prompts: cannot create the prompt cache folder {blocker}/cache")
