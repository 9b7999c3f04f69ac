"""The engine the call worker runs per call: :class:`FlowRunner`.

It walks the menu's nodes and runs the built-in actions (progress, register, guides, agent), and always
saves a :class:`~ivr.services.CallRecordData` at the end, whether the call ended by goodbye, transfer,
hang-up or an error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.channel import CallChannel, CallerInput, CallHangup, InputKind
from ivr.prompt_source import PromptSource
from ivr.services import CallRecordData, HotlineServices
from menus.agent import run_agent
from menus.dialog import NO_MATCH, CallSession, EndCall, Escalate, FlowDeps, Phase, Step, Why, _NoMatch
from menus.guides import run_guides
from menus.loader import MenuHolder
from menus.progress import run_progress
from menus.register import run_register
from menus.schema import Action, Choice, Menu, Node, Phrase
from menus.speech import Speaker
from tickets.config import AgentSettings, IvrSettings
from tickets.enums import CallOutcome
from tickets.numbers import mask_phone

__all__ = ["FlowRunner"]

logger = logging.getLogger(__name__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FlowRunner:
    """Runs the menu on one call at a time per :meth:`run` (many calls may run concurrently).

    ``menu`` is a :class:`Menu` or a :class:`MenuHolder`; with a holder each call takes the menu that is
    current when it starts and keeps it to the end, so a reload never changes a call in progress.
    ``towns`` are the district's (code, name) pairs offered when registering.
    """

    def __init__(  # noqa: PLR0917 - the worker's call, as the issue specifies it
        self,
        menu: Menu | MenuHolder,
        prompts: PromptSource,
        services: HotlineServices,
        ivr: IvrSettings,
        agents: AgentSettings,
        recordings_dir: Path,
        towns: Sequence[tuple[str, str]] = (),
        *,
        timezone: str = "Asia/Shanghai",
        worker: str | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._menu = menu
        self.prompts = prompts
        self.services = services
        self._deps = FlowDeps(
            services=services, ivr=ivr, agents=agents, recordings_dir=Path(recordings_dir),
            towns=tuple((str(code), str(name)) for code, name in towns), tz=ZoneInfo(timezone),
        )
        self._worker = worker
        self._clock = clock

    @property
    def menu(self) -> Menu:
        """The menu a call starting now gets."""
        return self._menu.current if isinstance(self._menu, MenuHolder) else self._menu

    def reload(self) -> asyncio.Task[bool] | None:
        """Re-read the menu file in a thread (SIGHUP); None when the runner was given a fixed menu."""
        if not isinstance(self._menu, MenuHolder):
            logger.warning("menu reload asked for, but this runner has a fixed menu")
            return None
        return self._menu.reload_soon()

    async def run(self, channel: CallChannel, *, arrived_at: dt.datetime | None = None) -> CallRecordData:
        """Run the flow on an answered call; returns the call record (already saved)."""
        started = self._clock()
        menu = self.menu
        s = CallSession(channel, menu, Speaker(menu, self.prompts), self._deps.ivr)
        caller = channel.caller
        logger.info("call %s from %s (%s): flow starts", channel.call_id, mask_phone(caller.number) or "unknown",
                    "trusted" if caller.trusted else "untrusted")
        try:
            self._deps.recordings_dir.mkdir(parents=True, exist_ok=True)
            await self._drive(s)
        except CallHangup:
            logger.info("call %s: caller hung up at %s", s.call_id, s.path[-1] if s.path else "start")
        except Exception:
            logger.exception("call %s: the flow failed at %s", s.call_id, s.path[-1] if s.path else "start")
            await self._rescue(s)
        finally:
            s._set_state(Phase.ENDED)
            record = CallRecordData(
                call_id=s.call_id,
                caller=channel.caller.number,
                arrived_at=arrived_at or started,
                answered_at=started,
                ended_at=self._clock(),
                path=tuple(s.path),
                outcome=s.outcome,
                ticket_number=s.ticket_number,
                worker=self._worker,
            )
            try:
                await self.services.save_call_record(record)
            except Exception:
                logger.exception("call %s: saving the call record failed", s.call_id)
        logger.info("call %s: ended, %s, path %s", s.call_id, record.outcome.value, " > ".join(record.path))
        return record

    async def _drive(self, s: CallSession) -> None:
        await s.say(s.speaker(Phrase.WELCOME))
        goto: str | Choice = s.menu.start
        try:
            while True:
                if isinstance(goto, str):
                    goto = await self._node(s, s.menu.node(goto))
                elif goto.target is not None:
                    goto = goto.target
                elif goto.action is Action.PROGRESS:
                    goto = await run_progress(self._deps, s)
                elif goto.action is Action.REGISTER:
                    assert goto.kind is not None  # the loader checks it
                    goto = await run_register(self._deps, s, goto.kind)
                elif goto.action is Action.GUIDES:
                    goto = await run_guides(self._deps, s)
                elif goto.action is Action.AGENT:
                    raise Escalate(s.path[-1], Why.ASKED)
                else:
                    raise EndCall()
        except Escalate as exc:
            await self._agent(s, exc.why, exc.node)
        except EndCall:
            await self._goodbye(s)

    async def _node(self, s: CallSession, node: Node) -> Choice:
        s.enter(node.id, Phase.MENU)
        say = s.speaker
        step = Step(
            node=node.id,
            prompt=say.prompt(node.prompt),
            grammar=node.grammar,
            no_input=say.prompt(node.no_input) if node.no_input else None,
            no_match=say.prompt(node.no_match) if node.no_match else None,
        )

        def accept(answer: CallerInput) -> Choice | _NoMatch:
            if answer.kind is InputKind.SPEECH:
                choice = node.choice_for_keyword(answer.value)
            else:
                choice = node.choice_for_key(answer.value)
            return NO_MATCH if choice is None else choice

        return await s.ask(step, accept)

    async def _agent(self, s: CallSession, why: Why, node: str) -> None:
        try:
            await run_agent(self._deps, s, why, node)
        except CallHangup:
            raise
        except Exception:
            logger.exception("call %s: reaching an agent or registering the call-back request failed", s.call_id)
            await s.say(s.speaker(Phrase.SYSTEM_BUSY), barge_in=False)
        if s.outcome is not CallOutcome.TRANSFERRED:
            await self._goodbye(s)

    async def _goodbye(self, s: CallSession) -> None:
        s.enter("goodbye")
        await s.say(s.speaker(Phrase.GOODBYE), barge_in=False)
        await s.channel.hangup()

    async def _rescue(self, s: CallSession) -> None:
        """After a failure the caller still gets help: apologise and go to an agent."""
        try:
            await s.say(s.speaker(Phrase.SYSTEM_BUSY), barge_in=False)
            await self._agent(s, Why.ERROR, s.path[-1] if s.path else "start")
        except CallHangup:
            pass
        except Exception:
            logger.exception("call %s: could not hand the call to an agent after a failure", s.call_id)
