"""Sentences composed from pieces (status in natural Chinese) and the list of static texts to prepare."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ivr.services import GuideFacts
from menus.schema import Menu, Phrase
from menus.speech import Speaker, static_texts
from tests.menus.doubles import TranscriptPrompts, is_fragment, is_piece, transcript
from tests.menus.sample import DEPARTMENTS, GUIDES, TOWNS, ticket
from tickets.enums import Kind, Status

D = dt.date
CASES = [
    (ticket(), "您的投诉工单已于11月29日派往区住房和城乡建设局，正在办理中，预计12月18日前办结。"),
    (ticket(status=Status.DISPATCHED, kind=Kind.HELP),
     "您的求助工单已于11月29日派往区住房和城乡建设局，正在办理中，预计12月18日前办结。"),
    (ticket(status=Status.REGISTERED, department=None, dispatched_on=None),
     "您的投诉工单已于11月28日受理，正在派单，预计12月18日前办结。"),
    (ticket(status=Status.EXTENDED, deadline=D(2027, 1, 8)),
     "您的投诉工单已于11月29日派往区住房和城乡建设局，已延期办理，预计1月8日前办结。"),
    (ticket(status=Status.RETURNED), "您的投诉工单正在重新派单，预计12月18日前办结。"),
    (ticket(status=Status.REOPENED, kind=Kind.SUGGESTION),
     "您的意见建议工单正在重新办理，承办单位是区住房和城乡建设局，预计12月18日前办结。"),
    (ticket(status=Status.RESOLVED, resolved_on=D(2026, 12, 3)),
     "您的投诉工单已于12月3日办结，承办单位是区住房和城乡建设局，我们将尽快对您进行回访。"),
    (ticket(status=Status.CALLED_BACK), "您的投诉工单已办结并完成回访。"),
    (ticket(status=Status.CLOSED, kind=Kind.CONSULTATION), "您的咨询工单已办结。"),
    (ticket(status=Status.MERGED, kind=Kind.REPORT), "您的举报工单已与相同诉求的工单合并办理。"),
    (ticket(deadline=None), "您的投诉工单已于11月29日派往区住房和城乡建设局，正在办理中。"),
    (ticket(status=Status.IN_PROGRESS, department=None),
     "您的投诉工单已于11月28日受理，正在办理中，预计12月18日前办结。"),
]


IDS = [f"{c[0].status.value}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("summary,sentence", CASES, ids=IDS)
def test_status_sentences(menu: Menu, summary, sentence: str) -> None:  # type: ignore[no-untyped-def]
    prompts = TranscriptPrompts()
    prompts.prepare(static_texts(menu, departments=DEPARTMENTS))
    assert transcript(Speaker(menu, prompts).status(summary)) == sentence
    assert prompts.misses == []


def shape(paths: list[Path]) -> str:
    """One letter per file: f a fragment (trimmed), p a piece (trimmed when rendered), W a whole sentence file."""
    return "".join("f" if is_fragment(p) else "p" if is_piece(p) else "W" for p in paths)


@pytest.mark.parametrize("summary", [c[0] for c in CASES], ids=IDS)
def test_status_is_fragments_but_its_last_file(menu: Menu, summary) -> None:  # type: ignore[no-untyped-def]
    paths = Speaker(menu, TranscriptPrompts()).status(summary)
    assert set(shape(paths)[:-1]) <= {"f", "p"}
    assert shape(paths)[-1] == "W"  # keeps its natural tail: the pause before the next prompt


def test_composed_sentences_keep_a_pause_only_at_their_ends(menu: Menu) -> None:
    say = Speaker(menu, TranscriptPrompts())
    # 您的 投诉 工单 已于 11月29日 派往 区住房和城乡建设局 ，正在办理中 ，预计 12月18日 前办结。
    assert shape(say.status(ticket())) == "ffffpffffpW"
    assert shape(say.open_tickets(2)) == "ffW" and shape(say.open_tickets(3)) == "fpW"
    assert shape(say.wrong_code(2)) == "WffW"  # 提取码不正确。 ends a sentence: its pause stays
    assert shape(say.wrong_code(0)) == "W"
    assert shape(say.locked(dt.datetime(2026, 11, 29, 2, 5))) == "fpffppfW"
    assert shape(say.item("龙泉街道", 1)) == "ffpp"  # the last piece: the pause between list items
    # 您的诉求已登记。 工单编号是 1… 再说一遍，工单编号是 1… 提取码是 1… 请记好……
    digits = "p" * 12
    numbers = say.ticket_numbers("202600000001", "001001", lead=Phrase.REGISTERED)
    assert shape(numbers) == f"Wf{digits}f{digits}f{'p' * 6}W"
    numbers = say.ticket_numbers("202600000001", "001001", lead=Phrase.CALLBACK_REGISTERED)  # 回电请求已登记，
    assert shape(numbers) == f"ff{digits}f{digits}f{'p' * 6}W"
    assert shape(say(Phrase.WELCOME)) == "W" and shape(say(Phrase.NO_INPUT, Phrase.WELCOME)) == "WW"


def test_guide_facts_are_one_sentence_each(menu: Menu) -> None:
    say = Speaker(menu, TranscriptPrompts())
    food = GUIDES[0]  # two materials, place, hours, one trip, 10 days
    # 食品经营许可 | 需要准备的材料有：营业执照复印件 | 法定代表人身份证 | 办理地点：区政务服务中心二楼 |
    # 办理时间：工作日上午九点至下午五点 | 该事项最多跑一次。 | 承诺 10 个工作日内办结。
    assert shape(say.guide(food)) == "W" + "fW" + "W" + "fW" + "fW" + "W" + "fpW"
    bare = GuideFacts(code="X", name="社保查询", materials=(), place="", hours="", trips=2, promised_days=2)
    assert shape(say.guide(bare)) == "W" + "ffW" + "ffW"


def test_every_status_has_a_sentence(menu: Menu) -> None:
    covered = {summary.status for summary, _ in CASES}
    assert covered == set(Status)


def test_wrong_code_and_lock_sentences(menu: Menu) -> None:
    say = Speaker(menu, TranscriptPrompts())
    assert transcript(say.wrong_code(1)) == "提取码不正确。您还可以再试1次。"
    assert transcript(say.wrong_code(0)) == "提取码多次输入错误，电话查询已暂时锁定。"
    assert transcript(say.locked(dt.datetime(2026, 11, 29, 9, 0))) == (
        "查询失败次数过多，电话查询已暂时锁定，请在11月29日9点以后再试，或按0转人工服务。")
    assert transcript(say.locked(dt.datetime(2026, 11, 29, 2, 5))) == (
        "查询失败次数过多，电话查询已暂时锁定，请在11月29日两点05分以后再试，或按0转人工服务。")


def test_guide_sentences(menu: Menu) -> None:
    say = Speaker(menu, TranscriptPrompts())
    bare = GuideFacts(code="X", name="社保查询", materials=(), place="", hours="", trips=3, promised_days=5)
    assert transcript(say.guide(bare)) == "社保查询该事项需要到现场办理3次。承诺5个工作日内办结。"
    two = GuideFacts(code="Y", name="社保查询", materials=(), place="", hours="", trips=2, promised_days=2)
    assert transcript(say.guide(two)) == "社保查询该事项需要到现场办理两次。承诺两个工作日内办结。"


def test_static_texts(menu: Menu) -> None:
    texts = static_texts(menu, towns=TOWNS, departments=(*DEPARTMENTS, DEPARTMENTS[0]), guides=GUIDES,
                         extra=[(None, "额外的话"), ("holiday", "节假日提示")])
    assert ("main_menu", menu.node("main").prompt.text) in texts
    assert ("register_menu", menu.node("register").prompt.text) in texts
    assert all((p.value, menu.phrase(p).text) in texts for p in Phrase)
    assert all((None, k.label_zh) in texts for k in Kind)
    assert all((None, name) in texts for _, name in TOWNS)
    assert (None, "区住房和城乡建设局") in texts
    pieces = {(None, "营业执照复印件"), (None, "区政务服务中心二楼"), (None, "工作日全天"), (None, "食品经营许可")}
    assert pieces <= set(texts)
    assert (None, "额外的话") in texts and ("holiday", "节假日提示") in texts
    assert len(texts) == len(set(texts))  # no duplicates
    keyed = [key for key, _ in texts if key is not None]
    assert len(keyed) == len(set(keyed))  # one text per recorded override
