"""Fixtures of the end-to-end hotline tests: one ``hotline serve`` per module, the prompt library the tests
compare what callers heard with, the database read directly (sqlite3) and seeded through the real store.

Leak guard: every process a module starts (``hotline serve`` and its workers and Kamailio, callers, agents,
sipp, baresip) inherits a marker in its environment; when the module ends none of them may be left."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.prompts import PromptLibrary
from menus.loader import load_menu
from menus.speech import Speaker, static_texts
from tests.procguard import check_no_leaks
from tickets.config import Settings

_MARKER = "HOTLINE_E2E_TEST_ID"


@pytest.fixture(scope="module", autouse=True)
def module_leak_guard() -> Iterator[None]:
    """Runs before (and ends after) the module's server fixture: children inherit the marker."""
    value = uuid.uuid4().hex
    old = os.environ.get(_MARKER)
    os.environ[_MARKER] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(_MARKER, None)
        else:
            os.environ[_MARKER] = old
        check_no_leaks(_MARKER, value, grace_s=5.0, what="module")


@pytest.fixture(scope="module")
def speaker_for() -> Any:
    """Speaker (menus.speech) over a PromptLibrary with the server's settings: the WAVs a caller should hear."""
    cache: dict[Path, Speaker] = {}

    def make(settings: Settings) -> Speaker:
        key = settings.paths.prompt_cache_dir
        if key not in cache:
            library = PromptLibrary(settings)
            menu = load_menu(settings.ivr.menu_file)
            library.prepare_pieces()
            library.prepare(static_texts(menu))
            cache[key] = Speaker(menu, library)
        return cache[key]

    return make
