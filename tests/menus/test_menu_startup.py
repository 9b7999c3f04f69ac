"""The worker's wiring: build_flow loads the configured menu and prepares every prompt before calls."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from menus.schema import MenuError
from menus.startup import build_flow
from tests.menus.doubles import (
    Agent,
    Entry,
    Keys,
    MemoryServices,
    ScriptedChannel,
    Silence,
    Speak,
    TranscriptPrompts,
)
from tests.menus.sample import DEPARTMENTS, GUIDES, MENU_FILE, TICKET, TOWNS
from tickets.config import Settings
from tickets.enums import CallOutcome


@pytest.fixture
def flow_services() -> MemoryServices:
    services = MemoryServices()
    services.add(TICKET, "135790")
    services.guides = list(GUIDES)
    return services


async def test_build_flow_prepares_everything_the_calls_say(tmp_settings: Settings,
                                                            flow_services: MemoryServices) -> None:
    prompts = TranscriptPrompts()
    runner = await build_flow(tmp_settings, prompts, flow_services, towns=TOWNS, departments=DEPARTMENTS,
                              worker="worker-1")
    assert flow_services.guide_limits == [5]
    scripts: list[list[Entry]] = [
        [Keys("3"), Keys("1"), Keys("1"), Keys("2"), Keys("1"), Keys("3"), Keys("9"), Keys("0"), Agent(False)],
        [Keys("1"), Keys("202600000042#"), Keys("135790#"), Silence(), Silence(), Silence()],
        [Keys("2"), Keys("5"), Keys("9"), Keys("4"), Speak(3.0), Silence(), Silence(), Silence()],
    ]
    for script in scripts:
        channel = ScriptedChannel(script)
        record = await runner.run(channel)
        assert channel.script == [] and record.worker == "worker-1"
    assert prompts.misses == []
    assert [r.outcome for r in flow_services.records] == [
        CallOutcome.CALLBACK_REQUESTED, CallOutcome.SELF_SERVED, CallOutcome.TICKET_REGISTERED]
    recording = flow_services.registered[-1]["recording"]
    assert isinstance(recording, Path) and recording.parent == tmp_settings.paths.recordings_dir


async def test_build_flow_refuses_a_bad_menu(tmp_settings: Settings, tmp_path: Path,
                                             flow_services: MemoryServices) -> None:
    bad = tmp_path / "main.yaml"
    shutil.copy(MENU_FILE, bad)
    bad.write_text(bad.read_text(encoding="utf-8").replace("action: progress", "action: progres"), encoding="utf-8")
    settings = tmp_settings.replace(ivr=dataclasses.replace(tmp_settings.ivr, menu_file=bad))
    with pytest.raises(MenuError, match=r"^nodes\.main\.choices\[0\]\.action: unknown action 'progres'"):
        await build_flow(settings, TranscriptPrompts(), flow_services)
