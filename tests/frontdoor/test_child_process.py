"""ChildProcess: output lines logged at the level they name, and at most WARNING once the child is stopping."""

from __future__ import annotations

import logging
import sys

import pytest

from ivr.frontdoor import ChildProcess

SCRIPT = """
import signal, sys, time
def bye(*_):
    print("1(42) CRITICAL: <core> receive_fd(): EOF on 8", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("1(42) ERROR: while running", flush=True)
print("READY", flush=True)
time.sleep(30)
"""


async def test_error_lines_while_running_stay_errors_and_shutdown_noise_is_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    child = ChildProcess("noisy", [sys.executable, "-c", SCRIPT])
    with caplog.at_level(logging.INFO, logger="ivr.frontdoor.noisy"):
        await child.start(capture_lines=True)
        try:
            while (line := await child.next_line(10.0)) not in ("READY", None):
                pass
            assert line == "READY"
        finally:
            code = await child.stop(grace_s=5.0)
    assert code == 0
    levels = {r.getMessage(): r.levelno for r in caplog.records if r.name == "ivr.frontdoor.noisy"}
    assert levels["1(42) ERROR: while running"] == logging.ERROR
    assert levels["1(42) CRITICAL: <core> receive_fd(): EOF on 8"] == logging.WARNING
