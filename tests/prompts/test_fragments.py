"""Fragments: a sentence's WAV without its leading and trailing silence, for the inside of a composed sentence,
derived from the file (never rendered again) into the prompt cache."""

from __future__ import annotations

import array
import logging
import math
import os
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr import prompts as prompts_module
from ivr.prompts import PromptLibrary
from ivr.tts import read_samples, read_wav_info


MISS = "prompt cache miss"
THRESHOLD = 300  # ivr.tts: |sample| above this counts as sound
LEAD, TAIL = 5 * 8, 30 * 8  # samples of silence a fragment keeps (5 and 30 ms at 8 kHz)


def write_padded(path: Path, *, lead_s: float, voice_s: float, tail_s: float, frequency_hz: float = 440.0) -> None:
    """A recorded prompt: silence, a tone, silence (8 kHz mono 16-bit)."""
    voice = [round(9000 * math.sin(2 * math.pi * frequency_hz * i / 8000)) for i in range(round(8000 * voice_s))]
    samples = array.array("h", [0] * round(8000 * lead_s) + voice + [0] * round(8000 * tail_s))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(samples.tobytes())


def loud_span(samples: array.array[int]) -> tuple[int, int]:
    loud = [i for i, s in enumerate(samples) if abs(s) > THRESHOLD]
    return loud[0], loud[-1] + 1


def misses(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if MISS in r.getMessage()]


def test_fragment_of_a_rendered_sentence_is_its_voice_with_5_and_30_ms_of_silence(
        make_library: Callable[..., PromptLibrary]) -> None:
    library = make_library(shared=True)
    library.prepare([(None, "已于")])
    whole = library.text("已于")
    frag = library.fragment(whole)
    assert frag != whole and frag.parent == library.cache_dir and frag.name.startswith("frag-")
    info = read_wav_info(frag)
    assert (info.rate_hz, info.channels, info.sample_width_bytes) == (8000, 1, 2)
    source = read_samples(whole)
    start, end = loud_span(source)
    assert len(source) - end > 1600  # espeak-ng's pause after a sentence (about 300 ms) ...
    assert read_samples(frag) == source[max(0, start - LEAD) : end + TAIL]  # ... is gone; the voice is sample-exact


def test_fragment_of_a_recording_trims_a_copy_and_leaves_the_recording_alone(
        make_library: Callable[..., PromptLibrary], recordings: Path) -> None:
    recorded = recordings / "sent_to.wav"
    write_padded(recorded, lead_s=0.2, voice_s=0.4, tail_s=0.5)
    before = recorded.read_bytes()
    library = make_library()
    library.prepare([("sent_to", "派往")])
    assert library.text("派往", "sent_to") == recorded
    frag = library.fragment(recorded)
    assert frag.parent == library.cache_dir
    source = read_samples(recorded)
    start, end = loud_span(source)
    assert read_samples(frag) == source[max(0, start - LEAD) : end + TAIL]
    assert len(read_samples(frag)) == pytest.approx(8000 * 0.4 + LEAD + TAIL, abs=4)
    assert recorded.read_bytes() == before
    assert library.stats.renders == 0


def test_fragment_is_idempotent_and_memoized(
        make_library: Callable[..., PromptLibrary], recordings: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_padded(recordings / "on.wav", lead_s=0.1, voice_s=0.3, tail_s=0.3)
    library = make_library()
    library.prepare([("on", "已于")])
    caplog.set_level(logging.WARNING)
    path = library.text("已于", "on")
    frag = library.fragment(path)
    mtime_ns = frag.stat().st_mtime_ns
    assert library.fragment(path) == frag
    assert library.fragment(frag) == frag  # a fragment is its own fragment
    assert frag.stat().st_mtime_ns == mtime_ns
    assert (library.stats.fragments, library.stats.misses) == (1, 0)
    assert misses(caplog) == []

    again = make_library()  # another worker on the same cache: finds the fragment, writes nothing
    again.prepare([("on", "已于")])
    assert again.fragment(path) == frag
    assert (again.stats.fragments, again.stats.misses) == (0, 0)
    assert frag.stat().st_mtime_ns == mtime_ns


def test_a_changed_recording_gets_a_new_fragment(
        make_library: Callable[..., PromptLibrary], recordings: Path) -> None:
    recorded = recordings / "on.wav"
    write_padded(recorded, lead_s=0.1, voice_s=0.3, tail_s=0.3)
    library = make_library()
    library.prepare([("on", "已于")])
    old = library.fragment(recorded)
    old_samples = read_samples(old)

    write_padded(recorded, lead_s=0.1, voice_s=0.5, tail_s=0.3, frequency_hz=600)  # recorded again
    st = recorded.stat()
    os.utime(recorded, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    library.prepare([("on", "已于")])  # SIGHUP, or a worker starting
    new = library.fragment(recorded)
    assert new != old
    start, end = loud_span(read_samples(recorded))
    assert read_samples(new) == read_samples(recorded)[max(0, start - LEAD) : end + TAIL]
    assert read_samples(old) == old_samples  # calls still playing the old one are not disturbed
    assert library.stats.fragments == 2


def test_prepare_derives_the_fragments_so_a_call_does_no_file_work(
        make_library: Callable[..., PromptLibrary], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    library = make_library(shared=True)
    texts = [(None, "已于"), (None, "派往"), ("being_handled", "，正在办理中")]
    library.prepare(texts)
    listing = sorted(p.name for p in library.cache_dir.iterdir())
    stats = (library.stats.fragments, library.stats.misses)

    def no_file_work(*args: object) -> None:
        raise AssertionError("fragment() wrote a file after prepare()")

    monkeypatch.setattr(prompts_module, "trim_wav", no_file_work)
    monkeypatch.setattr(prompts_module, "open", no_file_work, raising=False)
    caplog.set_level(logging.WARNING)
    frags = [library.fragment(library.text(text, key)) for key, text in texts]
    assert all(f.name.startswith("frag-") for f in frags) and len(set(frags)) == len(texts)
    assert (library.stats.fragments, library.stats.misses) == stats
    assert sorted(p.name for p in library.cache_dir.iterdir()) == listing
    assert misses(caplog) == []


def test_pieces_and_the_tone_are_their_own_fragments(pieces: PromptLibrary) -> None:
    for text in ("一", "幺", "十", "月", "日", "个工作日"):
        assert pieces.fragment(pieces.piece(text)) == pieces.piece(text)
    assert pieces.fragment(pieces.tone()) == pieces.tone()
    assert pieces.stats.misses == 0


def test_a_recorded_piece_gets_a_trimmed_copy(make_library: Callable[..., PromptLibrary], recordings: Path) -> None:
    recorded = recordings / "num_1_yao.wav"
    write_padded(recorded, lead_s=0.1, voice_s=0.2, tail_s=0.3)
    library = make_library(shared=True)
    library.prepare_pieces()
    assert library.digits("1") == [recorded]
    frag = library.fragment(recorded)
    assert frag != recorded and len(read_samples(frag)) == pytest.approx(1600 + LEAD + TAIL, abs=4)
    assert library.stats.misses == 0


def test_unprepared_path_is_trimmed_on_demand_and_logged_as_a_miss(
        make_library: Callable[..., PromptLibrary], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    library = make_library()
    elsewhere = tmp_path / "elsewhere.wav"
    write_padded(elsewhere, lead_s=0.1, voice_s=0.2, tail_s=0.3)
    caplog.set_level(logging.WARNING)
    frag = library.fragment(elsewhere)
    assert len(read_samples(frag)) == pytest.approx(1600 + LEAD + TAIL, abs=4)
    assert library.fragment(elsewhere) == frag
    assert (library.stats.misses, library.stats.fragments) == (1, 1)
    assert len(misses(caplog)) == 1


def test_unprepared_text_gets_its_fragment_with_the_render(
        make_library: Callable[..., PromptLibrary], caplog: pytest.LogCaptureFixture) -> None:
    library = make_library(shared=True)
    caplog.set_level(logging.WARNING)
    path = library.text("承办单位是")  # one miss: rendered, and its fragment derived with it
    assert library.fragment(path).name.startswith("frag-")
    assert library.stats.misses == 1 and len(misses(caplog)) == 1


def test_an_unreadable_file_is_played_untrimmed(
        make_library: Callable[..., PromptLibrary], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    library = make_library()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not a wav file" * 10)
    caplog.set_level(logging.WARNING)
    assert library.fragment(broken) == broken
    assert library.fragment(broken) == broken  # remembered: no second attempt on a call
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(broken) in errors[0]
    assert library.stats.misses == 1
