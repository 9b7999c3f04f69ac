"""Two worker processes preparing the same prompts into one cache folder at the same moment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ivr.tts import read_samples, read_wav_info, rms

TEXTS = ["您好", "请稍候", "谢谢您的来电", "再见"]

# A worker process at start-up: waits for "go" on stdin so both start rendering together, renders every text
# again (force: no cache hits, so the two really write the same files concurrently) through the library's own
# pool of render processes (inline_max=0), then reports its stats.
_CHILD = r"""
import json, sys
from pathlib import Path
from ivr.prompts import PromptLibrary
from tickets.config import settings_from_mapping

root, texts = Path(sys.argv[1]), json.loads(sys.argv[2])
settings = settings_from_mapping(
    {"paths": {"prompt_cache_dir": str(root / "cache")}, "ivr": {"prompts_dir": str(root / "recordings")}},
    root, env={})
library = PromptLibrary(settings, inline_max=0, max_workers=2)
print("ready", flush=True)
if sys.stdin.readline().strip() != "go":
    sys.exit(3)
library.prepare([(None, t) for t in texts], force=True)
print(json.dumps({"renders": library.stats.renders, "paths": [str(library.text(t)) for t in texts]}), flush=True)
"""


def test_concurrent_prepare_from_two_processes_leaves_valid_files(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(tmp_path), json.dumps(TEXTS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        results = [proc.communicate("go\n", timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    reports = [json.loads(out) for out, _ in results]
    assert [r["renders"] for r in reports] == [len(TEXTS), len(TEXTS)]
    assert reports[0]["paths"] == reports[1]["paths"]

    cache = tmp_path / "cache"
    rendered = [p for p in cache.iterdir() if not p.name.startswith("frag-")]
    assert sorted(p.name for p in rendered) == sorted(Path(p).name for p in reports[0]["paths"])  # no temps
    # each prepare trimmed what it rendered: one fragment per text and rendering (the second render is newer)
    assert len(TEXTS) <= len(list(cache.glob("frag-*.wav"))) <= 2 * len(TEXTS)
    for path in cache.iterdir():
        info = read_wav_info(path)
        assert (info.rate_hz, info.channels, info.sample_width_bytes) == (8000, 1, 2)
        assert rms(read_samples(path)) > 500
