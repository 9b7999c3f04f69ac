"""A menu edited by an operator: more nodes, goodbye and agent choices, a node's own no-input/no-match."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from menus.flow import FlowRunner
from menus.loader import menu_from_mapping
from menus.schema import Menu
from menus.speech import static_texts
from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Keys, Say, Silence, TranscriptPrompts
from tests.menus.sample import MENU_FILE, TOWNS
from tickets.enums import CallOutcome

CUSTOM_MAIN = "查询进度请按1，登记诉求请按2，办事指南请按3，更多服务请按4，结束请按5。"
MORE = "找值班领导请按1，返回请按9。"


@pytest.fixture
def custom(prompts: TranscriptPrompts) -> Menu:
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(MENU_FILE.read_text(encoding="utf-8")))
    main = data["nodes"]["main"]
    main["prompt"]["text"] = CUSTOM_MAIN
    main["choices"] += [{"key": 4, "keywords": ["更多"], "target": "more"},
                        {"key": 5, "keywords": ["结束", "再见"], "action": "goodbye"}]
    main["no_input"] = {"key": "main_no_input", "text": "您还在吗？"}
    main["no_match"] = {"key": "main_no_match", "text": "没有这个选项。"}
    data["nodes"]["more"] = {
        "prompt": {"key": "more_menu", "text": MORE},
        "choices": [{"key": 1, "keywords": ["值班领导"], "action": "agent"}, {"key": 9, "target": "main"}],
    }
    menu = menu_from_mapping(data)
    prompts.prepare(static_texts(menu, towns=TOWNS))
    return menu


@pytest.fixture
def runner(custom: Menu, make_runner: Callable[..., FlowRunner]) -> FlowRunner:
    return make_runner(menu_=custom)


async def test_goodbye_choice(call: Call, runner: FlowRunner) -> None:
    record, channel = await call(Say("再见"), runner=runner)
    assert channel.heard[1:] == [CUSTOM_MAIN, "感谢您的来电，再见。"]
    assert channel.flow_hung_up and record.outcome is CallOutcome.ABANDONED
    assert record.path == ("main", "goodbye")


async def test_sub_menu_agent_choice(call: Call, runner: FlowRunner) -> None:
    record, channel = await call(Keys("4"), Keys("9"), Keys("4"), Keys("1"), Agent(True), runner=runner)
    assert channel.heard[1:5] == [CUSTOM_MAIN, MORE, CUSTOM_MAIN, MORE]
    assert record.path == ("main", "more", "main", "more", "agent")
    assert record.outcome is CallOutcome.TRANSFERRED


async def test_node_prompts_for_no_input_and_no_match(call: Call, runner: FlowRunner) -> None:
    _, channel = await call(Silence(), Keys("7"), Keys("5"), runner=runner)
    assert channel.heard[1:4] == [CUSTOM_MAIN, "您还在吗？" + CUSTOM_MAIN, "没有这个选项。" + CUSTOM_MAIN]
