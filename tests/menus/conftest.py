"""Fixtures for the flow tests: the real main.yaml, a transcript prompt source prepared with
``static_texts`` (so any text the flow says that was not listed is a miss), in-memory services."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ivr.services import CallRecordData
from menus.flow import FlowRunner
from menus.loader import MenuHolder, load_menu
from menus.schema import Menu
from menus.speech import static_texts
from tests.menus.doubles import Entry, MemoryServices, ScriptedChannel, TranscriptPrompts
from tests.menus.sample import AGENTS, DEPARTMENTS, GUIDES, IVR, MENU_FILE, TICKET, TOWNS
from tickets.config import IvrSettings

Call = Callable[..., Awaitable[tuple[CallRecordData, ScriptedChannel]]]


@pytest.fixture(scope="session")
def menu() -> Menu:
    return load_menu(MENU_FILE)


@pytest.fixture
def timeline() -> list[str]:
    return []


@pytest.fixture
def prompts(menu: Menu) -> TranscriptPrompts:
    source = TranscriptPrompts()
    source.prepare(static_texts(menu, towns=TOWNS, departments=DEPARTMENTS, guides=GUIDES))
    return source


@pytest.fixture
def services(timeline: list[str]) -> MemoryServices:
    svc = MemoryServices(timeline=timeline)
    svc.add(TICKET, "135790")
    svc.guides = list(GUIDES)
    return svc


@pytest.fixture
def make_runner(menu: Menu, prompts: TranscriptPrompts, services: MemoryServices,
                tmp_path: Path) -> Callable[..., FlowRunner]:
    def make(*, menu_: Menu | MenuHolder | None = None, ivr: IvrSettings = IVR, **kwargs: Any) -> FlowRunner:
        return FlowRunner(menu_ or menu, prompts, services, ivr, AGENTS, tmp_path / "recordings",
                          kwargs.pop("towns", TOWNS), **kwargs)

    return make


@pytest.fixture
def call(make_runner: Callable[..., FlowRunner], prompts: TranscriptPrompts, timeline: list[str],
         caplog: pytest.LogCaptureFixture) -> Call:
    """Run one call through the flow; asserts the script was used up, nothing unprepared was said and nothing
    went wrong (the flow logs a failure and rescues the call, so a broken script would otherwise pass)."""

    async def run(*script: Entry, runner: FlowRunner | None = None, allow_rest: bool = False,
                  allow_errors: bool = False, **caller: Any) -> tuple[CallRecordData, ScriptedChannel]:
        channel = ScriptedChannel(script, timeline=timeline, **caller)
        caplog.clear()
        record = await (runner or make_runner()).run(channel)
        if not allow_errors:
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert not errors, f"the flow logged errors: {errors}"
        if not allow_rest:
            assert channel.script == [], f"script not used up: {channel.script} (heard: {channel.said})"
        assert prompts.misses == [], f"said but not prepared: {prompts.misses}"
        return record, channel

    return run
