"""The call flow as data: what :mod:`menus.loader` builds from ``menus/main.yaml`` and :mod:`menus.flow` runs.

A menu has nodes (a prompt and key choices, each choice going to another node or starting an action), the
phrases the built-in actions speak (fixed fragments that sentences are composed from) and the spoken keywords
of the built-in steps. Everything is frozen: a loaded menu never changes, a reload builds a new one.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path

from tickets.enums import Kind

__all__ = [
    "Action",
    "Choice",
    "KeywordSet",
    "Menu",
    "MenuError",
    "Node",
    "Phrase",
    "Prompt",
]


class MenuError(ValueError):
    """The menu file is wrong; the message starts with the path of the offending item (``nodes.main.prompt``)."""


class Action(enum.Enum):
    """What a choice can start besides going to another node."""

    PROGRESS = "progress"  # ask for a ticket's progress
    REGISTER = "register"  # register a ticket of the choice's ``kind``
    GUIDES = "guides"  # the most asked-for service guides
    AGENT = "agent"  # transfer to an agent (call-back request if nobody answers)
    GOODBYE = "goodbye"  # say goodbye and hang up


class KeywordSet(enum.Enum):
    """Spoken keywords of the built-in steps (keys in the ``keywords`` section)."""

    AGENT = "agent"  # anywhere: same as 0
    REPEAT = "repeat"  # anywhere: same as *
    MAIN_MENU = "main_menu"  # after a self-service answer: same as 9
    NEXT = "next"  # next open ticket: same as 1
    OTHER = "other"  # another ticket / another guide: same as 2 (progress) or 1 (guides)
    SKIP = "skip"  # skip the town/street choice: same as #


class Phrase(enum.Enum):
    """Fixed fragments the built-in steps speak (keys in the ``phrases`` section; also their prompt keys)."""

    WELCOME = "welcome"
    NO_INPUT = "no_input"
    NO_MATCH = "no_match"
    GOODBYE = "goodbye"
    SYSTEM_BUSY = "system_busy"
    AFTER_SERVICE = "after_service"
    PRESS = "press"  # "请按" between an item's name and its key
    # progress
    ASK_TICKET_NUMBER = "ask_ticket_number"
    BAD_TICKET_NUMBER = "bad_ticket_number"
    ASK_EXTRACTION_CODE = "ask_extraction_code"
    BAD_EXTRACTION_CODE = "bad_extraction_code"
    TICKET_NOT_FOUND = "ticket_not_found"
    WRONG_CODE = "wrong_code"
    ATTEMPTS_LEFT = "attempts_left"
    TIMES = "times"
    WRONG_CODE_LOCKED = "wrong_code_locked"
    LOCKED_UNTIL = "locked_until"
    LOCKED_RETRY_AFTER = "locked_retry_after"
    HOUR = "hour"
    MINUTE = "minute"
    YOU_HAVE = "you_have"
    OPEN_TICKETS_NEWEST = "open_tickets_newest"
    NEXT_TICKET = "next_ticket"
    LAST_TICKET = "last_ticket"
    TICKET_OPTIONS_NEXT = "ticket_options_next"
    TICKET_OPTIONS = "ticket_options"
    # status sentences: 您的 + kind + 工单 + ...
    YOUR = "your"
    TICKET_WORD = "ticket_word"
    ON = "on"
    ACCEPTED = "accepted"
    ACCEPTED_WAITING = "accepted_waiting"
    SENT_TO = "sent_to"
    BEING_HANDLED = "being_handled"
    EXTENDED = "extended"
    RETURNED = "returned"
    REOPENED = "reopened"
    HANDLED_BY = "handled_by"
    RESOLVED = "resolved"
    WILL_CALL_BACK = "will_call_back"
    CALLED_BACK = "called_back"
    CLOSED = "closed"
    MERGED = "merged"
    EXPECTED = "expected"
    BEFORE_RESOLVED = "before_resolved"
    PERIOD = "period"
    # register
    TOWN_INTRO = "town_intro"
    TOWN_MORE = "town_more"
    TOWN_FIRST_PAGE = "town_first_page"
    TOWN_SKIP = "town_skip"
    RECORD_INSTRUCTIONS = "record_instructions"
    RECORD_EMPTY = "record_empty"
    REGISTERED = "registered"
    TICKET_NUMBER_IS = "ticket_number_is"
    TICKET_NUMBER_AGAIN = "ticket_number_again"
    EXTRACTION_CODE_IS = "extraction_code_is"
    KEEP_NUMBERS = "keep_numbers"
    AFTER_REGISTER = "after_register"
    # guides
    GUIDES_INTRO = "guides_intro"
    GUIDES_LIST_TAIL = "guides_list_tail"
    GUIDES_NONE = "guides_none"
    GUIDE_MATERIALS = "guide_materials"
    GUIDE_PLACE = "guide_place"
    GUIDE_HOURS = "guide_hours"
    GUIDE_ONLINE = "guide_online"
    GUIDE_ONE_TRIP = "guide_one_trip"
    GUIDE_TRIPS = "guide_trips"
    GUIDE_ON_THE_SPOT = "guide_on_the_spot"
    GUIDE_PROMISED = "guide_promised"
    GUIDE_WORKING_DAYS = "guide_working_days"
    GUIDE_AFTER = "guide_after"
    # agent
    TRANSFERRING = "transferring"
    AGENTS_BUSY = "agents_busy"
    ASK_PHONE = "ask_phone"
    CALLBACK_REGISTERED = "callback_registered"


@dataclasses.dataclass(frozen=True, slots=True)
class Prompt:
    """One sentence: ``key`` names a recorded override ``<prompts_dir>/<key>.wav``, ``text`` is what TTS says."""

    key: str
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """A key (1-9) and spoken keywords leading to a node (``target``) or an action."""

    key: str
    keywords: tuple[str, ...]
    target: str | None = None
    action: Action | None = None
    kind: Kind | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    id: str
    prompt: Prompt
    choices: tuple[Choice, ...]
    no_input: Prompt | None = None
    no_match: Prompt | None = None

    def choice_for_key(self, key: str) -> Choice | None:
        return next((c for c in self.choices if c.key == key), None)

    def choice_for_keyword(self, word: str) -> Choice | None:
        return next((c for c in self.choices if word in c.keywords), None)

    @property
    def grammar(self) -> tuple[str, ...]:
        return tuple(w for c in self.choices for w in c.keywords)


@dataclasses.dataclass(frozen=True, eq=False)
class Menu:
    """A validated menu (see :func:`menus.loader.load_menu`)."""

    start: str
    nodes: Mapping[str, Node]
    phrases: Mapping[Phrase, Prompt]
    keywords: Mapping[KeywordSet, tuple[str, ...]]
    source: Path | None = None

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def phrase(self, phrase: Phrase) -> Prompt:
        return self.phrases[phrase]

    def words(self, which: KeywordSet) -> tuple[str, ...]:
        return self.keywords[which]

    def prompts(self) -> list[Prompt]:
        """Every fixed prompt of the menu: node prompts (with their own no-input/no-match) and phrases."""
        out: list[Prompt] = []
        for node in self.nodes.values():
            out.append(node.prompt)
            out.extend(p for p in (node.no_input, node.no_match) if p is not None)
        out.extend(self.phrases.values())
        return out
