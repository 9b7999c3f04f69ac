"""Sample data for the flow tests: the district's towns, departments, guides and a ticket."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from ivr.services import GuideFacts, TicketSummary
from tickets.config import AgentSettings, IvrSettings
from tickets.enums import Kind, Status

MENU_FILE = Path(__file__).resolve().parents[2] / "menus" / "main.yaml"
TOWNS = (
    ("510112001", "龙泉街道"), ("510112002", "大面街道"), ("510112003", "十陵街道"), ("510112004", "同安街道"),
    ("510112005", "东安街道"), ("510112006", "柏合街道"), ("510112007", "西河街道"), ("510112008", "洪河街道"),
    ("510112101", "洛带镇"), ("510112102", "黄土镇"), ("510112103", "山泉镇"), ("510112104", "茶店镇"),
)
DEPARTMENTS = ("区住房和城乡建设局", "区市场监督管理局", "龙泉街道办事处")
GUIDES = (
    GuideFacts(code="XK00101001", name="食品经营许可", materials=("营业执照复印件", "法定代表人身份证"),
               place="区政务服务中心二楼", hours="工作日上午九点至下午五点", trips=1, promised_days=10),
    GuideFacts(code="GG00201001", name="居住证办理", materials=("居民身份证",), place="各街道便民服务中心",
               hours="工作日全天", trips=0, promised_days=0),
    GuideFacts(code="XK00301002", name="建筑工程施工许可", materials=(), place="区政务服务中心三楼",
               hours="工作日全天", trips=2, promised_days=None),
)
TICKET = TicketSummary(
    number="202600000042", kind=Kind.COMPLAINT, status=Status.IN_PROGRESS, created_on=dt.date(2026, 11, 28),
    department="区住房和城乡建设局", dispatched_on=dt.date(2026, 11, 29), deadline=dt.date(2026, 12, 18),
)
IVR = IvrSettings(no_input_timeout_s=6.0, inter_digit_timeout_s=4.0, max_retries=3)
AGENTS = AgentSettings(group_uri="sip:agents@127.0.0.1:5090", no_answer_timeout_s=30.0)



def ticket(**changes: Any) -> TicketSummary:
    return dataclasses.replace(TICKET, **changes)
