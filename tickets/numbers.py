"""Ticket numbers (流水号), extraction codes (提取码) and phone masking.

A ticket number is 12 digits: the local date as YYMMDD, a 5-digit serial of that day, and a Luhn check digit,
so that a caller's mistyped number is refused before any look-up. Extraction codes are 6 random digits kept
only as a salted PBKDF2 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

__all__ = [
    "check_extraction_code",
    "format_ticket_number",
    "hash_extraction_code",
    "luhn_digit",
    "mask_phone",
    "new_extraction_code",
    "parse_ticket_number",
]

MAX_SERIAL = 99_999
_CODE_ITERATIONS = 2_000
_NUMBER_RE = re.compile(r"^\d{12}$")
_CODE_RE = re.compile(r"^\d{6}$")


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def format_ticket_number(day: dt.date, serial: int) -> str:
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial must be 1..{MAX_SERIAL}, got {serial}")
    body = f"{day:%y%m%d}{serial:05d}"
    return body + luhn_digit(body)


def parse_ticket_number(text: str) -> str:
    """Validate a ticket number as typed or said; returns it normalised or raises ValueError."""
    number = re.sub(r"[\s-]", "", text)
    if not _NUMBER_RE.match(number):
        raise ValueError("ticket number must be 12 digits")
    if luhn_digit(number[:-1]) != number[-1]:
        raise ValueError("ticket number check digit does not match")
    return number


def new_extraction_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def hash_extraction_code(code: str, salt: str | None = None) -> tuple[str, str]:
    """Return ``(salt, hash)`` for an extraction code."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", code.encode(), bytes.fromhex(salt), _CODE_ITERATIONS)
    return salt, digest.hex()


def check_extraction_code(code: str, salt: str, expected_hash: str) -> bool:
    if not _CODE_RE.match(code):
        return False
    return hmac.compare_digest(hash_extraction_code(code, salt)[1], expected_hash)


def mask_phone(phone: str | None) -> str | None:
    """138****5678 for an 11-digit mobile or a fixed line with area code; shorter numbers keep the last two."""
    if phone is None:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]  # +86 country code
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:]
