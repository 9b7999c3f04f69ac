"""Reaching an agent: transfer to the agent group; if nobody answers, a call-back ticket carrying the call's
context, whose number the caller hears."""

from __future__ import annotations

import logging

from ivr.channel import CallerInput, InputKind
from ivr.services import Registered
from menus.dialog import NO_MATCH, CallSession, Escalate, FlowDeps, Phase, Step, Why, _NoMatch
from menus.schema import Phrase
from tickets.enums import CallOutcome, Kind

__all__ = ["callback_note", "run_agent"]

logger = logging.getLogger(__name__)

P = Phrase
PHONE_MIN_DIGITS = 7
PHONE_MAX_DIGITS = 12


def callback_note(s: CallSession, why: Why, node: str) -> str:
    """What an agent calling back needs: why the call came to an agent, the menu path, what was asked."""
    parts = [f"96536来电转人工未接通，需回电。原因：{why.value}（{node}）", f"菜单路径：{' > '.join(s.path)}"]
    if s.notes:
        parts.append("来电事项：" + "；".join(s.notes))
    return "。".join(parts) + "。"


def _phone(a: CallerInput) -> str | _NoMatch:
    ok = a.kind is InputKind.DIGITS and a.value.isdigit() and PHONE_MIN_DIGITS <= len(a.value) <= PHONE_MAX_DIGITS
    return a.value if ok else NO_MATCH


async def _ask_phone(s: CallSession) -> str | None:
    s.enter("callback.phone")
    step = Step(node="callback.phone", prompt=s.speaker(P.ASK_PHONE), max_digits=PHONE_MAX_DIGITS, terminators="#",
                secret=True)
    try:
        return await s.ask(step, _phone)
    except Escalate:  # already on the way to a call-back: 0 or giving up means "no number"
        return None


async def run_agent(deps: FlowDeps, s: CallSession, why: Why, node: str) -> None:
    """Transfer, or register a call-back request; the caller is with an agent or done afterwards."""
    s.enter("agent", Phase.AGENT)
    logger.info("call %s: to an agent (%s at %s)", s.call_id, why.name.lower(), node)
    await s.say(s.speaker(P.TRANSFERRING), barge_in=False)
    if await s.channel.transfer(deps.agents.group_uri, timeout_s=deps.agents.no_answer_timeout_s):
        s.promote(CallOutcome.TRANSFERRED)
        logger.info("call %s: transferred to %s", s.call_id, deps.agents.group_uri)
        return
    logger.info("call %s: no agent answered within %.0f s, taking a call-back request", s.call_id,
                deps.agents.no_answer_timeout_s)
    s.enter("callback")
    phone = s.channel.caller.number
    if phone:  # committed first: a caller who hangs up on the apology still gets the call-back
        registered = await _register_callback(deps, s, why, node, phone)
        await s.say(s.speaker(P.AGENTS_BUSY), barge_in=False)
    else:
        await s.say(s.speaker(P.AGENTS_BUSY), barge_in=False)
        registered = await _register_callback(deps, s, why, node, await _ask_phone(s))
    numbers = s.speaker.ticket_numbers(registered.number, registered.extraction_code, lead=P.CALLBACK_REGISTERED)
    await s.say(numbers, barge_in=False)


async def _register_callback(deps: FlowDeps, s: CallSession, why: Why, node: str, phone: str | None) -> Registered:
    asked = any(p.startswith(("progress", "guides")) for p in s.path)
    registered = await deps.services.register_ticket(
        call_id=s.call_id,
        kind=Kind.CONSULTATION if asked else Kind.HELP,
        town_code=None,
        caller_phone=phone,
        recording=None,
        recording_s=0.0,
        needs_callback=True,
        escalated=True,
        note=callback_note(s, why, node),
    )
    s.ticket_number = registered.number
    s.promote(CallOutcome.CALLBACK_REQUESTED)
    logger.info("call %s: call-back ticket %s", s.call_id, registered.number)
    return registered
