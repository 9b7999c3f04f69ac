"""Registering a ticket: kind, town/street, recording, commit before the number is read, hang-ups."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.channel import RecordEnd
from menus.flow import FlowRunner
from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Barge, Hangup, Keys, MemoryServices, Say, Silence, Speak
from tests.menus.sample import TOWNS
from tickets.enums import CallOutcome, Kind

PAGE_1 = ("请选择事情发生地所在的街道或镇。龙泉街道请按1，大面街道请按2，十陵街道请按3，同安街道请按4，东安街道请按5，"
          "柏合街道请按6，西河街道请按7，洪河街道请按8，其他街道和镇请按9，不清楚请按井号键跳过。")
PAGE_2 = "洛带镇请按1，黄土镇请按2，山泉镇请按3，茶店镇请按4，从头再听请按9，不清楚请按井号键跳过。"
RECORD = "请在提示音后说明您的诉求，包括事情发生的具体地点和经过，最长两分钟，说完请按井号键。"
NUMBERS = ("您的诉求已登记。工单编号是202600000001再说一遍，工单编号是202600000001提取码是001001"
           "请记好工单编号和提取码，用于查询办理进度。")
AFTER = "重听工单编号请按星号键，返回主菜单请按9，人工服务请按0，如无其他需要请挂机。"
SILENT_END = (Silence(), Silence(), Silence())


async def test_complaint_with_town_and_recording(call: Call, services: MemoryServices, timeline: list[str]) -> None:
    record, channel = await call(Keys("2"), Keys("1"), Keys("3"), Speak(12.0), *SILENT_END)
    assert channel.heard[3:7] == [PAGE_1, RECORD, "[嘀]", NUMBERS]
    assert channel.heard[7] == AFTER
    (ticket,) = services.registered
    assert ticket["kind"] is Kind.COMPLAINT
    assert ticket["town_code"] == "510112003"
    assert ticket["caller_phone"] == "13812345678"
    assert ticket["recording_s"] == 12.0
    assert ticket["needs_callback"] is False
    path = ticket["recording"]
    assert isinstance(path, Path)
    assert path == channel.recordings[0].path and path.name == "call-1-1.wav"
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (8000, 1, 96000)
    # committed before the caller hears the number
    assert timeline.index("register 202600000001") < timeline.index(f"play {NUMBERS}")
    assert record.outcome is CallOutcome.TICKET_REGISTERED and record.ticket_number == "202600000001"
    assert record.path == ("main", "register", "register.complaint", "register.town", "register.record",
                           "register.done", "goodbye")


async def test_recording_limits_come_from_the_settings(call: Call) -> None:
    _, channel = await call(Keys("2"), Keys("1"), Keys("#"), Speak(500.0, RecordEnd.MAX_LENGTH), *SILENT_END)
    assert channel.record_calls == [(120.0, 5.0, "#")]
    assert channel.recordings[0].duration_s == 120.0  # the double honours max_s as the worker does


@pytest.mark.parametrize("key,kind", [("1", Kind.COMPLAINT), ("2", Kind.HELP), ("3", Kind.SUGGESTION),
                                      ("4", Kind.CONSULTATION), ("5", Kind.REPORT)])
async def test_kinds(call: Call, services: MemoryServices, key: str, kind: Kind) -> None:
    await call(Keys("2"), Keys(key), Keys("#"), Speak(5.0, RecordEnd.SILENCE), *SILENT_END)
    assert services.registered[0]["kind"] is kind
    assert services.registered[0]["town_code"] is None


async def test_second_town_page_and_back_to_the_first(call: Call, services: MemoryServices) -> None:
    _, channel = await call(Keys("2"), Keys("1"), Keys("9"), Keys("9"), Keys("9"), Keys("2"), Speak(3.0),
                            *SILENT_END)
    assert channel.heard[3:6] == [PAGE_1, PAGE_2, PAGE_1]
    assert channel.heard[6] == PAGE_2
    assert services.registered[0]["town_code"] == "510112102"


async def test_town_by_voice_and_skip_by_voice(call: Call, services: MemoryServices) -> None:
    _, channel = await call(Keys("2"), Keys("1"), Say("洛带"), Speak(3.0), *SILENT_END)
    assert services.registered[0]["town_code"] == "510112101"
    grammar = channel.collects[2]["grammar"]
    assert isinstance(grammar, tuple)
    assert {"龙泉街道", "龙泉", "洛带镇", "洛带", "跳过"} <= set(grammar)
    await call(Keys("2"), Keys("1"), Say("不清楚"), Speak(3.0), *SILENT_END)
    assert services.registered[1]["town_code"] is None


async def test_few_towns_fit_on_one_page(call: Call, make_runner: Callable[..., FlowRunner],
                                         services: MemoryServices) -> None:
    runner = make_runner(towns=TOWNS[:3])
    _, channel = await call(Keys("2"), Keys("1"), Keys("3"), Speak(3.0), *SILENT_END, runner=runner)
    assert channel.heard[3] == ("请选择事情发生地所在的街道或镇。龙泉街道请按1，大面街道请按2，十陵街道请按3，"
                                "不清楚请按井号键跳过。")
    assert services.registered[0]["town_code"] == "510112003"
    _, channel = await call(Keys("2"), Keys("1"), Speak(3.0), *SILENT_END, runner=make_runner(towns=()))
    assert channel.heard[3] == RECORD


async def test_hangup_while_recording_still_leaves_a_ticket(call: Call, services: MemoryServices) -> None:
    record, channel = await call(Keys("2"), Keys("2"), Keys("1"), Speak(30.0, RecordEnd.HANGUP))
    (ticket,) = services.registered
    assert ticket["needs_callback"] is True
    assert ticket["recording_s"] == 30.0 and ticket["recording"] == channel.recordings[0].path
    assert ticket["kind"] is Kind.HELP and ticket["town_code"] == "510112001"
    assert channel.heard[-1] == "[嘀]"  # nothing played after the hang-up
    assert record.outcome is CallOutcome.TICKET_REGISTERED and record.ticket_number == "202600000001"
    assert services.records == [record]


async def test_hangup_right_at_the_tone_leaves_a_ticket_without_audio(call: Call, services: MemoryServices) -> None:
    await call(Keys("2"), Keys("2"), Keys("1"), Speak(0.0, RecordEnd.HANGUP))
    (ticket,) = services.registered
    assert ticket["recording"] is None and ticket["needs_callback"] is True


async def test_empty_recording_asks_again_then_an_agent(call: Call, services: MemoryServices) -> None:
    short = Speak(0.4, RecordEnd.SILENCE)
    record, channel = await call(Keys("2"), Keys("1"), Keys("#"), short, short, short, Agent(True))
    sorry = "对不起，没有录到您的声音。"
    assert channel.heard[4:] == [RECORD, "[嘀]", sorry + RECORD, "[嘀]", sorry + RECORD, "[嘀]",
                                 "正在为您转接人工服务，请稍候。"]
    assert [r.path.name for r in channel.recordings] == ["call-1-1.wav", "call-1-2.wav", "call-1-3.wav"]
    assert services.registered == []
    assert record.outcome is CallOutcome.TRANSFERRED


async def test_keys_during_the_recording_instructions(call: Call, services: MemoryServices) -> None:
    # * hears them again, # starts at once, 0 reaches an agent
    _, channel = await call(Keys("2"), Keys("1"), Keys("#"), Barge("*"), Barge("#"), Speak(3.0), *SILENT_END)
    assert channel.heard[4:7] == [RECORD, RECORD, "[嘀]"]
    record, channel = await call(Keys("2"), Keys("1"), Keys("#"), Barge("0"), Agent(True))
    assert record.path[-2:] == ("register.record", "agent")


async def test_star_repeats_the_ticket_number(call: Call) -> None:
    _, channel = await call(Keys("2"), Keys("1"), Keys("#"), Speak(3.0), Keys("*"), *SILENT_END)
    assert channel.heard.count(NUMBERS) == 2


async def test_unsafe_call_id_in_the_file_name(call: Call, services: MemoryServices, tmp_path: Path) -> None:
    await call(Keys("2"), Keys("1"), Keys("#"), Speak(3.0), *SILENT_END, call_id="a/b c@host")
    assert services.registered[0]["recording"] == tmp_path / "recordings" / "a_b_c@host-1.wav"


async def test_store_failure_hands_the_caller_to_an_agent(call: Call, services: MemoryServices) -> None:
    services.register_error = RuntimeError("database is down")
    record, channel = await call(Keys("2"), Keys("1"), Keys("#"), Speak(3.0), Agent(True), allow_errors=True)
    assert channel.heard[-2:] == ["对不起，系统暂时繁忙。", "正在为您转接人工服务，请稍候。"]
    assert record.outcome is CallOutcome.TRANSFERRED
    assert services.records == [record]


async def test_hangup_before_the_tone_leaves_no_ticket(call: Call, services: MemoryServices) -> None:
    record, _ = await call(Keys("2"), Keys("1"), Keys("#"), Hangup())
    assert services.registered == []
    assert record.outcome is CallOutcome.ABANDONED
