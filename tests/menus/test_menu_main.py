"""The main menu and the rules that hold everywhere: 0 agent, * repeat, barge-in, no-input/no-match."""

from __future__ import annotations

from collections.abc import Callable

from menus.flow import FlowRunner
from menus.schema import Menu, Phrase
from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Barge, Keys, Say, Silence
from tickets.config import IvrSettings
from tickets.enums import CallOutcome

WELCOME = "您好，欢迎致电龙泉驿区96536政务服务热线。"
MAIN = "查询工单办理进度请按1，投诉、求助、建议、咨询、举报请按2，办事指南请按3，人工服务请按0。"
TRANSFERRING = "正在为您转接人工服务，请稍候。"
REGISTER = "投诉请按1，求助请按2，意见建议请按3，咨询请按4，举报请按5，返回主菜单请按9。"


async def test_zero_reaches_an_agent(call: Call) -> None:
    record, channel = await call(Keys("0"), Agent(True))
    assert channel.heard == [WELCOME, MAIN, TRANSFERRING]
    assert channel.transfers == [("sip:agents@127.0.0.1:5090", 30.0)]
    assert record.outcome is CallOutcome.TRANSFERRED
    assert record.path == ("main", "agent")
    assert not channel.flow_hung_up  # the call now belongs to the agent


async def test_main_menu_collects_one_key_with_its_keywords(call: Call) -> None:
    _, channel = await call(Keys("0"), Agent(True))
    (collect,) = channel.collects
    assert collect["max_digits"] == 1
    assert collect["timeout_s"] == 6.0
    grammar = collect["grammar"]
    assert isinstance(grammar, tuple)
    assert {"查询进度", "办事指南", "登记", "人工", "重听"} <= set(grammar)


async def test_star_repeats_the_prompt_without_counting_a_failure(call: Call) -> None:
    record, channel = await call(Keys("*"), Keys("7"), Keys("*"), Keys("7"), Keys("*"), Keys("0"), Agent(True))
    sorry = "对不起，您的输入有误。"
    assert channel.heard == [WELCOME, MAIN, MAIN, sorry + MAIN, MAIN, sorry + MAIN, MAIN, TRANSFERRING]
    assert record.outcome is CallOutcome.TRANSFERRED


async def test_barge_in_during_welcome_skips_the_menu_prompt(call: Call) -> None:
    record, channel = await call(Barge("0"), Agent(True))
    assert channel.heard == [WELCOME, TRANSFERRING]
    assert record.path == ("main", "agent")


async def test_barge_in_key_goes_to_the_menu(call: Call) -> None:
    _, channel = await call(Barge("2"), Keys("9"), Keys("0"), Agent(True))
    # 2 during the welcome: straight to the register menu, then 9 back to the main menu
    assert channel.heard == [WELCOME, REGISTER, MAIN, TRANSFERRING]


async def test_no_input_reprompts_then_reaches_an_agent(call: Call) -> None:
    record, channel = await call(Silence(), Silence(), Silence(), Agent(True))
    sorry = "对不起，没有收到您的按键。"
    assert channel.heard == [WELCOME, MAIN, sorry + MAIN, sorry + MAIN, TRANSFERRING]
    assert record.outcome is CallOutcome.TRANSFERRED


async def test_no_match_reprompts_then_reaches_an_agent(call: Call) -> None:
    record, channel = await call(Keys("8"), Keys("#"), Say("重听"), Keys("5"), Agent(True))
    sorry = "对不起，您的输入有误。"
    assert channel.heard == [WELCOME, MAIN, sorry + MAIN, sorry + MAIN, MAIN, TRANSFERRING]
    assert record.path == ("main", "agent")


async def test_retry_count_follows_the_setting(call: Call, make_runner: Callable[..., FlowRunner],
                                               menu: Menu) -> None:
    runner = make_runner(ivr=IvrSettings(max_retries=1))
    _, channel = await call(Silence(), Agent(True), runner=runner)
    assert channel.heard == [WELCOME, MAIN, TRANSFERRING]
    assert menu.phrase(Phrase.NO_INPUT).text not in channel.said


async def test_spoken_keywords_choose(call: Call) -> None:
    record, _ = await call(Say("人工"), Agent(True))
    assert record.outcome is CallOutcome.TRANSFERRED
    record, _ = await call(Say("登记"), Say("主菜单"), Say("转人工"), Agent(True))
    assert record.path == ("main", "register", "main", "agent")


async def test_register_menu_back_to_main(call: Call) -> None:
    record, _ = await call(Keys("2"), Keys("9"), Keys("0"), Agent(True))
    assert record.path == ("main", "register", "main", "agent")
