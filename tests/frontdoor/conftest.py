"""Front-door fixtures: every test's child processes carry a marker in their environment, and a test that
leaves one alive (or a zombie child) fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.procguard import check_no_leaks

_MARKER = "HOTLINE_FRONTDOOR_TEST_ID"


@pytest.fixture(autouse=True)
def no_leaked_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    value = uuid.uuid4().hex
    monkeypatch.setenv(_MARKER, value)
    yield
    check_no_leaks(_MARKER, value, grace_s=3.0, what="test")
