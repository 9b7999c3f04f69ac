"""Service guides: the most asked-for items by key, their key facts read out, an agent on offer."""

from __future__ import annotations

import logging

from ivr.channel import CallerInput, InputKind
from ivr.services import GuideFacts
from menus.dialog import NO_MATCH, CallSession, FlowDeps, Phase, Step, _NoMatch
from menus.schema import KeywordSet, Phrase
from tickets.enums import CallOutcome

__all__ = ["MAX_GUIDES", "run_guides"]

logger = logging.getLogger(__name__)

P = Phrase
MAX_GUIDES = 8  # keys 1-8; 9 is the main menu
_OTHER = "other"


async def run_guides(deps: FlowDeps, s: CallSession) -> str:
    """Returns the node to go on with (the main menu)."""
    say = s.speaker
    words = s.menu.words
    s.enter("guides", Phase.GUIDES)
    guides = list(await deps.services.top_guides(min(deps.ivr.top_guides, MAX_GUIDES)))[:MAX_GUIDES]
    if not guides:
        logger.warning("call %s: no service guides to offer", s.call_id)
        return await s.after_service("guides.none", say(P.GUIDES_NONE))
    by_name = {g.name: g for g in guides}
    prompt = say(P.GUIDES_INTRO)
    for key, guide in enumerate(guides, start=1):
        prompt += say.item(guide.name, key)
    prompt += say(P.GUIDES_LIST_TAIL)

    def pick(a: CallerInput) -> GuideFacts | str | _NoMatch:
        if s.is_main_menu(a):
            return s.menu.start
        if a.kind is InputKind.SPEECH:
            return by_name.get(a.value, NO_MATCH)
        if a.value.isdigit() and 1 <= int(a.value) <= len(guides):
            return guides[int(a.value) - 1]
        return NO_MATCH

    def after(a: CallerInput) -> str | _NoMatch:
        if s.is_main_menu(a):
            return s.menu.start
        if (a.kind is InputKind.DIGITS and a.value == "1") or (a.kind is InputKind.SPEECH and a.value in words(
                KeywordSet.OTHER)):
            return _OTHER
        return NO_MATCH

    while True:
        s.enter("guides")
        step = Step(node="guides", prompt=prompt, grammar=(*by_name, *words(KeywordSet.MAIN_MENU)))
        chosen: GuideFacts | str = await s.ask(step, pick)
        if isinstance(chosen, str):
            return chosen
        node = f"guides.{chosen.code}"
        s.enter(node)
        s.promote(CallOutcome.SELF_SERVED)
        s.note(f"办事指南：{chosen.name}")
        step = Step(node=node, intro=say.guide(chosen), prompt=say(P.GUIDE_AFTER),
                    grammar=(*words(KeywordSet.OTHER), *words(KeywordSet.MAIN_MENU)), silence_ends=True)
        goto = await s.ask(step, after)
        if goto != _OTHER:
            return goto
