"""Menu validation: every kind of mistake gives one MenuError whose message names the item's path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from menus.loader import load_menu, menu_from_mapping
from menus.schema import Action, KeywordSet, MenuError, Phrase
from tests.menus.sample import MENU_FILE
from tickets.enums import Kind

BASE: dict[str, Any] = yaml.safe_load(MENU_FILE.read_text(encoding="utf-8"))
KINDS = "consultation, help, suggestion, complaint, report"

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return edit


def _del(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[int(last) if isinstance(node, list) else last]
    return edit


CASES: list[tuple[str, list[Edit], str]] = [
    ("dangling target", [_set("nodes/main/choices/2", {"key": 3, "target": "progres"})],
     "nodes.main.choices[2].target: unknown node 'progres'"),
    ("duplicate key", [_set("nodes/register/choices/1/key", 1)],
     "nodes.register.choices[1].key: duplicate key '1' (also choices[0])"),
    ("0 is reserved", [_set("nodes/main/choices/0/key", 0)],
     "nodes.main.choices[0].key: '0' is reserved: it always reaches an agent"),
    ("* is reserved", [_set("nodes/main/choices/0/key", "*")],
     "nodes.main.choices[0].key: '*' is reserved: it repeats the prompt"),
    ("# is reserved", [_set("nodes/main/choices/0/key", "#")],
     "nodes.main.choices[0].key: '#' is reserved: it ends input"),
    ("letter key", [_set("nodes/main/choices/0/key", "a")], "nodes.main.choices[0].key: expected a key 1-9, got 'a'"),
    ("two-digit key", [_set("nodes/main/choices/0/key", 12)],
     "nodes.main.choices[0].key: expected a key 1-9, got '12'"),
    ("boolean key", [_set("nodes/main/choices/0/key", True)],
     "nodes.main.choices[0].key: expected a key 1-9, got true/false"),
    ("missing key", [_del("nodes/main/choices/0/key")], "nodes.main.choices[0].key: missing"),
    ("missing prompt", [_del("nodes/main/prompt")], "nodes.main.prompt: missing"),
    ("prompt not a mapping", [_set("nodes/main/prompt", "请按1")],
     "nodes.main.prompt: expected a mapping, got a string"),
    ("prompt without text", [_del("nodes/main/prompt/text")], "nodes.main.prompt.text: missing"),
    ("English prompt", [_set("nodes/main/prompt/text", "Press 1")],
     "nodes.main.prompt.text: expected Chinese text, got 'Press 1'"),
    ("empty prompt", [_set("nodes/main/prompt/text", "  ")],
     "nodes.main.prompt.text: expected Chinese text, got a string"),
    ("bad prompt key", [_set("nodes/main/prompt/key", "Main Menu")],
     "nodes.main.prompt.key: expected a prompt key of lowercase letters, digits and _, got 'Main Menu'"),
    ("unknown action", [_set("nodes/main/choices/0/action", "transfer")],
     "nodes.main.choices[0].action: unknown action 'transfer' (expected one of progress, register, guides, agent, "
     "goodbye)"),
    ("action of a wrong type", [_set("nodes/main/choices/0/action", ["agent"])],
     "nodes.main.choices[0].action: unknown action a list (expected one of progress, register, guides, agent, "
     "goodbye)"),
    ("target and action", [_set("nodes/main/choices/0/target", "register")],
     "nodes.main.choices[0]: expected a target or an action, not both"),
    ("neither target nor action", [_del("nodes/main/choices/0/action")],
     "nodes.main.choices[0]: expected a target or an action"),
    ("register without kind", [_del("nodes/register/choices/0/kind")],
     f"nodes.register.choices[0].kind: missing (the register action needs one of {KINDS})"),
    ("unknown kind", [_set("nodes/register/choices/0/kind", "praise")],
     f"nodes.register.choices[0].kind: expected one of {KINDS}, got 'praise'"),
    ("kind without register", [_set("nodes/main/choices/0/kind", "help")],
     "nodes.main.choices[0].kind: only the register action takes a kind"),
    ("unknown choice field", [_set("nodes/main/choices/0/label", "进度")],
     "nodes.main.choices[0].label: unknown field (expected one of key, keywords, target, action, kind)"),
    ("keywords not a list", [_set("nodes/main/choices/0/keywords", "进度")],
     "nodes.main.choices[0].keywords: expected a list of Chinese phrases, got a string"),
    ("keyword not text", [_set("nodes/main/choices/0/keywords", ["进度", 5])],
     "nodes.main.choices[0].keywords[1]: expected Chinese text, got a number"),
    ("keyword twice", [_set("nodes/main/choices/0/keywords", ["进度", "进度"])],
     "nodes.main.choices[0].keywords[1]: duplicate keyword '进度'"),
    ("keyword of two choices", [_set("nodes/main/choices/1/keywords", ["进度"])],
     "nodes.main.choices[1].keywords[0]: '进度' is already a keyword of choices[0]"),
    ("keyword taken by agent", [_set("nodes/main/choices/1/keywords", ["人工"])],
     "nodes.main.choices[1].keywords[0]: '人工' is already a keyword of keywords.agent"),
    ("no choices", [_set("nodes/main/choices", [])], "nodes.main.choices: expected at least one choice"),
    ("choices not a list", [_set("nodes/main/choices", {"1": "progress"})],
     "nodes.main.choices: expected a list, got a mapping"),
    ("missing choices", [_del("nodes/main/choices")], "nodes.main.choices: missing"),
    ("unknown node field", [_set("nodes/main/promt", {})],
     "nodes.main.promt: unknown field (expected one of prompt, choices, no_input, no_match)"),
    ("bad node id", [_set("nodes/Main", {})],
     "nodes.Main: expected a node id of lowercase letters, digits and _, got 'Main'"),
    ("unreachable node", [_set("nodes/orphan", {"prompt": {"key": "orphan", "text": "孤儿菜单"},
                                                "choices": [{"key": 1, "target": "main"}]})],
     "nodes.orphan: not reachable from the start node 'main'"),
    ("duplicate prompt key", [_set("nodes/register/prompt/key", "main_menu")],
     "nodes.register.prompt.key: duplicate prompt key 'main_menu' (also nodes.main.prompt.key)"),
    ("prompt key of a phrase", [_set("nodes/register/prompt/key", "welcome")],
     "nodes.register.prompt.key: duplicate prompt key 'welcome' (also phrases.welcome)"),
    ("bad no_input", [_set("nodes/main/no_input", {"key": "main_no_input"})], "nodes.main.no_input.text: missing"),
    ("missing phrase", [_del("phrases/wrong_code")], "phrases: missing 'wrong_code'"),
    ("unknown phrase", [_set("phrases/wrongcode", "提取码不正确。")], "phrases.wrongcode: unknown phrase"),
    ("phrase not text", [_set("phrases/welcome", 3)], "phrases.welcome: expected Chinese text, got a number"),
    ("phrases not a mapping", [_set("phrases", ["您好"])], "phrases: expected a mapping, got a list"),
    ("missing keyword set", [_del("keywords/skip")], "keywords: missing 'skip'"),
    ("unknown keyword set", [_set("keywords/yes", ["是"])],
     "keywords.yes: unknown field (expected one of agent, repeat, main_menu, next, other, skip)"),
    ("keyword set not a list", [_set("keywords/agent", "人工")],
     "keywords.agent: expected a list of Chinese phrases, got a string"),
    ("empty keyword set", [_set("keywords/agent", [])], "keywords.agent: expected at least one phrase"),
    ("unknown start", [_set("start", "mian")], "start: unknown node 'mian'"),
    ("missing start", [_del("start")], "start: missing"),
    ("missing nodes", [_del("nodes")], "nodes: missing"),
    ("empty nodes", [_set("nodes", {})], "nodes: expected at least one node"),
    ("nodes not a mapping", [_set("nodes", ["main"])], "nodes: expected a mapping of node ids, got a list"),
    ("unknown top-level field", [_set("version", 2)],
     "menu.version: unknown field (expected one of start, keywords, phrases, nodes)"),
]


@pytest.mark.parametrize("edits,message", [(e, m) for _, e, m in CASES], ids=[c[0] for c in CASES])
def test_validation_errors_name_the_path(edits: list[Edit], message: str) -> None:
    data = copy.deepcopy(BASE)
    for edit in edits:
        edit(data)
    with pytest.raises(MenuError) as info:
        menu_from_mapping(data)
    assert str(info.value) == message


def test_not_a_mapping() -> None:
    with pytest.raises(MenuError, match=r"^menu: expected a mapping, got a list$"):
        menu_from_mapping([1, 2])


def test_menu_error_is_a_value_error() -> None:
    assert issubclass(MenuError, ValueError)


def test_the_shipped_menu_loads() -> None:
    menu = load_menu(MENU_FILE)
    assert menu.start == "main"
    assert [c.action or c.target for c in menu.node("main").choices] == [Action.PROGRESS, "register", Action.GUIDES]
    assert [c.kind for c in menu.node("register").choices[:5]] == [
        Kind.COMPLAINT, Kind.HELP, Kind.SUGGESTION, Kind.CONSULTATION, Kind.REPORT]
    assert set(menu.phrases) == set(Phrase) and set(menu.keywords) == set(KeywordSet)
    assert menu.source == MENU_FILE


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text("start: main\nnodes:\n  main: {}\n  main: {}\n", encoding="utf-8")
    with pytest.raises(MenuError, match=r"^line 4: duplicate key 'main'$"):
        load_menu(path)


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text("nodes: [unclosed\n", encoding="utf-8")
    with pytest.raises(MenuError, match=rf"^{path}: not valid YAML: "):
        load_menu(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MenuError, match=rf"^{tmp_path / 'none.yaml'}: cannot read the menu file: No such file"):
        load_menu(tmp_path / "none.yaml")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_bytes("start: 主菜单".encode("gbk"))
    with pytest.raises(MenuError, match=rf"^{path}: the menu file is not UTF-8$"):
        load_menu(path)
