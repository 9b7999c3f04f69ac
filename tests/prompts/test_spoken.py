"""How numbers, digit strings, dates and working days are decomposed into pieces (pure; no audio)."""

from __future__ import annotations

import datetime as dt

import pytest

from ivr.prompts import date_pieces, digit_pieces, number_pieces, speakable, working_day_pieces
from ivr.tts import resolve_voice

TODAY = dt.date(2026, 11, 29)


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        (0, "零"),
        (1, "一"),
        (2, "二"),
        (10, "十"),
        (12, "十二"),
        (15, "十五"),
        (20, "二十"),
        (22, "二十二"),
        (100, "一百"),
        (105, "一百零五"),
        (110, "一百一十"),
        (200, "两百"),
        (1000, "一千"),
        (1005, "一千零五"),
        (1050, "一千零五十"),
        (1200, "一千二百"),
        (2000, "两千"),
        (2222, "两千二百二十二"),
        (10000, "一万"),
        (10001, "一万零一"),
        (10010, "一万零一十"),
        (10100, "一万零一百"),
        (12000, "一万二千"),
        (20000, "两万"),
        (22000, "两万二千"),
        (99999, "九万九千九百九十九"),
    ],
)
def test_number_pieces(value: int, spoken: str) -> None:
    pieces = number_pieces(value)
    assert "".join(pieces) == spoken
    assert all(len(p) == 1 for p in pieces)  # single-character pieces, one file each


def test_number_piece_sequences_pinned() -> None:
    assert number_pieces(0) == ["零"]
    assert number_pieces(10) == ["十"]
    assert number_pieces(12) == ["十", "二"]
    assert number_pieces(20) == ["二", "十"]
    assert number_pieces(105) == ["一", "百", "零", "五"]
    assert number_pieces(1000) == ["一", "千"]
    assert number_pieces(2000) == ["两", "千"]
    assert number_pieces(10010) == ["一", "万", "零", "一", "十"]
    assert number_pieces(99999) == ["九", "万", "九", "千", "九", "百", "九", "十", "九"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "number out of range 0-99999: -1"),
        (100000, "number out of range 0-99999: 100000"),
        (True, "expected an integer 0-99999, got True"),
        ("12", "expected an integer 0-99999, got '12'"),
    ],
)
def test_number_out_of_range(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        number_pieces(value)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_digits_are_read_telephone_style_with_yao() -> None:
    assert digit_pieces("0123456789") == ["零", "幺", "二", "三", "四", "五", "六", "七", "八", "九"]
    assert digit_pieces("110") == ["幺", "幺", "零"]
    assert digit_pieces("96536") == ["九", "六", "五", "三", "六"]


@pytest.mark.parametrize("bad", ["", "12a4", "12 34", "١٢٣", "-1"])
def test_digits_reject_non_digits(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        digit_pieces(bad)
    assert str(info.value) == f"expected digits 0-9, got {bad!r}"


@pytest.mark.parametrize(
    ("value", "pieces"),
    [
        (dt.date(2026, 11, 29), ["十", "一", "月", "二", "十", "九", "日"]),
        (dt.date(2026, 2, 2), ["二", "月", "二", "日"]),  # months and days never take 两
        (dt.date(2026, 10, 10), ["十", "月", "十", "日"]),
        (dt.date(2026, 12, 31), ["十", "二", "月", "三", "十", "一", "日"]),
        (dt.date(2027, 1, 1), ["二", "零", "二", "七", "年", "一", "月", "一", "日"]),
        (dt.date(2010, 6, 20), ["二", "零", "一", "零", "年", "六", "月", "二", "十", "日"]),
    ],
)
def test_date_pieces(value: dt.date, pieces: list[str]) -> None:
    assert date_pieces(value, TODAY) == pieces


@pytest.mark.parametrize(
    ("days", "pieces"),
    [
        (1, ["一", "个工作日"]),
        (2, ["两", "个工作日"]),
        (3, ["三", "个工作日"]),
        (12, ["十", "二", "个工作日"]),
        (15, ["十", "五", "个工作日"]),
        (20, ["二", "十", "个工作日"]),
    ],
)
def test_working_day_pieces(days: int, pieces: list[str]) -> None:
    assert working_day_pieces(days) == pieces


def test_working_days_out_of_range() -> None:
    with pytest.raises(ValueError) as info:
        working_day_pieces(0)
    assert str(info.value) == "working days out of range 1-99999: 0"


def test_cmn_voice_of_espeak_1_51_is_replaced_by_pinyin_reading() -> None:
    assert resolve_voice("cmn", "1.51") == "cmn-latn-pinyin"
    assert resolve_voice("cmn", "1.52.0") == "cmn"
    assert resolve_voice("cmn-latn-pinyin", "1.51") == "cmn-latn-pinyin"
    assert resolve_voice("en", "1.51") == "en"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("您好，欢迎致电龙泉驿区96536政务服务热线。", "您好，欢迎致电龙泉驿区九六五三六政务服务热线。"),
        ("人工服务请按0，返回请按9", "人工服务请按零，返回请按九"),
        ("查询进度请按1", "查询进度请按一"),
        ("拨打12345", "拨打幺二三四五"),
        ("２０２７年１月", "二零二七年一月"),
        ("2个工作日，12个工作日", "两个工作日，十二个工作日"),
        ("15个工作日内", "十五个工作日内"),
        ("请按#号键结束，按*号键返回", "请按井号键结束，按星号键返回"),
        ("以#结束", "以井号结束"),
        ("没有数字", "没有数字"),
    ],
)
def test_speakable_text(text: str, spoken: str) -> None:
    assert speakable(text) == spoken
