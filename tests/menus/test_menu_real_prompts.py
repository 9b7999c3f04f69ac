"""The flow on the real prompt library (espeak-ng renders, recorded overrides by prompt key): everything the
flow plays was prepared at start-up from ``static_texts``, and every path is a telephone WAV."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from ivr.channel import RecordEnd
from ivr.prompts import PromptLibrary
from menus.flow import FlowRunner
from menus.schema import Menu
from menus.speech import static_texts
from tests.menus.doubles import Agent, Keys, MemoryServices, ScriptedChannel, Silence, Speak
from tests.menus.sample import AGENTS, DEPARTMENTS, GUIDES, IVR, TICKET, TOWNS
from tickets.config import settings_from_mapping

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (Debian espeak-ng)")


@pytest.fixture(scope="module")
def recorded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recorded override for the main menu prompt (its key is main_menu)."""
    folder = tmp_path_factory.mktemp("recorded")
    with wave.open(str(folder / "main_menu.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x10\x00" * 8000)
    return folder


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, recorded_dir: Path, menu: Menu) -> PromptLibrary:
    root = tmp_path_factory.mktemp("real-prompts")
    settings = settings_from_mapping(
        {"paths": {"prompt_cache_dir": str(root / "cache")}, "ivr": {"prompts_dir": str(recorded_dir)}}, root, env={})
    lib = PromptLibrary(settings)
    lib.prepare_pieces()
    lib.prepare(static_texts(menu, towns=TOWNS, departments=DEPARTMENTS, guides=GUIDES))
    return lib


@pytest.mark.parametrize("script", [
    (Keys("2"), Keys("1"), Keys("9"), Keys("2"), Speak(2.0), Keys("*"), Silence(), Silence(), Silence()),
    (Keys("1"), Keys("202600000042#"), Keys("000000#"), Keys("135790#"), Keys("9"), Keys("3"), Keys("1"),
     Keys("0"), Agent(False)),
    (Keys("2"), Keys("1"), Keys("#"), Speak(9.0, RecordEnd.HANGUP)),
], ids=["register", "progress-guides-callback", "hangup-recording"])
async def test_everything_played_was_prepared(library: PromptLibrary, recorded_dir: Path, menu: Menu,
                                              tmp_path: Path, script: tuple[object, ...]) -> None:
    services = MemoryServices()
    services.add(TICKET, "135790")
    services.guides = list(GUIDES)
    played: list[Path] = []
    channel = ScriptedChannel(script)  # type: ignore[arg-type]
    real_play = channel.play

    async def play(prompts, *, barge_in=True):  # type: ignore[no-untyped-def]
        played.extend(prompts)
        return await real_play(prompts, barge_in=barge_in)

    channel.play = play  # type: ignore[method-assign]
    misses = library.stats.misses
    runner = FlowRunner(menu, library, services, IVR, AGENTS, tmp_path / "recordings", TOWNS)
    record = await runner.run(channel)
    assert channel.script == []
    assert library.stats.misses == misses, "the flow said something static_texts did not list"
    assert services.records == [record]
    assert played[1] == recorded_dir / "main_menu.wav"  # the recorded override, by prompt key
    for path in set(played):
        with wave.open(str(path)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2), path
