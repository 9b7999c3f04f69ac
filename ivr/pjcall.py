"""A live pjsua2 call as a :class:`ivr.channel.CallChannel`.

Two objects per call leg:

* :class:`SipCall` (a ``pjsua2.Call``) lives only in the worker's registry. Its callbacks copy what they need
  out of pjsua2's parameters and hand it to the event loop with ``loop.call_soon_threadsafe``. When the leg is
  DISCONNECTED the callback removes it from the registry and detaches it from its listener, so the last
  reference goes when the callback returns (a Call deleted later could hang up the next call that reuses its
  pjsua id; see /work/shared/reference.md).
* :class:`PjCall` is what the flow sees: play/collect/record/transfer/hangup on the event loop.

Threads (see :mod:`ivr.worker`): pjsua2's own worker thread runs SIP and the :class:`SipCall` callbacks; they
only read pjsua2 and post to the loop, except the DISCONNECTED one, which also drops the registry's reference
there (under the worker's lock). Everything else, every other pjsua2 call included, runs on the event loop thread,
which created the library. Code on the loop reads ``PjCall.sip`` once into a local: the pjsua thread may set it
to None at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

import pjsua2 as pj

from ivr.channel import CallerId, CallerInput, CallHangup, InputKind, RecordEnd, Recording
from ivr.media import (
    MAX_BUFFERED_KEYS,
    SAMPLE_RATE_HZ,
    DigitBuffer,
    FramePort,
    MediaError,
    PlayerGraveyard,
    PromptIndex,
    read_pcm,
    start_player,
    start_recorder,
    stop_media,
    wait_closed,
    write_wav,
)
from ivr.sipmsg import mask_number

__all__ = ["AgentLeg", "CallState", "LegListener", "PjCall", "Recogniser", "SipCall", "guarded"]

log = logging.getLogger(__name__)

#: Optional speech hook for ``collect(grammar=...)``: receives a queue of 20 ms 8 kHz PCM frames and the
#: phrases; returns a SPEECH CallerInput, or None when nothing matched. Not wired yet (Vosk comes later).
Recogniser = Callable[[asyncio.Queue[bytes], Sequence[str]], Awaitable[CallerInput | None]]

#: While recording, a signal level (pjmedia's 0-255 scale, as the recorder receives it) at or below this counts as
#: silence. Measured here with sine tones: RMS 100/32767 reads 4, RMS 300 (about -40 dBFS) reads 9, 1000 reads 18.
SILENCE_LEVEL = 8
#: How often the recorder's level is read.
RECORD_POLL_S = 0.1
#: Trailing silence kept at the end of a recording that ended on silence.
KEEP_TRAILING_SILENCE_S = 0.5
#: A prompt counts as played this long after its last sample was due (the bridge's 20 ms tick plus slack); the
#: player stays connected until the next prompt, so a late clock never cuts the end off.
PLAY_END_SLACK_S = 0.03
#: The keys a caller can press. A-D exist in DTMF but on no phone's pad; they and junk are ignored.
PAD_KEYS = "0123456789*#"


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """For pjsua2 callbacks: an exception escaping into C++ would abort the process, so log it here."""

    @functools.wraps(method)
    def wrapper(self: object, *args: object) -> None:
        try:
            method(self, *args)
        except Exception:
            log.exception("error in pjsua2 callback %s", method.__name__)

    return wrapper


class CallState(enum.Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    BRIDGED = "bridged"
    ENDED = "ended"


class LegListener(Protocol):
    call_id: str
    sip: SipCall | None

    def on_state(self, state: int, code: int, reason: str) -> None: ...
    def on_media(self, active: bool) -> None: ...
    def on_digit(self, digit: str, method: int) -> None: ...
    def on_transfer_status(self, code: int, final: bool) -> None: ...


class SipCall(pj.Call):
    """pjsua2 call leg; see the module docstring for its lifetime rules."""

    def __init__(self, account: pj.Account, loop: asyncio.AbstractEventLoop,
                 forget: Callable[[SipCall], None], call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self._loop = loop
        self._forget = forget
        self.listener: LegListener | None = None
        self.disconnected = False

    def _post(self, fn: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed while shutting down
            self._loop.call_soon_threadsafe(fn, *args)

    @guarded
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802 - pjsua2 callback name
        info = self.getInfo()
        listener = self.listener
        if listener is not None:
            self._post(listener.on_state, int(info.state), int(info.lastStatusCode), str(info.lastReason))
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            if listener is not None:
                listener.sip = None
            self.listener = None
            self._forget(self)

    @guarded
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802 - pjsua2 callback name
        info = self.getInfo()
        active = any(m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE for m in info.media)
        if self.listener is not None:
            self._post(self.listener.on_media, active)

    @guarded
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802 - pjsua2 callback name
        if self.listener is not None:
            self._post(self.listener.on_digit, str(prm.digit), int(prm.method))

    @guarded
    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:  # noqa: N802 - pjsua2 callback
        """A REFER from the far end: pjsua2 would accept it and dial the Refer-To target from the hotline's own
        account, so any caller could have the hotline call any number (toll fraud). Always 403 (set first, so
        even a failure after it refuses)."""
        prm.statusCode = 403
        listener = self.listener
        log.warning("call %s: refused a transfer request (REFER) from the far end",
                    listener.call_id if listener is not None else "?")

    @guarded
    def onCallReplaceRequest(self, prm: pj.OnCallReplaceRequestParam) -> None:  # noqa: N802 - pjsua2 callback
        """An INVITE with Replaces aimed at this call: whoever knows its dialog would take it over. Always 403."""
        prm.statusCode = 403
        prm.reason = "Forbidden"
        listener = self.listener
        log.warning("call %s: refused an INVITE that would replace the call",
                    listener.call_id if listener is not None else "?")

    @guarded
    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802 - pjsua2 callback
        if self.listener is not None:
            self._post(self.listener.on_transfer_status, int(prm.statusCode), bool(prm.finalNotify))

    def audio_media(self) -> pj.AudioMedia | None:
        """The call's audio in the conference, or None when there is none (yet)."""
        if self.disconnected:
            return None
        try:
            return self.getAudioMedia(-1)
        except pj.Error:
            return None


class AgentLeg:
    """The outgoing leg of a bridged transfer."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.sip: SipCall | None = None
        self.answered = asyncio.Event()
        self.media = asyncio.Event()
        self.ended = asyncio.Event()

    def on_state(self, state: int, code: int, reason: str) -> None:
        log.info("call %s: agent leg state %d (%d %s)", self.call_id, state, code, reason)
        if state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.answered.set()
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.ended.set()

    def on_media(self, active: bool) -> None:
        if active:
            self.media.set()

    def on_digit(self, digit: str, method: int) -> None:
        return None

    def on_transfer_status(self, code: int, final: bool) -> None:
        return None


class PjCall:
    """The CallChannel of one incoming call (see :class:`ivr.channel.CallChannel` for the contract)."""

    def __init__(self, *, call_id: str, sip: SipCall, caller: CallerId, prompts: PromptIndex,
                 graveyard: PlayerGraveyard, place_call: Callable[[str, AgentLeg], SipCall | None],
                 port: FramePort | None = None,
                 transfer_mode: str = "bridge", recogniser: Recogniser | None = None) -> None:
        self.call_id = call_id
        self.caller = caller
        self.hung_up = asyncio.Event()
        self.recogniser = recogniser if port is not None else None
        self.sip: SipCall | None = sip
        self.state = CallState.RINGING
        self.media_ready = asyncio.Event()
        self.bridge_ended = asyncio.Event()
        self.port = port  # only for the speech seam (see ivr.media)
        self._prompts = prompts
        self._place_call = place_call
        self._transfer_mode = transfer_mode
        self._digits = DigitBuffer()
        self._agent: AgentLeg | None = None
        self._graveyard = graveyard
        self._player: pj.AudioMediaPlayer | None = None
        self._player_sink: pj.AudioMedia | None = None
        self._refer_result: asyncio.Future[int] | None = None
        sip.listener = self
        if sip.disconnected:  # it ended on the SIP thread before this listener was in place
            self.sip = None
            self.hung_up.set()
            self.bridge_ended.set()

    # --- state ---------------------------------------------------------------------------------------
    def _set_state(self, new: CallState) -> None:
        if new is self.state:
            return
        log.info("call %s: %s -> %s", self.call_id, self.state.value, new.value)
        self.state = new

    def _media(self) -> pj.AudioMedia | None:
        sip = self.sip  # read once: the pjsua thread sets it to None when the leg disconnects
        return sip.audio_media() if sip is not None else None

    def _stop_prompt(self) -> None:
        player, self._player = self._player, None
        if player is not None:
            # An ended call's media left the bridge, and its connections with it: disconnecting would only make
            # pjsua log an error.
            self._graveyard.bury(player, None if self.state is CallState.ENDED else self._player_sink)
        self._player_sink = None

    def release_media(self) -> None:
        """Stop whatever plays (the call is over, or bridged)."""
        self._stop_prompt()

    # --- events from SipCall (loop thread) ----------------------------------------------------------
    def on_state(self, state: int, code: int, reason: str) -> None:
        if state == pj.PJSIP_INV_STATE_CONFIRMED:
            self._set_state(CallState.ANSWERED)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            log.info("call %s: disconnected (%d %s)", self.call_id, code, reason)
            self._set_state(CallState.ENDED)
            self._stop_prompt()
            self.hung_up.set()
            self.bridge_ended.set()
            self._digits.push("")  # wake a collect waiting for keys; "" is never a key

    def on_media(self, active: bool) -> None:
        if not active:
            return
        media = self._media()
        if media is None:
            return
        if self.state is CallState.BRIDGED and self._agent is not None and self._agent.sip is not None:
            self._bridge(media)
        elif self._player is not None:  # a re-INVITE gave the call new media while a prompt plays
            with contextlib.suppress(pj.Error):
                self._player.startTransmit(media)
                self._player_sink = media
        self.media_ready.set()

    def on_digit(self, digit: str, method: int) -> None:
        kind = "info" if method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        if len(digit) != 1 or digit not in PAD_KEYS:  # A-D, or whatever a broken INFO body carried
            log.info("call %s: ignored a key that is not on a phone's pad (%s, %d characters)", self.call_id, kind,
                     len(digit))
            return
        log.info("call %s: key received (%s)", self.call_id, kind)  # the key itself may be a code: DEBUG only
        log.debug("call %s: key %s", self.call_id, digit)
        if not self._digits.push(digit) and self._digits.dropped in (1, 100, 1000, 10000):
            log.warning("call %s: %d keys dropped: more than %d keys waiting unread", self.call_id,
                        self._digits.dropped, MAX_BUFFERED_KEYS)

    def on_transfer_status(self, code: int, final: bool) -> None:
        log.info("call %s: transfer status %d%s", self.call_id, code, " (final)" if final else "")
        if self._refer_result is not None and not self._refer_result.done() and (final or code >= 200):
            self._refer_result.set_result(code)

    # --- CallChannel ------------------------------------------------------------------------------------
    def _check(self) -> None:
        if self.hung_up.is_set():
            raise CallHangup(self.call_id)

    def _next_key(self) -> str | None:
        key = self._digits.peek()
        while key == "":
            self._digits.pop()
            key = self._digits.peek()
        return key

    def _start_prompt(self, prompts: Sequence[Path]) -> float:
        """Start playing (after stopping what played before); how long it plays, in seconds (0: nothing)."""
        self._stop_prompt()
        paths: list[Path] = []
        samples = 0
        for path in prompts:
            try:
                samples += self._prompts.samples(Path(path))
            except MediaError:
                log.exception("call %s: prompt skipped", self.call_id)
                continue
            paths.append(Path(path))
        media = self._media()
        if not paths or media is None:
            return 0.0
        try:
            self._player = start_player(paths, media)
            self._player_sink = media
        except pj.Error as exc:
            log.warning("call %s: cannot play %s: %s", self.call_id, paths[0].name, exc.info())
            return 0.0
        return samples / SAMPLE_RATE_HZ

    async def play(self, prompts: Sequence[Path], *, barge_in: bool = True) -> str | None:
        """Prompts go through a pjsua2 player; the player stays connected after its last sample (silent) until
        the next prompt, a recording, a bridge or the end of the call, so its tail is never cut short."""
        self._check()
        if barge_in and (key := self._next_key()) is not None:
            return key
        duration_s = self._start_prompt(prompts)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(duration_s + PLAY_END_SLACK_S if duration_s else 0,
                                lambda: done.done() or done.set_result(None))
        waits: list[asyncio.Future[object]] = [done, asyncio.ensure_future(self.hung_up.wait())]
        key_wait = asyncio.ensure_future(self._digits.wait()) if barge_in else None
        if key_wait is not None:
            waits.append(key_wait)
        try:
            while True:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                self._check()
                if done.done():
                    return None
                if key_wait is not None and key_wait.done():
                    key = self._next_key()
                    if key is not None:
                        self._stop_prompt()
                        return key
                    waits.remove(key_wait)
                    key_wait = asyncio.ensure_future(self._digits.wait())
                    waits.append(key_wait)
        except BaseException:
            self._stop_prompt()
            raise
        finally:
            timer.cancel()
            for fut in waits:
                fut.cancel()

    async def _key(self, timeout_s: float) -> str | None:
        """The next key within ``timeout_s`` (None on timeout); CallHangup when the caller hangs up."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._check()
            key = self._digits.pop()
            if key:
                return key
            if key == "":
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._digits.wait(), remaining)

    async def collect(self, *, max_digits: int, timeout_s: float, inter_digit_timeout_s: float,
                      terminators: str = "#", grammar: Sequence[str] = ()) -> CallerInput:
        """Keys up to ``max_digits`` or a terminator (not included; a lone terminator gives DIGITS "").
        ``grammar`` goes to the optional :attr:`recogniser` (speech comes later) and is otherwise ignored."""
        self._check()
        if grammar and self.recogniser is not None:
            return await self._collect_with_speech(max_digits, timeout_s, inter_digit_timeout_s, terminators,
                                                   grammar)
        digits = ""
        timeout = timeout_s
        while len(digits) < max_digits:
            key = await self._key(timeout)
            if key is None:
                break
            if key in terminators:
                return CallerInput(InputKind.DIGITS, digits)
            digits += key
            timeout = inter_digit_timeout_s
        if not digits:
            return CallerInput(InputKind.NO_INPUT)
        return CallerInput(InputKind.DIGITS, digits)

    async def _collect_with_speech(self, max_digits: int, timeout_s: float, inter_digit_timeout_s: float,
                                   terminators: str, grammar: Sequence[str]) -> CallerInput:
        assert self.recogniser is not None and self.port is not None
        port = self.port
        frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=500)

        def sink(frame: bytes) -> None:
            if not frames.full():
                frames.put_nowait(frame)

        media = self._media()
        if media is not None:
            with contextlib.suppress(pj.Error):
                media.startTransmit(port)
        port.set_sink(sink)
        speech = asyncio.ensure_future(self.recogniser(frames, grammar))
        keys = asyncio.ensure_future(self.collect(max_digits=max_digits, timeout_s=timeout_s,
                                                  inter_digit_timeout_s=inter_digit_timeout_s,
                                                  terminators=terminators))
        try:
            await asyncio.wait([speech, keys], return_when=asyncio.FIRST_COMPLETED)
            if speech.done() and not speech.cancelled() and speech.exception() is None and speech.result():
                result = speech.result()
                assert result is not None
                return result
            return await keys
        finally:
            port.set_sink(None)
            media = self._media()
            if media is not None:
                with contextlib.suppress(pj.Error):
                    media.stopTransmit(port)
            speech.cancel()
            keys.cancel()

    async def _watch_recording(self, recorder: pj.AudioMediaRecorder, max_s: float, silence_s: float,
                               stop_keys: str) -> RecordEnd:
        """Until a stop key, ``silence_s`` of silence (the recorder's level, read every 100 ms), ``max_s`` or
        the caller hanging up."""
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + max_s
        silent_limit = max(1, round(silence_s / RECORD_POLL_S))
        silent = 0
        hangup = asyncio.ensure_future(self.hung_up.wait())
        try:
            while True:
                key_wait = asyncio.ensure_future(self._digits.wait())
                await asyncio.wait([hangup, key_wait], timeout=min(RECORD_POLL_S, max(0.0, ends_at - loop.time())),
                                   return_when=asyncio.FIRST_COMPLETED)
                key_wait.cancel()
                if self.hung_up.is_set():
                    return RecordEnd.HANGUP
                while (key := self._digits.pop()) is not None:
                    if key and key in stop_keys:
                        return RecordEnd.KEY
                if loop.time() >= ends_at:
                    return RecordEnd.MAX_LENGTH
                silent = silent + 1 if recorder.getRxLevel() <= SILENCE_LEVEL else 0
                if silent >= silent_limit:
                    return RecordEnd.SILENCE
        finally:
            hangup.cancel()

    async def record(self, path: Path, *, max_s: float, silence_s: float, stop_keys: str = "#") -> Recording:
        """pjsua2's recorder writes ``<name>.part.wav`` beside ``path`` while the caller speaks (it needs the .wav
        suffix); the finished recording (capped at ``max_s``, trailing silence shortened) then replaces ``path``."""
        path = Path(path)
        part = path.with_name(f"{path.stem}.part.wav")
        self._digits.clear()
        self._stop_prompt()
        ended_by = RecordEnd.HANGUP
        media = None if self.hung_up.is_set() else self._media()
        recorder: pj.AudioMediaRecorder | None = None
        if media is not None:
            await asyncio.to_thread(part.parent.mkdir, parents=True, exist_ok=True)
            try:
                recorder = start_recorder(part, media)
            except pj.Error as exc:
                log.warning("call %s: cannot record: %s", self.call_id, exc.info())
        if recorder is not None:
            try:
                ended_by = await self._watch_recording(recorder, max_s, silence_s, stop_keys)
            finally:
                stop_media(recorder)
        trim_s = max(0.0, silence_s - KEEP_TRAILING_SILENCE_S) if ended_by is RecordEnd.SILENCE else 0.0
        samples = await asyncio.to_thread(_finish_recording, part, path, max_s, trim_s)
        duration_s = samples / SAMPLE_RATE_HZ
        log.info("call %s: recorded %.1f s to %s (%s)", self.call_id, duration_s, path.name, ended_by.value)
        return Recording(path=path, duration_s=duration_s, ended_by=ended_by)

    async def transfer(self, uri: str, *, timeout_s: float) -> bool:
        self._check()
        if self._transfer_mode == "refer":
            return await self._refer(uri, timeout_s)
        agent = AgentLeg(self.call_id)
        sip = self._place_call(uri, agent)
        if sip is None:
            return False
        self._agent = agent
        waits = [asyncio.ensure_future(agent.answered.wait()), asyncio.ensure_future(agent.ended.wait()),
                 asyncio.ensure_future(self.hung_up.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if agent.answered.is_set() and not agent.ended.is_set() and not self.hung_up.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(agent.media.wait(), 5)
        finally:
            for fut in waits:
                fut.cancel()
        caller_media = self._media()
        if not (agent.media.is_set() and agent.sip is not None and caller_media is not None):
            log.info("call %s: transfer to %s not answered", self.call_id, uri)
            self._hangup_leg(agent.sip)
            self._agent = None
            self._check()
            return False
        self._set_state(CallState.BRIDGED)
        self._bridge(caller_media)
        asyncio.get_running_loop().create_task(self._watch_agent(agent))
        return True

    def _bridge(self, caller_media: pj.AudioMedia) -> None:
        assert self._agent is not None and self._agent.sip is not None
        agent_media = self._agent.sip.audio_media()
        if agent_media is None:
            return
        self._stop_prompt()
        caller_media.startTransmit(agent_media)
        agent_media.startTransmit(caller_media)

    async def _watch_agent(self, agent: AgentLeg) -> None:
        await agent.ended.wait()
        log.info("call %s: agent leg ended", self.call_id)
        self.bridge_ended.set()

    async def _refer(self, uri: str, timeout_s: float) -> bool:
        """SIP REFER: the caller's phone calls ``uri`` itself; True once it reports the target answered
        (NOTIFY 2xx), and then this leg is hung up."""
        sip = self.sip
        if sip is None:
            raise CallHangup(self.call_id)
        self._refer_result = asyncio.get_running_loop().create_future()
        try:
            sip.xfer(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("call %s: REFER failed: %s", self.call_id, exc.info())
            return False
        gone = asyncio.ensure_future(self.hung_up.wait())
        try:
            await asyncio.wait([self._refer_result, gone], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        code = self._refer_result.result() if self._refer_result.done() else 0
        self._refer_result = None
        if 200 <= code < 300:
            self.hangup_now()
            return True
        log.info("call %s: REFER to %s ended with %d", self.call_id, uri, code)
        self._check()
        return False

    def _hangup_leg(self, sip: SipCall | None, code: int = 0) -> None:
        if sip is None or sip.disconnected:
            return
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        try:
            sip.hangup(prm)
        except pj.Error as exc:
            log.debug("call %s: hangup: %s", self.call_id, exc.info())

    def hangup_now(self) -> None:
        """Send BYE (or a final response while ringing) on every leg without waiting."""
        if self._agent is not None:
            self._hangup_leg(self._agent.sip)
        self._hangup_leg(self.sip, 0 if self.state is not CallState.RINGING else 480)

    async def hangup(self) -> None:
        self.hangup_now()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hung_up.wait(), 5)

    def describe(self) -> str:
        return f"{self.call_id} from {mask_number(self.caller.number)}{' (trusted)' if self.caller.trusted else ''}"


def _finish_recording(part: Path, path: Path, max_s: float, trim_s: float) -> int:
    """Turn the recorder's file into the final WAV at ``path`` (blocking); the number of samples kept. A
    missing or unreadable part (the caller hung up before recording began) gives an empty recording."""
    if part.exists() and not wait_closed(part):
        log.warning("recording %s: the recorder did not close its file in time", part.name)
    try:
        pcm = read_pcm(part)
    except MediaError:
        pcm = b""
    keep = min(len(pcm), int(max_s * SAMPLE_RATE_HZ) * 2)
    keep = max(0, keep - int(trim_s * SAMPLE_RATE_HZ) * 2)
    keep -= keep % 2
    write_wav(path, pcm[:keep])
    part.unlink(missing_ok=True)
    return keep // 2
