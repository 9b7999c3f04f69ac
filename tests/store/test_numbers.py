"""Ticket numbers, extraction codes and phone masking."""

from __future__ import annotations

import datetime as dt

import pytest

from tickets.numbers import (
    check_extraction_code,
    format_ticket_number,
    hash_extraction_code,
    mask_phone,
    parse_ticket_number,
)


def test_ticket_number_is_date_serial_and_check_digit() -> None:
    n = format_ticket_number(dt.date(2026, 11, 29), 42)
    assert n.startswith("26112900042") and len(n) == 12
    assert parse_ticket_number(n) == n
    assert parse_ticket_number(f"{n[:4]} {n[4:8]}-{n[8:]}") == n


@pytest.mark.parametrize(("text", "message"), [
    ("12345", "ticket number must be 12 digits"),
    ("abcdefghijkl", "ticket number must be 12 digits"),
    ("' OR 1=1 --", "ticket number must be 12 digits"),
])
def test_bad_ticket_numbers(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_ticket_number(text)


def test_every_single_digit_typo_is_caught() -> None:
    n = format_ticket_number(dt.date(2026, 11, 29), 12345)
    for i in range(12):
        for d in "0123456789":
            typo = n[:i] + d + n[i + 1:]
            if typo != n:
                with pytest.raises(ValueError, match="check digit"):
                    parse_ticket_number(typo)


def test_serial_range() -> None:
    with pytest.raises(ValueError, match=r"serial must be 1\.\.99999"):
        format_ticket_number(dt.date(2026, 1, 1), 100000)


def test_extraction_code_hash() -> None:
    salt, digest = hash_extraction_code("123456")
    assert "123456" not in digest and len(salt) == 32
    assert check_extraction_code("123456", salt, digest)
    assert not check_extraction_code("123457", salt, digest)
    assert not check_extraction_code("12345", salt, digest)
    assert hash_extraction_code("123456")[1] != digest  # salted


@pytest.mark.parametrize(("phone", "masked"), [
    ("13812345678", "138****5678"), ("+86 138-1234-5678", "138****5678"), ("02884851234", "028****1234"),
    ("84851234", "******34"), ("", ""), (None, None),
])
def test_mask_phone(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked
