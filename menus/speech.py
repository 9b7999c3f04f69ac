"""Sentences the flow speaks, composed from pre-rendered pieces: the menu's phrases, names known at start-up
(departments, towns, guides) and the prompt library's dates, digits and numbers. Nothing here synthesises;
:func:`static_texts` lists every fixed text so the worker can render them all before taking calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

from ivr.prompt_source import PromptSource
from ivr.services import GuideFacts, TicketSummary
from menus.schema import Menu, Phrase, Prompt
from tickets.enums import Kind, Status

__all__ = ["Speaker", "static_texts"]

P = Phrase
LIANG = "两"  # 2 before a measure word or 点 (两件, 两次, 两点), where PromptSource.number says 二


def static_texts(
    menu: Menu,
    *,
    towns: Sequence[tuple[str, str]] = (),
    departments: Iterable[str] = (),
    guides: Iterable[GuideFacts] = (),
    extra: Iterable[tuple[str | None, str]] = (),
) -> list[tuple[str | None, str]]:
    """Every ``(key, text)`` the menu and the flow can say, for :meth:`PromptSource.prepare` at start-up.

    Keys are prompt keys (recorded overrides); names from data (kinds, towns, departments, guides) have no key.
    """
    out: list[tuple[str | None, str]] = [(p.key, p.text) for p in menu.prompts()]
    out.append((None, LIANG))
    out.extend((None, kind.label_zh) for kind in Kind)
    out.extend((None, name) for _, name in towns)
    out.extend((None, name) for name in departments)
    for guide in guides:
        out.extend((None, text) for text in (guide.name, *guide.materials, guide.place, guide.hours))
    out.extend(extra)
    seen: set[tuple[str | None, str]] = set()
    unique: list[tuple[str | None, str]] = []
    for item in out:
        if item[1] and item not in seen:
            seen.add(item)
            unique.append(item)
    return unique


Part = Phrase | Sequence[Path]  # of a composed sentence: a menu phrase, or paths (a name, a number, a date)
SENTENCE_ENDS = ("。", "！", "？")  # a phrase ending so keeps its pause even inside a composition


class Speaker:
    """Turns what the flow wants to say into WAV paths for :meth:`CallChannel.play`.

    A sentence composed of several files (a status, a ticket number read back, a guide's facts) is played with
    every file but the last trimmed of its silence (:meth:`PromptSource.fragment`), so it sounds like one
    sentence rather than a list; its last file keeps its natural tail, the pause before the next prompt."""

    def __init__(self, menu: Menu, prompts: PromptSource) -> None:
        self.menu = menu
        self.prompts = prompts

    def prompt(self, prompt: Prompt) -> list[Path]:
        return [self.prompts.text(prompt.text, prompt.key)]

    def __call__(self, *phrases: Phrase) -> list[Path]:
        return [self.prompts.text(self.menu.phrase(p).text, p.value) for p in phrases]

    def name(self, text: str) -> list[Path]:
        """A name known at start-up (town, department, guide, kind): prepared without a key."""
        return [self.prompts.text(text)] if text else []

    def count(self, value: int) -> list[Path]:
        """A number before a measure word: 两 for 2 (两件, 两次), otherwise the cardinal."""
        return [self.prompts.text(LIANG)] if value == 2 else self.prompts.number(value)

    def item(self, name: str, key: int) -> list[Path]:
        """``<name>请按<key>``, then a short pause before the next item."""
        return [*self._sentence(self.name(name), P.PRESS, self.prompts.number(key)), self.prompts.pause()]

    def _sentence(self, *parts: Part) -> list[Path]:
        """One sentence of ``parts``: every file but the last as a fragment. A phrase ending with 。！？ (e.g.
        提取码不正确。 before 您还可以再试两次。) ends a sentence and keeps its pause."""
        out: list[Path] = []
        pending: list[Path] = []
        for part in parts:
            if not isinstance(part, Phrase):
                pending += part
                continue
            pending += self(part)
            if self.menu.phrase(part).text.rstrip().endswith(SENTENCE_ENDS):
                out += self._joined(pending)
                pending = []
        return out + self._joined(pending)

    def _joined(self, paths: Sequence[Path]) -> list[Path]:
        return [*(self.prompts.fragment(p) for p in paths[:-1]), *paths[-1:]]

    # progress -------------------------------------------------------------------------------------------

    def _by(self, summary: TicketSummary) -> list[Part]:
        return [P.HANDLED_BY, self.name(summary.department)] if summary.department else []

    def _deadline(self, summary: TicketSummary) -> list[Part]:
        if summary.deadline is None:
            return [P.PERIOD]
        return [P.EXPECTED, self.prompts.date(summary.deadline), P.BEFORE_RESOLVED]

    def status(self, summary: TicketSummary) -> list[Path]:
        """E.g. 您的投诉工单已于十一月二十九日派往区住房和城乡建设局，正在办理中，预计十二月十八日前办结。"""
        return self._sentence(*self._status_parts(summary))

    def _status_parts(self, summary: TicketSummary) -> list[Part]:
        head: list[Part] = [P.YOUR, self.name(summary.kind.label_zh), P.TICKET_WORD]
        st = summary.status
        dispatched = summary.dispatched_on is not None and summary.department is not None
        if st in (Status.DISPATCHED, Status.IN_PROGRESS, Status.EXTENDED) and dispatched:
            assert summary.dispatched_on is not None and summary.department is not None
            tail = P.EXTENDED if st is Status.EXTENDED else P.BEING_HANDLED
            return [*head, P.ON, self.prompts.date(summary.dispatched_on), P.SENT_TO,
                    self.name(summary.department), tail, *self._deadline(summary)]
        if st is Status.REGISTERED:
            return [*head, P.ON, self.prompts.date(summary.created_on), P.ACCEPTED_WAITING, *self._deadline(summary)]
        if st in (Status.DISPATCHED, Status.IN_PROGRESS, Status.EXTENDED):  # no dispatch details
            tail = P.EXTENDED if st is Status.EXTENDED else P.BEING_HANDLED
            return [*head, P.ON, self.prompts.date(summary.created_on), P.ACCEPTED, tail, *self._deadline(summary)]
        if st is Status.RETURNED:
            return [*head, P.RETURNED, *self._deadline(summary)]
        if st is Status.REOPENED:
            return [*head, P.REOPENED, *self._by(summary), *self._deadline(summary)]
        if st is Status.RESOLVED:
            on = summary.resolved_on or summary.created_on
            return [*head, P.ON, self.prompts.date(on), P.RESOLVED, *self._by(summary), P.WILL_CALL_BACK]
        if st is Status.CALLED_BACK:
            return [*head, P.CALLED_BACK]
        if st is Status.MERGED:
            return [*head, P.MERGED]
        return [*head, P.CLOSED]

    def open_tickets(self, count: int) -> list[Path]:
        """您有N件正在办理的工单，最近的一件是："""
        return self._sentence(P.YOU_HAVE, self.count(count), P.OPEN_TICKETS_NEWEST)

    def wrong_code(self, attempts_left: int) -> list[Path]:
        """提取码不正确。您还可以再试N次。"""
        if attempts_left <= 0:
            return self(P.WRONG_CODE_LOCKED)
        return self._sentence(P.WRONG_CODE, P.ATTEMPTS_LEFT, self.count(attempts_left), P.TIMES)

    def locked(self, until: dt.datetime) -> list[Path]:
        """查询失败次数过多……请在十一月二十九日十五点三十分以后再试，或按0转人工服务。"""
        time: list[Part] = [self.count(until.hour), P.HOUR]
        if until.minute:
            zero = self.prompts.digits("0") if until.minute < 10 else []  # 八点零五分
            time += [zero, self.prompts.number(until.minute), P.MINUTE]
        return self._sentence(P.LOCKED_UNTIL, self.prompts.date(until.date()), *time, P.LOCKED_RETRY_AFTER)

    # register -------------------------------------------------------------------------------------------

    def ticket_numbers(self, number: str, extraction_code: str, *, lead: Phrase) -> list[Path]:
        """The ticket number twice, digit by digit, then the extraction code."""
        digits = self.prompts.digits
        return self._sentence(lead, P.TICKET_NUMBER_IS, digits(number), P.TICKET_NUMBER_AGAIN, digits(number),
                              P.EXTRACTION_CODE_IS, digits(extraction_code), P.KEEP_NUMBERS)

    # guides ---------------------------------------------------------------------------------------------

    def guide(self, guide: GuideFacts) -> list[Path]:
        """The name (a title: its pause stays), then one sentence per fact; materials are a list whose items keep
        their pauses (they have no punctuation between them)."""
        out = [*self.name(guide.name)]
        if guide.materials:
            first, *rest = guide.materials
            out += self._sentence(P.GUIDE_MATERIALS, self.name(first))
            for material in rest:
                out += self.name(material)
        if guide.place:
            out += self._sentence(P.GUIDE_PLACE, self.name(guide.place))
        if guide.hours:
            out += self._sentence(P.GUIDE_HOURS, self.name(guide.hours))
        if guide.trips <= 0:
            out += self(P.GUIDE_ONLINE)
        elif guide.trips == 1:
            out += self(P.GUIDE_ONE_TRIP)
        else:
            out += self._sentence(P.GUIDE_TRIPS, self.count(guide.trips), P.TIMES)
        if guide.promised_days == 0:
            out += self(P.GUIDE_ON_THE_SPOT)
        elif guide.promised_days is not None:
            out += self._sentence(P.GUIDE_PROMISED, self.count(guide.promised_days), P.GUIDE_WORKING_DAYS)
        return out
