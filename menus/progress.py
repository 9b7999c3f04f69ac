"""Progress of a ticket: the caller's own open tickets (trusted caller ID), else by ticket number and
extraction code."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ivr.channel import CallerInput, InputKind
from ivr.services import QueryLocked, TicketNotFound, TicketSummary, WrongCode
from menus.dialog import NO_MATCH, CallSession, Escalate, FlowDeps, Phase, Step, Why, _NoMatch
from menus.schema import KeywordSet, Phrase
from tickets.enums import CallOutcome

__all__ = ["run_progress"]

logger = logging.getLogger(__name__)

P = Phrase
TICKET_NUMBER_DIGITS = 12
EXTRACTION_CODE_DIGITS = 6
_OTHER = "other"
_NEXT = "next"


def _digits(length: int) -> Callable[[CallerInput], str | _NoMatch]:
    def accept(answer: CallerInput) -> str | _NoMatch:
        ok = answer.kind is InputKind.DIGITS and len(answer.value) == length and answer.value.isdigit()
        return answer.value if ok else NO_MATCH

    return accept


def _served(s: CallSession, summary: TicketSummary) -> None:
    s.promote(CallOutcome.SELF_SERVED)
    if s.ticket_number is None:
        s.ticket_number = summary.number
    s.note(f"查询工单{summary.number}（{summary.status.label_zh}）")


async def run_progress(deps: FlowDeps, s: CallSession) -> str:
    """Returns the node to go on with (the main menu)."""
    s.enter("progress", Phase.PROGRESS)
    caller = s.channel.caller
    if caller.trusted and caller.number:
        tickets = await deps.services.open_tickets_for_caller(caller.number)
        if tickets:
            goto = await _own_tickets(s, tickets)
            if goto != _OTHER:
                return goto
    return await _by_number(deps, s)


async def _own_tickets(s: CallSession, tickets: Sequence[TicketSummary]) -> str:
    say = s.speaker
    words = s.menu.words
    i = 0
    while True:
        summary = tickets[i]
        more = i + 1 < len(tickets)
        intro = say.open_tickets(len(tickets)) if i == 0 else say(P.NEXT_TICKET)
        intro += say.status(summary)
        if not more and len(tickets) > 1:
            intro += say(P.LAST_TICKET)
        _served(s, summary)
        node = f"progress.mine.{i + 1}"
        s.enter(node)
        step = Step(
            node=node, intro=intro, prompt=[*(say(P.TICKET_OPTIONS_NEXT) if more else []), *say(P.TICKET_OPTIONS)],
            grammar=(*(words(KeywordSet.NEXT) if more else ()), *words(KeywordSet.OTHER), *words(KeywordSet.MAIN_MENU)),
            silence_ends=True,
        )

        def accept(a: CallerInput, more: bool = more) -> str | _NoMatch:
            if more and ((a.value == "1" and a.kind is InputKind.DIGITS) or
                         (a.kind is InputKind.SPEECH and a.value in words(KeywordSet.NEXT))):
                return _NEXT
            if (a.kind is InputKind.DIGITS and a.value == "2") or (
                    a.kind is InputKind.SPEECH and a.value in words(KeywordSet.OTHER)):
                return _OTHER
            return s.menu.start if s.is_main_menu(a) else NO_MATCH

        goto = await s.ask(step, accept)
        if goto != _NEXT:
            return goto
        i += 1


async def _by_number(deps: FlowDeps, s: CallSession) -> str:
    say = s.speaker
    not_found = 0
    number: str | None = None
    while True:
        if number is None:
            s.enter("progress.number")
            number = await s.ask(
                Step(node="progress.number", prompt=say(P.ASK_TICKET_NUMBER), max_digits=TICKET_NUMBER_DIGITS,
                     terminators="#", no_match=say(P.BAD_TICKET_NUMBER)),
                _digits(TICKET_NUMBER_DIGITS),
            )
        s.enter("progress.code")
        code = await s.ask(
            Step(node="progress.code", prompt=say(P.ASK_EXTRACTION_CODE), max_digits=EXTRACTION_CODE_DIGITS,
                 terminators="#", no_match=say(P.BAD_EXTRACTION_CODE), secret=True),
            _digits(EXTRACTION_CODE_DIGITS),
        )
        try:
            summary = await deps.services.query_ticket(number, code)
        except TicketNotFound:
            not_found += 1
            logger.info("call %s: ticket %s not found (%d)", s.call_id, number, not_found)
            s.note(f"工单{number}未查到")
            if not_found >= deps.ivr.max_retries:
                raise Escalate("progress.number", Why.NO_MATCH) from None
            await s.say(say(P.TICKET_NOT_FOUND))
            number = None
            continue
        except WrongCode as exc:
            logger.info("call %s: wrong extraction code for %s, %d left", s.call_id, number, exc.attempts_left)
            s.note(f"工单{number}提取码错误")
            if exc.attempts_left <= 0:
                return await s.after_service("progress.locked", say.wrong_code(0))
            await s.say(say.wrong_code(exc.attempts_left))
            continue
        except QueryLocked as exc:
            logger.info("call %s: phone queries of %s locked until %s", s.call_id, number, exc.until.isoformat())
            s.note(f"工单{number}电话查询已锁定")
            until = exc.until.astimezone(deps.tz) if exc.until.tzinfo is not None else exc.until
            return await s.after_service("progress.locked", say.locked(until))
        _served(s, summary)
        return await s.after_service("progress.answer", say.status(summary))
