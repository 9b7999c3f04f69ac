"""A worker process with an injected handler and a stand-in recogniser, for the speech-seam test:

    python tests/sip/speech_worker.py --config PATH

The handler asks ``collect(grammar=["投诉", "咨询"])``; the recogniser "hears" the first phrase once five loud frames
arrive (a real one would run Vosk on the same frames). Logs ``SPEECH <kind> <value>``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from ivr.channel import CallChannel, CallerInput, InputKind
from ivr.media import frame_rms
from ivr.worker import Worker, protocol_stdout
from tickets.config import load_settings

log = logging.getLogger("speech_worker")


async def loud_recogniser(frames: asyncio.Queue[bytes], grammar: Sequence[str]) -> CallerInput | None:
    loud = 0
    while loud < 5:
        frame = await frames.get()
        loud = loud + 1 if frame_rms(frame) > 1000 else 0
    return CallerInput(InputKind.SPEECH, grammar[0], 0.9)


async def handler(call: CallChannel) -> None:
    got = await call.collect(max_digits=1, timeout_s=8, inter_digit_timeout_s=2, grammar=["投诉", "咨询"])
    log.info("SPEECH %s %s", got.kind.value, got.value)
    await call.hangup()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    ready_out = protocol_stdout()
    settings = load_settings(args.config)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    worker = Worker(settings, 0, handler, ready_out=ready_out, recogniser=loud_recogniser)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, worker.stop)
        await worker.run()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
