"""Service guides: the top items by key, their facts, another item, back, an agent."""

from __future__ import annotations

from collections.abc import Callable

from menus.flow import FlowRunner
from tests.menus.conftest import Call
from tests.menus.doubles import Agent, Barge, Keys, MemoryServices, Say, Silence
from tickets.config import IvrSettings
from tickets.enums import CallOutcome

LIST = ("以下是群众最常咨询的办事事项。食品经营许可请按1，居住证办理请按2，建筑工程施工许可请按3，"
        "返回主菜单请按9，人工服务请按0。")
FOOD = ("食品经营许可需要准备的材料有：营业执照复印件法定代表人身份证办理地点：区政务服务中心二楼"
        "办理时间：工作日上午九点至下午五点该事项最多跑一次。承诺10个工作日内办结。")
RESIDENCE = ("居住证办理需要准备的材料有：居民身份证办理地点：各街道便民服务中心办理时间：工作日全天"
             "该事项可以网上办理，不用跑腿。材料齐全的，当场办结。")
BUILDING = "建筑工程施工许可办理地点：区政务服务中心三楼办理时间：工作日全天该事项需要到现场办理两次。"
AFTER = "听其他事项请按1，重听请按星号键，返回主菜单请按9，人工服务请按0。"
MAIN = "查询工单办理进度请按1，投诉、求助、建议、咨询、举报请按2，办事指南请按3，人工服务请按0。"
SILENT_END = (Silence(), Silence(), Silence())


async def test_guide_facts_then_another_then_main_menu(call: Call, services: MemoryServices) -> None:
    record, channel = await call(Keys("3"), Keys("1"), Keys("1"), Keys("2"), Keys("*"), Keys("9"), Keys("0"),
                                 Agent(True))
    assert channel.heard[2:10] == [LIST, FOOD, AFTER, LIST, RESIDENCE, AFTER, RESIDENCE, AFTER]
    assert services.guide_limits == [5]
    assert record.path == ("main", "guides", "guides.XK00101001", "guides", "guides.GG00201001", "main", "agent")
    assert record.outcome is CallOutcome.TRANSFERRED


async def test_trips_and_no_promised_days(call: Call) -> None:
    record, channel = await call(Keys("3"), Keys("3"), *SILENT_END)
    assert channel.heard[3] == BUILDING
    assert record.outcome is CallOutcome.SELF_SERVED and channel.flow_hung_up


async def test_guides_by_voice_and_barge_in(call: Call) -> None:
    _, channel = await call(Keys("3"), Say("居住证办理"), Barge("1"), Barge("9"), Keys("0"), Agent(True))
    # the facts were cut by 1 (another item), the list by 9 (main menu)
    assert channel.heard[2:6] == [LIST, RESIDENCE, LIST, MAIN]


async def test_agent_from_the_facts_carries_the_item_into_the_callback(call: Call, services: MemoryServices) -> None:
    record, _ = await call(Keys("3"), Keys("2"), Keys("0"), Agent(False))
    (callback,) = services.registered
    assert "办事指南：居住证办理" in str(callback["note"])
    assert record.outcome is CallOutcome.CALLBACK_REQUESTED


async def test_no_guides_offers_an_agent(call: Call, services: MemoryServices) -> None:
    services.guides = []
    record, channel = await call(Keys("3"), Keys("0"), Agent(True))
    assert channel.heard[2:4] == ["对不起，暂时没有可以收听的办事指南。",
                                  "返回主菜单请按9，人工服务请按0，重听请按星号键，如无其他需要请挂机。"]
    assert record.outcome is CallOutcome.TRANSFERRED


async def test_at_most_eight_guides_are_offered(call: Call, make_runner: Callable[..., FlowRunner],
                                                services: MemoryServices) -> None:
    runner = make_runner(ivr=IvrSettings(top_guides=20))
    await call(Keys("3"), Keys("9"), Keys("0"), Agent(True), runner=runner)
    assert services.guide_limits == [8]
