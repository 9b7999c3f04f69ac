"""Reaching an agent: transfer, or a call-back ticket with the call's context when nobody answers."""

from __future__ import annotations

from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Hangup, Keys, MemoryServices, Silence, Speak
from tickets.enums import CallOutcome, Kind

BUSY = "对不起，人工坐席暂时繁忙，我们将为您登记回电请求，工作人员会尽快与您联系。"
CALLBACK = ("回电请求已登记，工单编号是202600000001再说一遍，工单编号是202600000001提取码是001001"
            "请记好工单编号和提取码，用于查询办理进度。")


async def test_no_answer_takes_a_callback_request(call: Call, services: MemoryServices, timeline: list[str]) -> None:
    record, channel = await call(Keys("2"), Keys("0"), Agent(False))
    assert channel.heard[-4:] == ["正在为您转接人工服务，请稍候。", BUSY, CALLBACK, "感谢您的来电，再见。"]
    (ticket,) = services.registered
    assert ticket["kind"] is Kind.HELP
    assert ticket["needs_callback"] is True and ticket["escalated"] is True
    assert ticket["caller_phone"] == "13812345678"
    assert ticket["recording"] is None
    assert ticket["note"] == ("96536来电转人工未接通，需回电。原因：来电人要求人工服务（register）。"
                              "菜单路径：main > register > agent > callback。")
    assert timeline.index("register 202600000001") < timeline.index(f"play {CALLBACK}")
    assert record.outcome is CallOutcome.CALLBACK_REQUESTED and record.ticket_number == "202600000001"
    assert channel.flow_hung_up


async def test_retries_exhausted_is_in_the_note(call: Call, services: MemoryServices) -> None:
    await call(Silence(), Silence(), Silence(), Agent(False))
    assert "原因：多次未按键（main）" in str(services.registered[0]["note"])


async def test_progress_context_makes_a_consultation(call: Call, services: MemoryServices) -> None:
    await call(Keys("1"), Keys("202600000042#"), Keys("135790#"), Keys("0"), Agent(False))
    (ticket,) = services.registered
    assert ticket["kind"] is Kind.CONSULTATION
    assert "来电事项：查询工单202600000042（办理中）" in str(ticket["note"])


async def test_withheld_number_is_asked_for(call: Call, services: MemoryServices) -> None:
    record, channel = await call(Keys("0"), Agent(False), Keys("13912345678#"), number=None)
    assert channel.heard[-4:-2] == [BUSY, "请输入您的联系电话，以井号键结束。"]
    assert services.registered[0]["caller_phone"] == "13912345678"
    assert record.path[-3:] == ("callback", "callback.phone", "goodbye")


async def test_withheld_number_not_given_still_registers(call: Call, services: MemoryServices) -> None:
    await call(Keys("0"), Agent(False), Silence(), Keys("12#"), Keys("0"), number=None)
    assert services.registered[0]["caller_phone"] is None


async def test_transfer_uses_the_agent_settings(call: Call) -> None:
    _, channel = await call(Keys("0"), Agent(True))
    assert channel.transfers == [("sip:agents@127.0.0.1:5090", 30.0)]


async def test_a_registered_ticket_is_in_the_callback_note(call: Call, services: MemoryServices) -> None:
    await call(Keys("2"), Keys("3"), Keys("#"), Speak(4.0), Keys("0"), Agent(False))
    first, callback = services.registered
    assert first["kind"] is Kind.SUGGESTION
    assert callback["note"] == (
        "96536来电转人工未接通，需回电。原因：来电人要求人工服务（register.done）。"
        "菜单路径：main > register > register.suggestion > register.town > register.record > register.done > agent > "
        "callback。"
        "来电事项：登记意见建议；已登记工单202600000001。")


async def test_hangup_during_the_apology_still_leaves_the_callback(call: Call, services: MemoryServices) -> None:
    record, channel = await call(Keys("0"), Agent(False), Hangup())
    assert channel.heard[-1] == "正在为您转接人工服务，请稍候。"  # hung up as the apology began
    (ticket,) = services.registered
    assert ticket["needs_callback"] is True
    assert record.outcome is CallOutcome.CALLBACK_REQUESTED and services.records == [record]


async def test_hangup_while_waiting_for_an_agent_leaves_no_ticket(call: Call, services: MemoryServices) -> None:
    record, _ = await call(Keys("0"), Hangup())
    assert services.registered == []
    assert record.outcome is CallOutcome.ABANDONED and record.path == ("main", "agent")
