"""ivr.media against the real pjsua2 library, each check in its own process (pjsua2 is a process-wide
singleton): players and their deferred destruction, recorders and their file, the level scale silence
detection relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import PROJECT_ROOT, make_tone

pytestmark = pytest.mark.sip

PRELUDE = """
import asyncio, json, sys
from pathlib import Path
import pjsua2 as pj
from ivr.media import PlayerGraveyard, start_player, start_recorder, stop_media, wait_closed, _fd_target
import os

def held(path):
    return any(_fd_target(fd) == str(Path(path).resolve()) for fd in os.listdir("/proc/self/fd"))

ep = pj.Endpoint(); ep.libCreate(); cfg = pj.EpConfig()
cfg.medConfig.clockRate = 8000; cfg.medConfig.sndClockRate = 8000; cfg.medConfig.noVad = True
cfg.logConfig.consoleLevel = 0; cfg.logConfig.level = 0
ep.libInit(cfg); ep.audDevManager().setNullDev(); ep.libStart()
tone, out = Path(sys.argv[1]), Path(sys.argv[2])
"""


def _run(body: str, *args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PRELUDE + body + "\nep.libDestroy()\n", *args], capture_output=True,
                          text=True, timeout=60, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_graveyard_disconnects_at_once_and_destroys_later(tmp_path: Path) -> None:
    """A player that reached its end is buried: it stops feeding the sink at once, keeps its file (the C++
    player) until the delay has passed, and close() destroys whatever is left."""
    body = """
async def main():
    loop = asyncio.get_running_loop()
    graves = PlayerGraveyard(loop, delay_s=0.5)
    rec = pj.AudioMediaRecorder(); rec.createRecorder(str(out))
    first = start_player([tone], rec)
    await asyncio.sleep(0.5)  # the 0.3 s tone reaches its end: pjmedia posts the end-of-file callback
    graves.bury(first, rec)
    buried_alive = held(tone) and len(graves) == 1
    second = start_player([tone, tone], rec)
    graves.bury(second, rec)
    await asyncio.sleep(0.8)
    after_delay = len(graves)
    third = start_player([tone], rec)
    graves.bury(third, rec)
    graves.close()
    stop_media(rec)
    print(json.dumps({"buried_alive": buried_alive, "after_delay": after_delay, "after_close": len(graves),
                      "tone_closed": wait_closed(tone), "recorder_closed": wait_closed(out)}))
asyncio.run(main())
"""
    result = _run(body, str(make_tone(tmp_path / "tone.wav", seconds=0.3)), str(tmp_path / "rec.wav"))
    assert result == {"buried_alive": True, "after_delay": 0, "after_close": 0, "tone_closed": True,
                      "recorder_closed": True}


def test_recorder_level_scale_and_file(tmp_path: Path) -> None:
    """The recorder's level is what PjCall.record compares with SILENCE_LEVEL: silence reads at or below it, a
    tone of RMS ~300/32767 (-40 dBFS) above it; the file is a complete WAV once stop_media returns and the
    recorder's thread has closed it."""
    body = """
import subprocess, time, wave
levels = {}
for rms in (0, 100, 400, 3000):
    wav = out.with_name(f"tone{rms}.wav")
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", "1", "sine", "300", "vol",
                    str(rms * 1.4142 / 32768)], check=True)
    rec_path = out.with_name(f"rec{rms}.wav")
    player = pj.AudioMediaPlayer(); player.createPlayer(str(wav), pj.PJMEDIA_FILE_NO_LOOP)
    rec = start_recorder(rec_path, player)
    time.sleep(0.3)
    levels[rms] = rec.getRxLevel()
    stop_media(rec)
    closed = wait_closed(rec_path)
    with wave.open(str(rec_path)) as w:
        levels[f"{rms}-file"] = [closed, w.getframerate(), w.getnchannels(), w.getnframes() > 1600]
    time.sleep(0.8)  # past the tone's end before the player goes (see PlayerGraveyard)
    stop_media(player)
print(json.dumps(levels))
"""
    result = _run(body, "unused", str(tmp_path / "rec.wav"))
    from ivr.pjcall import SILENCE_LEVEL  # noqa: PLC0415 - imported here: the constant is what is checked

    assert result["0"] <= SILENCE_LEVEL and result["100"] <= SILENCE_LEVEL
    assert result["400"] > SILENCE_LEVEL and result["3000"] > result["400"]
    for rms in (0, 100, 400, 3000):
        assert result[f"{rms}-file"] == [True, 8000, 1, True]
