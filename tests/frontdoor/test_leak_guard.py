"""The guard in this folder's conftest finds child processes a test started (by their environment marker)."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.frontdoor.conftest import _MARKER
from tests.procguard import marked_processes


async def test_guard_sees_a_marked_child_until_it_is_gone() -> None:
    marker = f"{_MARKER}={os.environ[_MARKER]}".encode()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(30)")
    try:
        assert proc.pid in marked_processes(marker)
    finally:
        proc.kill()
        await proc.wait()
    assert proc.pid not in marked_processes(marker)
