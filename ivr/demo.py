"""A demo call flow for ``python -m ivr.worker --demo`` and the real-SIP tests: a greeting, keys read back,
a recording after a beep, goodbye. Prompts are rendered once with espeak-ng (voice ``cmn``) and sox to 8 kHz
mono 16-bit WAV under ``<paths.prompt_cache_dir>/demo``.

Key 0 transfers to ``agents.group_uri`` (the call stays bridged after the handler returns).

Log lines the tests read (stderr): ``DEMO <call_id> caller=<masked> trusted=<bool>``,
``DEMO <call_id> digits=<keys or NO_INPUT>``, ``DEMO <call_id> transfer=<True|False>`` and
``DEMO <call_id> recording=<path> duration=<s> ended_by=<reason>``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from ivr.channel import CallChannel, InputKind, RecordEnd
from ivr.sipmsg import mask_number
from tickets.config import Settings

__all__ = ["DemoError", "demo_handler", "render_prompts"]

log = logging.getLogger(__name__)

TEXTS = {
    "welcome": "您好，这里是龙泉驿区九六五三六热线演示。请输入号码，以井号键结束。",
    "entered": "您输入的是",
    "no_input": "没有收到您的输入。",
    "record": "请在提示音后留言，按井号键结束。",
    "thanks": "谢谢，再见。",
    "busy": "对不起，坐席忙，请您留言。",
    "d0": "零", "d1": "幺", "d2": "二", "d3": "三", "d4": "四", "d5": "五", "d6": "六", "d7": "七", "d8": "八",
    "d9": "九", "dstar": "星", "dpound": "井",
}
_KEY_NAMES = {"*": "dstar", "#": "dpound"}


class DemoError(RuntimeError):
    """The demo prompts cannot be rendered."""


def _render(text: str, out: Path) -> None:
    raw = out.with_suffix(f".{os.getpid()}.raw.wav")
    tmp = out.with_suffix(f".{os.getpid()}.tmp.wav")
    try:
        subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(raw), text], check=True, capture_output=True,
                       timeout=30)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(tmp)], check=True,
                       capture_output=True, timeout=30)
        tmp.replace(out)  # atomic: workers started together may render the same prompt
    except (OSError, subprocess.SubprocessError) as exc:
        raise DemoError(f"cannot render {out.name} with espeak-ng and sox: {exc}") from exc
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def render_prompts(folder: Path) -> dict[str, Path]:
    """Render every demo prompt (and a 1 kHz beep) into ``folder`` unless already there (blocking)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise DemoError("the demo needs espeak-ng and sox (Debian packages espeak-ng, sox)")
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, text in TEXTS.items():
        path = folder / f"{key}.wav"
        if not path.exists():
            _render(text, path)
        paths[key] = path
    beep = folder / "beep.wav"
    if not beep.exists():
        tmp = folder / f"beep.{os.getpid()}.tmp.wav"
        try:
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tmp), "synth", "0.3", "sine",
                            "1000", "vol", "0.5"], check=True, capture_output=True, timeout=30)
            tmp.replace(beep)
        except (OSError, subprocess.SubprocessError) as exc:
            raise DemoError(f"cannot render the beep with sox: {exc}") from exc
    paths["beep"] = beep
    return paths


def demo_handler(settings: Settings):  # noqa: ANN201 - returns ivr.worker.CallHandler (import cycle)
    prompts = render_prompts(settings.paths.prompt_cache_dir / "demo")
    ivr = settings.ivr

    async def run(call: CallChannel) -> None:
        log.info("DEMO %s caller=%s trusted=%s", call.call_id, mask_number(call.caller.number), call.caller.trusted)
        await call.play([prompts["welcome"]], barge_in=True)
        got = await call.collect(max_digits=8, timeout_s=ivr.no_input_timeout_s,
                                 inter_digit_timeout_s=ivr.inter_digit_timeout_s, terminators="#")
        log.info("DEMO %s digits=%s", call.call_id, got.value if got.kind is InputKind.DIGITS else "NO_INPUT")
        if got.kind is InputKind.DIGITS and got.value == "0":  # 0: an agent
            connected = await call.transfer(settings.agents.group_uri, timeout_s=settings.agents.no_answer_timeout_s)
            log.info("DEMO %s transfer=%s", call.call_id, connected)
            if connected:
                return
            await call.play([prompts["busy"]], barge_in=False)
        elif got.kind is InputKind.DIGITS and got.value:
            digits = [prompts[_KEY_NAMES.get(d, f"d{d}")] for d in got.value]
            await call.play([prompts["entered"], *digits], barge_in=False)
        else:
            await call.play([prompts["no_input"]], barge_in=False)
        await call.play([prompts["record"], prompts["beep"]], barge_in=False)
        rec = await call.record(settings.paths.recordings_dir / f"{call.call_id}.wav", max_s=ivr.recording_max_s,
                                silence_s=ivr.recording_silence_s, stop_keys="#")
        log.info("DEMO %s recording=%s duration=%.2f ended_by=%s", call.call_id, rec.path, rec.duration_s,
                 rec.ended_by.value)
        if rec.ended_by is not RecordEnd.HANGUP:
            await call.play([prompts["thanks"]], barge_in=False)
        await call.hangup()

    return run
