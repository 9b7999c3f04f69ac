"""Reloading the menu on SIGHUP: new calls get the new menu, calls in progress keep theirs, a broken file
keeps the old menu."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from menus.flow import FlowRunner
from menus.loader import MenuHolder
from menus.schema import Menu, MenuError
from menus.speech import static_texts
from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Keys, Pause, ScriptedChannel, TranscriptPrompts
from tests.menus.sample import MENU_FILE, TOWNS

OLD_MAIN = "查询工单办理进度请按1，投诉、求助、建议、咨询、举报请按2，办事指南请按3，人工服务请按0。"
NEW_MAIN = "查询办理进度请按1，反映问题请按2，办事指南请按3，人工服务请按0。"


@pytest.fixture
def menu_file(tmp_path: Path) -> Path:
    path = tmp_path / "main.yaml"
    shutil.copy(MENU_FILE, path)
    return path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def holder(menu_file: Path, prompts: TranscriptPrompts) -> MenuHolder:
    return MenuHolder(menu_file, prepare=lambda m: prompts.prepare(static_texts(m, towns=TOWNS)))


async def test_reload_swaps_the_menu_for_new_calls_only(
        call: Call, holder: MenuHolder, menu_file: Path, make_runner: Callable[..., FlowRunner]) -> None:
    runner = make_runner(menu_=holder)
    reached, resume = asyncio.Event(), asyncio.Event()
    # a call in progress: it has heard the old main menu and waits before pressing 2
    old_channel = ScriptedChannel([Keys("2"), Pause(reached, resume), Keys("9"), Keys("0"), Agent(True)])
    in_progress = asyncio.create_task(runner.run(old_channel))
    await reached.wait()
    old_menu = holder.current

    _edit(menu_file, OLD_MAIN, NEW_MAIN)
    assert holder.reload() is True
    assert holder.current is not old_menu and holder.generation == 2

    _, new_channel = await call(Keys("0"), Agent(True), runner=runner)
    assert new_channel.heard[1] == NEW_MAIN

    resume.set()
    await in_progress
    assert old_channel.heard[1] == OLD_MAIN
    assert old_channel.heard[3] == OLD_MAIN  # back to the main menu of the menu it started with


async def test_a_broken_file_keeps_the_old_menu(
        holder: MenuHolder, menu_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    old_menu = holder.current
    _edit(menu_file, "action: guides", "action: guidse")
    with caplog.at_level(logging.ERROR, logger="menus.loader"):
        assert holder.reload() is False
    assert holder.current is old_menu and holder.generation == 1
    assert "not reloaded, keeping generation 1: nodes.main.choices[2].action: unknown action 'guidse'" in caplog.text
    menu_file.unlink()
    assert holder.reload() is False
    assert holder.current is old_menu


async def test_failed_prepare_keeps_the_old_menu(menu_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Menu] = []

    def prepare(menu: Menu) -> None:
        calls.append(menu)
        if len(calls) > 1:
            raise OSError("disk full")

    holder = MenuHolder(menu_file, prepare=prepare)
    old_menu = holder.current
    with caplog.at_level(logging.ERROR, logger="menus.loader"):
        assert holder.reload() is False
    assert holder.current is old_menu
    assert "preparing its prompts failed" in caplog.text and "OSError: disk full" in caplog.text


async def test_a_bad_file_at_startup_raises(menu_file: Path) -> None:
    _edit(menu_file, "target: register", "target: regsiter")
    with pytest.raises(MenuError, match=r"^nodes\.main\.choices\[1\]\.target: unknown node 'regsiter'$"):
        MenuHolder(menu_file)


async def test_sighup_reloads_in_a_thread(holder: MenuHolder, menu_file: Path) -> None:
    loop = asyncio.get_running_loop()
    fired = asyncio.Event()
    tasks: list[asyncio.Task[bool]] = []
    reload_soon = holder.reload_soon

    def spy() -> asyncio.Task[bool]:
        tasks.append(reload_soon())
        fired.set()
        return tasks[-1]

    holder.reload_soon = spy  # type: ignore[method-assign]
    holder.install_sighup(loop)
    try:
        _edit(menu_file, OLD_MAIN, NEW_MAIN)
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(fired.wait(), timeout=5)
        assert await tasks[0] is True
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
    assert holder.current.node("main").prompt.text == NEW_MAIN


async def test_runner_reload(holder: MenuHolder, menu_file: Path, make_runner: Callable[..., FlowRunner]) -> None:
    runner = make_runner(menu_=holder)
    _edit(menu_file, OLD_MAIN, NEW_MAIN)
    task = runner.reload()
    assert task is not None and await task is True
    assert runner.menu.node("main").prompt.text == NEW_MAIN
    _edit(menu_file, "start: main", "start: nowhere")
    task = runner.reload()
    assert task is not None and await task is False
    assert runner.menu.node("main").prompt.text == NEW_MAIN
    assert make_runner().reload() is None  # a fixed menu
