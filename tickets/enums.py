"""Enumerations shared by every channel: ticket statuses, kinds, channels, roles, event visibility."""

from __future__ import annotations

import enum

__all__ = ["CallOutcome", "Channel", "Kind", "Role", "Status"]


class Status(enum.Enum):
    """Work-order statuses of the government hotline flow (GB/T 33358 and Sichuan's rules)."""

    REGISTERED = "registered"  # 已受理
    DISPATCHED = "dispatched"  # 已派单
    IN_PROGRESS = "in_progress"  # 办理中
    RETURNED = "returned"  # 退单 (back to dispatch, with a reason)
    EXTENDED = "extended"  # 延期 (new deadline)
    RESOLVED = "resolved"  # 已办结
    REOPENED = "reopened"  # 重新办理 (unsatisfied call-back)
    CALLED_BACK = "called_back"  # 已回访
    CLOSED = "closed"  # 已关闭
    MERGED = "merged"  # 已并单

    @property
    def label_zh(self) -> str:
        return _STATUS_ZH[self]

    @property
    def is_open(self) -> bool:
        return self not in (Status.CLOSED, Status.MERGED, Status.CALLED_BACK)


_STATUS_ZH = {
    Status.REGISTERED: "已受理",
    Status.DISPATCHED: "已派单",
    Status.IN_PROGRESS: "办理中",
    Status.RETURNED: "退单待重新派单",
    Status.EXTENDED: "已延期办理",
    Status.RESOLVED: "已办结",
    Status.REOPENED: "重新办理中",
    Status.CALLED_BACK: "已回访",
    Status.CLOSED: "已关闭",
    Status.MERGED: "已合并",
}


class Kind(enum.Enum):
    """What the caller wants; sets the time limit in working days."""

    CONSULTATION = "consultation"  # 咨询, 3 working days
    HELP = "help"  # 求助, 7
    SUGGESTION = "suggestion"  # 意见建议, 7
    COMPLAINT = "complaint"  # 投诉, 15
    REPORT = "report"  # 举报, 15

    @property
    def label_zh(self) -> str:
        return _KIND_ZH[self]

    @property
    def time_limit_working_days(self) -> int:
        return _KIND_DAYS[self]


_KIND_ZH = {
    Kind.CONSULTATION: "咨询",
    Kind.HELP: "求助",
    Kind.SUGGESTION: "意见建议",
    Kind.COMPLAINT: "投诉",
    Kind.REPORT: "举报",
}
_KIND_DAYS = {Kind.CONSULTATION: 3, Kind.HELP: 7, Kind.SUGGESTION: 7, Kind.COMPLAINT: 15, Kind.REPORT: 15}


class Channel(enum.Enum):
    HOTLINE = "hotline"
    STB = "stb"
    WEB = "web"
    AGENT = "agent"
    OPEN311 = "open311"


class Role(enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    DEPARTMENT = "department"
    ADMIN = "admin"


class CallOutcome(enum.Enum):
    SELF_SERVED = "self_served"
    TICKET_REGISTERED = "ticket_registered"
    TRANSFERRED = "transferred"
    CALLBACK_REQUESTED = "callback_requested"
    ABANDONED = "abandoned"
    REJECTED = "rejected"
