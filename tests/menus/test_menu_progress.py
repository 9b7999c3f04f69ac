"""Progress queries: the trusted caller's own tickets, or ticket number + extraction code, and every error."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Barge, Keys, MemoryServices, Say, Silence
from tests.menus.sample import TICKET, ticket
from tickets.enums import CallOutcome, Kind, Status

ASK_NUMBER = "请输入12位工单编号，以井号键结束。"
ASK_CODE = "请输入6位提取码，以井号键结束。"
STATUS = "您的投诉工单已于11月29日派往区住房和城乡建设局，正在办理中，预计12月18日前办结。"
AFTER = "返回主菜单请按9，人工服务请按0，重听请按星号键，如无其他需要请挂机。"
GOODBYE = "感谢您的来电，再见。"
SILENT_END = (Silence(), Silence(), Silence())


async def test_query_by_number_and_code(call: Call, services: MemoryServices) -> None:
    record, channel = await call(Keys("1"), Keys("202600000042#"), Keys("135790#"), *SILENT_END)
    assert channel.heard[2:6] == [ASK_NUMBER, ASK_CODE, STATUS, AFTER]
    assert channel.heard[-1] == GOODBYE and channel.flow_hung_up
    assert services.queries == [("202600000042", "135790")]
    assert record.outcome is CallOutcome.SELF_SERVED
    assert record.ticket_number == "202600000042"
    assert record.path == ("main", "progress", "progress.number", "progress.code", "progress.answer", "goodbye")
    number_collect, trailing, code_collect = channel.collects[1:4]
    assert (number_collect["max_digits"], number_collect["terminators"]) == (12, "#")
    assert (trailing["max_digits"], trailing["timeout_s"]) == (1, 1.0)  # the '#' after a complete entry
    assert (code_collect["max_digits"], code_collect["terminators"]) == (6, "#")


async def test_number_and_code_typed_in_one_go(call: Call, services: MemoryServices) -> None:
    _, channel = await call(Keys("1"), Keys("202600000042135790#"), *SILENT_END)
    assert channel.heard[2:5] == [ASK_NUMBER, STATUS, AFTER]  # the code prompt is skipped: already typed
    assert services.queries == [("202600000042", "135790")]


async def test_a_late_hash_after_a_complete_entry_is_ignored(call: Call, services: MemoryServices) -> None:
    # 12 digits end the entry; the caller's '#' arrives during the next prompt and cuts it: asked again
    _, channel = await call(Keys("1"), Keys("202600000042"), Barge("#"), Keys("135790"), *SILENT_END)
    assert channel.heard[2:6] == [ASK_NUMBER, ASK_CODE, ASK_CODE, STATUS]
    assert services.queries == [("202600000042", "135790")]


async def test_entries_end_by_length_and_typing_ahead_skips_prompts(call: Call) -> None:
    # the caller types the number over the prompt: the prompt stops and the digits carry on
    record, channel = await call(Keys("1"), Barge("2"), Keys("02600000042"), Keys("135790"), Keys("9"),
                                 Keys("0"), Agent(True))
    assert channel.heard[2:4] == [ASK_NUMBER, ASK_CODE]
    assert channel.heard[4:6] == [STATUS, AFTER]
    assert record.path[-2:] == ("main", "agent")


async def test_star_repeats_and_zero_reaches_an_agent_in_number_entry(call: Call) -> None:
    record, channel = await call(Keys("1"), Keys("*"), Keys("0#"), Agent(False))
    assert channel.heard[2:4] == [ASK_NUMBER, ASK_NUMBER]
    assert record.outcome is CallOutcome.CALLBACK_REQUESTED


async def test_bad_lengths_reprompt_then_escalate(call: Call, services: MemoryServices) -> None:
    record, channel = await call(Keys("1"), Keys("12345#"), Keys("202600000042#"), Keys("13#"), Keys("1357#"),
                                 Keys("13579#"), Agent(True))
    assert channel.heard[2:] == [
        ASK_NUMBER, "工单编号应为12位数字。" + ASK_NUMBER, ASK_CODE, "提取码应为6位数字。" + ASK_CODE,
        "提取码应为6位数字。" + ASK_CODE, "正在为您转接人工服务，请稍候。",
    ]
    assert services.queries == []
    assert record.path[-1] == "agent"


async def test_unknown_ticket_says_so_and_asks_again(call: Call) -> None:
    record, channel = await call(Keys("1"), Keys("209900000001#"), Keys("111111#"), Keys("202600000042#"),
                                 Keys("135790#"), *SILENT_END)
    assert channel.heard[4] == "没有查到这个工单编号，请核对后重新输入。"
    assert channel.heard[5:7] == [ASK_NUMBER, ASK_CODE]
    assert record.outcome is CallOutcome.SELF_SERVED


async def test_unknown_ticket_three_times_goes_to_an_agent(call: Call, services: MemoryServices) -> None:
    wrong = (Keys("209900000001#"), Keys("111111#"))
    record, _ = await call(Keys("1"), *wrong, *wrong, *wrong, Agent(False))
    assert len(services.queries) == 3
    assert record.outcome is CallOutcome.CALLBACK_REQUESTED
    (callback,) = services.registered
    assert callback["kind"] is Kind.CONSULTATION
    assert "工单209900000001未查到" in str(callback["note"])


async def test_wrong_code_says_attempts_left_and_asks_the_code_again(call: Call) -> None:
    record, channel = await call(Keys("1"), Keys("202600000042#"), Keys("000000#"), Keys("135790#"), *SILENT_END)
    assert channel.heard[2:6] == [ASK_NUMBER, ASK_CODE, "提取码不正确。您还可以再试两次。", ASK_CODE]
    assert channel.heard[6:8] == [STATUS, AFTER]
    assert record.outcome is CallOutcome.SELF_SERVED


async def test_wrong_code_until_locked(call: Call, services: MemoryServices) -> None:
    record, channel = await call(Keys("1"), Keys("202600000042#"), Keys("000000#"), Keys("000001#"),
                                 Keys("000002#"), Keys("0"), Agent(True))
    assert channel.heard[-3:-1] == ["提取码多次输入错误，电话查询已暂时锁定。", AFTER]
    assert services.locked_until["202600000042"] == services.now + dt.timedelta(minutes=30)
    assert record.path[-2:] == ("progress.locked", "agent")


async def test_locked_query_says_until_when_in_local_time(call: Call, services: MemoryServices) -> None:
    services.locked_until[TICKET.number] = dt.datetime(2026, 11, 29, 7, 30, tzinfo=dt.UTC)
    record, channel = await call(Keys("1"), Keys("202600000042#"), Keys("135790#"), Keys("9"), Keys("0"),
                                 Agent(True))
    locked = "查询失败次数过多，电话查询已暂时锁定，请在11月29日15点30分以后再试，或按0转人工服务。"
    assert channel.heard[4:6] == [locked, AFTER]
    assert record.path == ("main", "progress", "progress.number", "progress.code", "progress.locked", "main",
                           "agent")


async def test_trusted_caller_hears_own_tickets_newest_first(call: Call, services: MemoryServices) -> None:
    older = ticket(number="202600000007", kind=Kind.HELP, status=Status.RESOLVED, resolved_on=dt.date(2026, 11, 27),
                   department="区市场监督管理局")
    services.open_by_phone["13812345678"] = [TICKET, older]
    record, channel = await call(Keys("1"), Keys("1"), Keys("9"), Keys("0"), Agent(True), trusted=True)
    assert channel.heard[2:6] == [
        "您有两件正在办理的工单，最近的一件是：" + STATUS,
        "听下一件请按1，查询其他工单请按2，返回主菜单请按9，人工服务请按0。",
        "下一件：您的求助工单已于11月27日办结，承办单位是区市场监督管理局，我们将尽快对您进行回访。以上是您全部正在办理的工单。",
        "查询其他工单请按2，返回主菜单请按9，人工服务请按0。",
    ]
    assert services.queries == []
    assert record.ticket_number == TICKET.number
    assert record.path[:4] == ("main", "progress", "progress.mine.1", "progress.mine.2")


async def test_trusted_caller_can_query_another_ticket(call: Call, services: MemoryServices) -> None:
    services.open_by_phone["13812345678"] = [TICKET]
    _, channel = await call(Keys("1"), Keys("2"), Keys("202600000042#"), Keys("135790#"), *SILENT_END,
                                 trusted=True)
    assert channel.heard[4:6] == [ASK_NUMBER, ASK_CODE]


@pytest.mark.parametrize("trusted,number", [(False, "13812345678"), (True, None), (True, "13900000000")])
async def test_untrusted_or_unknown_callers_are_asked_for_the_number(
        call: Call, services: MemoryServices, trusted: bool, number: str | None) -> None:
    services.open_by_phone["13812345678"] = [TICKET]
    _, channel = await call(Keys("1"), Keys("202600000042#"), Keys("135790#"), *SILENT_END, trusted=trusted,
                            number=number)
    assert channel.heard[2] == ASK_NUMBER


async def test_extraction_code_is_never_logged(call: Call, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await call(Keys("1"), Keys("202600000042#"), Keys("135790#"), *SILENT_END)
    assert "135790" not in caplog.text
    assert "13812345678" not in caplog.text
    assert "138****5678" in caplog.text


async def test_by_voice_next_ticket_and_main_menu(call: Call, services: MemoryServices) -> None:
    services.open_by_phone["13812345678"] = [TICKET, TICKET]
    record, channel = await call(Say("查询进度"), Say("下一件"), Say("重听"), Say("返回主菜单"), Say("人工"),
                                 Agent(True), trusted=True)
    assert channel.heard[4].startswith("下一件：")
    assert channel.heard[6] == channel.heard[4]  # heard again
    assert record.path == ("main", "progress", "progress.mine.1", "progress.mine.2", "main", "agent")
    assert "下一件" in channel.collects[1]["grammar"]  # type: ignore[operator]
    assert "下一件" not in channel.collects[2]["grammar"]  # type: ignore[operator]  # the last one


async def test_star_repeats_the_answer(call: Call) -> None:
    _, channel = await call(Keys("1"), Keys("202600000042#"), Keys("135790#"), Keys("*"), *SILENT_END)
    assert channel.heard[4:8] == [STATUS, AFTER, STATUS, AFTER]
