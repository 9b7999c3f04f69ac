"""Load and fully validate a menu file, and hold the current menu for reloads on SIGHUP.

Every problem is a :class:`~menus.schema.MenuError` whose message starts with the path of the item, e.g.
``nodes.main.choices[2].target: unknown node 'progres'``. A menu that loads has no dangling target, no
duplicate key or prompt key, no missing phrase or keyword set, no unknown action and no unreachable node.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import threading
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from menus.schema import Action, Choice, KeywordSet, Menu, MenuError, Node, Phrase, Prompt
from tickets.enums import Kind

__all__ = ["MenuHolder", "load_menu", "menu_from_mapping"]

logger = logging.getLogger(__name__)

_TOP_FIELDS = ("start", "keywords", "phrases", "nodes")
_NODE_FIELDS = ("prompt", "choices", "no_input", "no_match")
_CHOICE_FIELDS = ("key", "keywords", "target", "action", "kind")
_PROMPT_FIELDS = ("key", "text")
_ID_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
_CJK_RE = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_RESERVED_KEYS = {
    "0": "'0' is reserved: it always reaches an agent",
    "*": "'*' is reserved: it repeats the prompt",
    "#": "'#' is reserved: it ends input",
}
_ACTIONS = ", ".join(a.value for a in Action)
_KINDS = ", ".join(k.value for k in Kind)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping with the same key twice (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise MenuError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _type_name(value: Any) -> str:
    return {
        type(None): "nothing", bool: "true/false", int: "a number", float: "a number", str: "a string",
        list: "a list", dict: "a mapping",
    }.get(type(value), type(value).__name__)


def _mapping(value: Any, where: str, fields: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MenuError(f"{where}: expected a mapping, got {_type_name(value)}")
    for name in value:
        if name not in fields:
            raise MenuError(f"{where}.{name}: unknown field (expected one of {', '.join(fields)})")
    return value


def _chinese(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MenuError(f"{where}: expected Chinese text, got {_type_name(value)}")
    if not _CJK_RE.search(value):
        raise MenuError(f"{where}: expected Chinese text, got {value!r}")
    return value.strip()


def _identifier(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        shown = repr(value) if isinstance(value, str) else _type_name(value)
        raise MenuError(f"{where}: expected {what} of lowercase letters, digits and _, got {shown}")
    return value


def _prompt(value: Any, where: str) -> Prompt:
    if value is None:
        raise MenuError(f"{where}: missing")
    data = _mapping(value, where, _PROMPT_FIELDS)
    for name in _PROMPT_FIELDS:
        if name not in data:
            raise MenuError(f"{where}.{name}: missing")
    key = _identifier(data["key"], f"{where}.key", "a prompt key")
    return Prompt(key=key, text=_chinese(data["text"], f"{where}.text"))


def _words(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise MenuError(f"{where}: expected a list of Chinese phrases, got {_type_name(value)}")
    words = tuple(_chinese(w, f"{where}[{i}]") for i, w in enumerate(value))
    for i, word in enumerate(words):
        if word in words[:i]:
            raise MenuError(f"{where}[{i}]: duplicate keyword {word!r}")
    return words


def _key(value: Any, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise MenuError(f"{where}: expected a key 1-9, got {_type_name(value)}")
    if value in _RESERVED_KEYS:
        raise MenuError(f"{where}: {_RESERVED_KEYS[value]}")
    if len(value) != 1 or value not in "123456789":
        raise MenuError(f"{where}: expected a key 1-9, got {value!r}")
    return value


def _choice(value: Any, where: str, node_ids: set[str]) -> Choice:
    data = _mapping(value, where, _CHOICE_FIELDS)
    if "key" not in data:
        raise MenuError(f"{where}.key: missing")
    key = _key(data["key"], f"{where}.key")
    keywords = _words(data.get("keywords", []), f"{where}.keywords")
    has_target, has_action = "target" in data, "action" in data
    if has_target == has_action:
        raise MenuError(f"{where}: expected a target or an action" + (", not both" if has_target else ""))
    target = action = kind = None
    if has_target:
        target = _identifier(data["target"], f"{where}.target", "a node id")
        if target not in node_ids:
            raise MenuError(f"{where}.target: unknown node {target!r}")
    else:
        raw = data["action"]
        try:
            action = Action(raw)
        except ValueError:
            shown = repr(raw) if isinstance(raw, str) else _type_name(raw)
            raise MenuError(f"{where}.action: unknown action {shown} (expected one of {_ACTIONS})") from None
    if action is Action.REGISTER:
        if "kind" not in data:
            raise MenuError(f"{where}.kind: missing (the register action needs one of {_KINDS})")
        try:
            kind = Kind(data["kind"])
        except ValueError:
            shown = repr(data["kind"]) if isinstance(data["kind"], str) else _type_name(data["kind"])
            raise MenuError(f"{where}.kind: expected one of {_KINDS}, got {shown}") from None
    elif "kind" in data:
        raise MenuError(f"{where}.kind: only the register action takes a kind")
    return Choice(key=key, keywords=keywords, target=target, action=action, kind=kind)


def _node(node_id: str, value: Any, node_ids: set[str], global_words: Mapping[str, str]) -> Node:
    where = f"nodes.{node_id}"
    data = _mapping(value, where, _NODE_FIELDS)
    prompt = _prompt(data.get("prompt"), f"{where}.prompt")
    if "choices" not in data:
        raise MenuError(f"{where}.choices: missing")
    raw_choices = data["choices"]
    if not isinstance(raw_choices, list):
        raise MenuError(f"{where}.choices: expected a list, got {_type_name(raw_choices)}")
    if not raw_choices:
        raise MenuError(f"{where}.choices: expected at least one choice")
    choices: list[Choice] = []
    keys: dict[str, int] = {}
    words: dict[str, int] = {}
    for i, raw in enumerate(raw_choices):
        here = f"{where}.choices[{i}]"
        choice = _choice(raw, here, node_ids)
        if choice.key in keys:
            raise MenuError(f"{here}.key: duplicate key {choice.key!r} (also choices[{keys[choice.key]}])")
        keys[choice.key] = i
        for j, word in enumerate(choice.keywords):
            if word in words:
                raise MenuError(f"{here}.keywords[{j}]: {word!r} is already a keyword of choices[{words[word]}]")
            if word in global_words:
                raise MenuError(f"{here}.keywords[{j}]: {word!r} is already a keyword of {global_words[word]}")
            words[word] = i
        choices.append(choice)
    no_input = _prompt(data["no_input"], f"{where}.no_input") if "no_input" in data else None
    no_match = _prompt(data["no_match"], f"{where}.no_match") if "no_match" in data else None
    return Node(id=node_id, prompt=prompt, choices=tuple(choices), no_input=no_input, no_match=no_match)


def _keywords(value: Any) -> dict[KeywordSet, tuple[str, ...]]:
    data = _mapping(value, "keywords", tuple(k.value for k in KeywordSet))
    for which in KeywordSet:
        if which.value not in data:
            raise MenuError(f"keywords: missing {which.value!r}")
    out = {which: _words(data[which.value], f"keywords.{which.value}") for which in KeywordSet}
    for which in KeywordSet:
        if not out[which]:
            raise MenuError(f"keywords.{which.value}: expected at least one phrase")
    return out


def _phrases(value: Any) -> dict[Phrase, Prompt]:
    if not isinstance(value, Mapping):
        raise MenuError(f"phrases: expected a mapping, got {_type_name(value)}")
    known = {p.value for p in Phrase}
    for name in value:
        if name not in known:
            raise MenuError(f"phrases.{name}: unknown phrase")
    for phrase in Phrase:
        if phrase.value not in value:
            raise MenuError(f"phrases: missing {phrase.value!r}")
    return {p: Prompt(key=p.value, text=_chinese(value[p.value], f"phrases.{p.value}")) for p in Phrase}


def _check_prompt_keys(nodes: Mapping[str, Node]) -> None:
    owners = {p.value: f"phrases.{p.value}" for p in Phrase}
    for node in nodes.values():
        for field in ("prompt", "no_input", "no_match"):
            prompt = getattr(node, field)
            if prompt is None:
                continue
            where = f"nodes.{node.id}.{field}.key"
            if prompt.key in owners:
                raise MenuError(f"{where}: duplicate prompt key {prompt.key!r} (also {owners[prompt.key]})")
            owners[prompt.key] = where


def _check_reachable(start: str, nodes: Mapping[str, Node]) -> None:
    seen = {start}
    todo = [start]
    while todo:
        for choice in nodes[todo.pop()].choices:
            if choice.target is not None and choice.target not in seen:
                seen.add(choice.target)
                todo.append(choice.target)
    for node_id in nodes:
        if node_id not in seen:
            raise MenuError(f"nodes.{node_id}: not reachable from the start node {start!r}")


def menu_from_mapping(data: Any, source: Path | None = None) -> Menu:
    """Build a :class:`Menu` from parsed YAML, checking everything (raises :class:`MenuError`)."""
    top = _mapping(data, "menu", _TOP_FIELDS)
    for name in _TOP_FIELDS:
        if name not in top:
            raise MenuError(f"{name}: missing")
    raw_nodes = top["nodes"]
    if not isinstance(raw_nodes, Mapping):
        raise MenuError(f"nodes: expected a mapping of node ids, got {_type_name(raw_nodes)}")
    if not raw_nodes:
        raise MenuError("nodes: expected at least one node")
    node_ids = {_identifier(n, f"nodes.{n}", "a node id") for n in raw_nodes}
    start = _identifier(top["start"], "start", "a node id")
    if start not in node_ids:
        raise MenuError(f"start: unknown node {start!r}")
    keywords = _keywords(top["keywords"])
    global_words: dict[str, str] = {}
    for which in (KeywordSet.AGENT, KeywordSet.REPEAT):
        for word in keywords[which]:
            global_words.setdefault(word, f"keywords.{which.value}")
    phrases = _phrases(top["phrases"])
    nodes = {node_id: _node(node_id, value, node_ids, global_words) for node_id, value in raw_nodes.items()}
    _check_prompt_keys(nodes)
    _check_reachable(start, nodes)
    return Menu(
        start=start,
        nodes=types.MappingProxyType(nodes),
        phrases=types.MappingProxyType(phrases),
        keywords=types.MappingProxyType(keywords),
        source=source,
    )


def load_menu(path: str | Path) -> Menu:
    """Read and validate a menu file (raises :class:`MenuError`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MenuError(f"{path}: cannot read the menu file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise MenuError(f"{path}: the menu file is not UTF-8") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise MenuError(f"{path}: not valid YAML: {exc}") from exc
    return menu_from_mapping(data, source=path)


class MenuHolder:
    """The menu new calls get. :meth:`reload` swaps in a new one atomically: calls in progress keep the menu
    object they started with, and a file that does not load keeps the old menu (the error is logged).

    ``prepare`` (e.g. rendering the new prompts) runs on the new menu before the swap; if it fails the old
    menu stays too. :meth:`reload` blocks while ``prepare`` renders; :meth:`reload_soon` runs it in a thread so
    calls in progress are not held up.
    """

    def __init__(self, path: str | Path, *, prepare: Callable[[Menu], None] | None = None) -> None:
        self.path = Path(path)
        self._prepare = prepare
        menu = load_menu(self.path)
        if prepare is not None:
            prepare(menu)
        self._menu = menu
        self.generation = 1
        self._lock = threading.Lock()  # one reload at a time (reload_soon runs them in threads)
        self._tasks: set[asyncio.Task[bool]] = set()

    @property
    def current(self) -> Menu:
        return self._menu

    def reload(self) -> bool:
        """Load the file again; True if the new menu is now current."""
        with self._lock:
            return self._reload()

    def reload_soon(self) -> asyncio.Task[bool]:
        """:meth:`reload` in a thread, from the event loop (e.g. its SIGHUP handler); await the task for the
        result."""
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.reload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _reload(self) -> bool:
        try:
            menu = load_menu(self.path)
        except MenuError as exc:
            logger.error("menu %s not reloaded, keeping generation %d: %s", self.path, self.generation, exc)
            return False
        if self._prepare is not None:
            try:
                self._prepare(menu)
            except Exception:
                logger.exception("menu %s not reloaded: preparing its prompts failed", self.path)
                return False
        self._menu = menu
        self.generation += 1
        logger.info("menu %s reloaded: generation %d, %d nodes", self.path, self.generation, len(menu.nodes))
        return True

    def install_sighup(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reload on SIGHUP without blocking ``loop`` (Unix only)."""
        loop.add_signal_handler(signal.SIGHUP, self.reload_soon)
