"""Pinyin initials and remote-control digits of item names."""

from __future__ import annotations

import pytest

from tickets.catalog.pinyin import fold, initials, t9_digits


@pytest.mark.parametrize(
    ("text", "letters", "digits"),
    [
        ("户口迁移", "hkqy", "4579"),
        ("居民身份证申领", "jmsfzsl", "5673975"),
        ("住房公积金提取", "zfgjjtq", "9345587"),
        ("重度残疾人护理补贴", "zdcjrhlbt", "932574528"),  # 重 read zhong in 重度
        ("银行贷款", "yhdk", "9435"),  # 行 read hang in 银行
        ("60周岁以上老年人优待证", "60zsyslnrydz", "609797567939"),
        ("ＩＤ卡 补办", "idkbb", "43522"),  # full-width letters folded, space dropped
        ("医疗费用手工（零星）报销", "ylfysglxbx", "9539745929"),
    ],
)
def test_initials_and_digits(text: str, letters: str, digits: str) -> None:
    assert initials(text) == letters
    assert t9_digits(letters) == digits


def test_t9_maps_every_letter_to_its_key() -> None:
    assert t9_digits("abcdefghijklmnopqrstuvwxyz") == "22233344455566677778889999"
    assert t9_digits("A1-b") == "212"


def test_fold_normalises_width_case_and_spaces() -> None:
    assert fold("  ＡＢＣ１２３ 户口 ") == "abc123 户口"
