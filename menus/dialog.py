"""One call's dialogue state and the one primitive every step is built on: :meth:`CallSession.ask`.

``ask`` plays a prompt (barge-in on), collects keys or a spoken keyword and applies the rules that hold
everywhere: 0 or an agent keyword reaches an agent, * or a repeat keyword repeats the prompt, no input and
no match re-prompt with an apology, and after ``ivr.max_retries`` failures the caller goes to an agent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar

from ivr.channel import CallChannel, CallerInput, InputKind
from ivr.services import HotlineServices
from menus.schema import KeywordSet, Menu, Phrase
from menus.speech import Speaker
from tickets.config import AgentSettings, IvrSettings
from tickets.enums import CallOutcome

__all__ = ["NO_MATCH", "CallSession", "EndCall", "Escalate", "FlowDeps", "Phase", "Step", "Why"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


TRAILING_TERMINATOR_S = 1.0  # after an entry complete by length, how long to wait for its '#'


class _NoMatch:
    def __repr__(self) -> str:
        return "NO_MATCH"


NO_MATCH: Final = _NoMatch()


class Why(enum.Enum):
    """Why a call goes to an agent (the call-back note says it in Chinese)."""

    ASKED = "来电人要求人工服务"
    NO_INPUT = "多次未按键"
    NO_MATCH = "多次输入无效"
    ERROR = "系统故障"


class Escalate(Exception):
    """Go to an agent now (the caller asked, or gave up on a step)."""

    def __init__(self, node: str, why: Why) -> None:
        super().__init__(f"{node}: {why.name.lower()}")
        self.node = node
        self.why = why


class EndCall(Exception):
    """The caller is done (silence after a self-service answer): say goodbye and hang up."""


class Phase(enum.Enum):
    MENU = "menu"
    PROGRESS = "progress"
    REGISTER = "register"
    GUIDES = "guides"
    AGENT = "agent"
    ENDED = "ended"


# Stronger outcomes win: a call that registered a ticket and then reached an agent was transferred.
_OUTCOME_RANK = {
    CallOutcome.ABANDONED: 0,
    CallOutcome.REJECTED: 0,
    CallOutcome.SELF_SERVED: 1,
    CallOutcome.TICKET_REGISTERED: 2,
    CallOutcome.CALLBACK_REQUESTED: 3,
    CallOutcome.TRANSFERRED: 4,
}


@dataclasses.dataclass(frozen=True, slots=True)
class FlowDeps:
    """What every step may use besides the call itself (shared by all calls of a worker)."""

    services: HotlineServices
    ivr: IvrSettings
    agents: AgentSettings
    recordings_dir: Path
    towns: tuple[tuple[str, str], ...]
    tz: dt.tzinfo


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One question: what to play and how to collect the answer."""

    node: str  # where in the flow (logs, the call's path)
    prompt: Sequence[Path]  # played with barge-in, again after an apology
    intro: Sequence[Path] = ()  # played first and on repeat only (e.g. the answer before the options)
    intro_barge_in: bool = True
    max_digits: int = 1
    terminators: str = ""
    grammar: Sequence[str] = ()
    no_input: Sequence[Path] | None = None  # default: the no_input phrase
    no_match: Sequence[Path] | None = None  # default: the no_match phrase
    silence_ends: bool = False  # after the retries, silence ends the call instead of reaching an agent
    secret: bool = False  # never log the keys (extraction codes)


class CallSession:
    """What the flow knows about one call while it runs."""

    def __init__(self, channel: CallChannel, menu: Menu, speaker: Speaker, ivr: IvrSettings) -> None:
        self.channel = channel
        self.call_id = channel.call_id
        self.menu = menu
        self.speaker = speaker
        self.ivr = ivr
        self.path: list[str] = []
        self.notes: list[str] = []
        self.outcome = CallOutcome.ABANDONED
        self.ticket_number: str | None = None
        self.recordings = 0
        self.phase = Phase.MENU
        self.key_buffered = False
        self._stray_terminator = False  # the last entry was complete by length: a lone '#' may follow
        self._carry = ""  # a key read while waiting for that '#': the start of the next answer

    def _set_state(self, phase: Phase) -> None:
        if phase is not self.phase:
            logger.info("call %s: %s -> %s", self.call_id, self.phase.value, phase.value)
            self.phase = phase

    def enter(self, node: str, phase: Phase | None = None) -> None:
        """Note that the call reached ``node`` (kept in the call record's path)."""
        if phase is not None:
            self._set_state(phase)
        if not self.path or self.path[-1] != node:
            self.path.append(node)
        logger.debug("call %s: at %s", self.call_id, node)

    def note(self, text: str) -> None:
        """Context for an agent who calls back (what the caller asked)."""
        self.notes.append(text)

    def promote(self, outcome: CallOutcome) -> None:
        if _OUTCOME_RANK[outcome] > _OUTCOME_RANK[self.outcome]:
            self.outcome = outcome

    async def say(self, paths: Sequence[Path], *, barge_in: bool = True) -> None:
        """Play; with barge-in, a key already pressed skips the prompt (the caller has answered already)."""
        if not paths:
            return
        if barge_in and self.key_buffered:
            return
        key = await self.channel.play(list(paths), barge_in=barge_in)
        if barge_in and key is not None:
            self.key_buffered = True

    async def _keys(self, step: Step) -> CallerInput:
        ivr = self.ivr
        carry, self._carry = self._carry, ""
        if not carry:
            grammar = (*step.grammar, *self.menu.words(KeywordSet.AGENT), *self.menu.words(KeywordSet.REPEAT))
            return await self.channel.collect(
                max_digits=step.max_digits, timeout_s=ivr.no_input_timeout_s,
                inter_digit_timeout_s=ivr.inter_digit_timeout_s, terminators=step.terminators, grammar=grammar,
            )
        if step.max_digits <= 1:
            return CallerInput(InputKind.DIGITS, carry)
        rest = await self.channel.collect(
            max_digits=step.max_digits - 1, timeout_s=ivr.inter_digit_timeout_s,
            inter_digit_timeout_s=ivr.inter_digit_timeout_s, terminators=step.terminators,
        )
        return CallerInput(InputKind.DIGITS, carry + rest.value if rest.kind is InputKind.DIGITS else carry)

    async def collect(self, step: Step) -> CallerInput | None:
        """The caller's answer; None for a stray '#' (ask again without counting a failure)."""
        answer = await self._keys(step)
        self.key_buffered = False
        complete = (answer.kind is InputKind.DIGITS and step.max_digits > 1 and "#" in step.terminators
                    and len(answer.value) == step.max_digits)
        stray_possible, self._stray_terminator = self._stray_terminator, complete
        if stray_possible and answer.kind is InputKind.DIGITS and answer.value in ("", "#"):
            logger.debug("call %s: %s ignored a '#' left over from the previous entry", self.call_id, step.node)
            return None
        shown = "******" if step.secret and answer.kind is InputKind.DIGITS else answer.value
        logger.debug("call %s: %s answered %s %r", self.call_id, step.node, answer.kind.value, shown)
        if complete:
            # Complete by length: swallow the '#' the caller presses next (as the prompt asked), keep any other
            # key for the next question (typing ahead).
            extra = await self.channel.collect(
                max_digits=1, timeout_s=TRAILING_TERMINATOR_S, inter_digit_timeout_s=TRAILING_TERMINATOR_S,
                terminators="#",
            )
            if extra.kind is InputKind.DIGITS:
                self._stray_terminator = False
                if extra.value:
                    self._carry = extra.value
                    self.key_buffered = True
        return answer

    def _is(self, answer: CallerInput, key: str, words: KeywordSet) -> bool:
        if answer.kind is InputKind.DIGITS:
            return answer.value == key or (key == "*" and "*" in answer.value)
        return answer.kind is InputKind.SPEECH and answer.value in self.menu.words(words)

    def wants_agent(self, answer: CallerInput) -> bool:
        """0, or a spoken agent keyword."""
        return self._is(answer, "0", KeywordSet.AGENT)

    def wants_repeat(self, answer: CallerInput) -> bool:
        """* (anywhere in an entry), or a spoken repeat keyword."""
        return self._is(answer, "*", KeywordSet.REPEAT)

    async def ask(self, step: Step, accept: Callable[[CallerInput], T | _NoMatch]) -> T:
        """Ask until ``accept`` returns something other than :data:`NO_MATCH` (raises :class:`Escalate`,
        :class:`EndCall` or :class:`~ivr.channel.CallHangup`)."""
        failures = 0
        apology: Sequence[Path] = ()
        intro = True
        while True:
            if intro:
                await self.say(step.intro, barge_in=step.intro_barge_in)
            await self.say([*apology, *step.prompt])
            answer = await self.collect(step)
            if answer is None:
                continue
            intro, apology = False, ()
            if answer.kind is InputKind.NO_INPUT:
                failures += 1
                if failures >= self.ivr.max_retries:
                    if step.silence_ends:
                        raise EndCall()
                    raise Escalate(step.node, Why.NO_INPUT)
                apology = step.no_input if step.no_input is not None else self.speaker(Phrase.NO_INPUT)
                continue
            if self.wants_agent(answer):
                raise Escalate(step.node, Why.ASKED)
            if self.wants_repeat(answer):
                intro = True
                continue
            result = accept(answer)
            if not isinstance(result, _NoMatch):
                return result
            failures += 1
            if failures >= self.ivr.max_retries:
                raise Escalate(step.node, Why.NO_MATCH)
            apology = step.no_match if step.no_match is not None else self.speaker(Phrase.NO_MATCH)

    def is_main_menu(self, answer: CallerInput) -> bool:
        return self._is(answer, "9", KeywordSet.MAIN_MENU)

    async def after_service(
        self, node: str, intro: Sequence[Path], prompt: Phrase = Phrase.AFTER_SERVICE, *, intro_barge_in: bool = True
    ) -> str:
        """After an answer: 9 back to the main menu (returns the start node), * hears it again, 0 an agent,
        silence ends the call."""
        self.enter(node)
        step = Step(
            node=node, intro=intro, intro_barge_in=intro_barge_in, prompt=self.speaker(prompt),
            grammar=self.menu.words(KeywordSet.MAIN_MENU), silence_ends=True,
        )
        return await self.ask(step, lambda a: self.menu.start if self.is_main_menu(a) else NO_MATCH)
