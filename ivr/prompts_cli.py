"""``hotline prompts render``: fill the prompt cache ahead of calls (deployment step, or after editing texts)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tickets.config import Settings

from .prompts import PromptLibrary
from .tts import PromptError

__all__ = ["parse_texts_file", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("prompts", help="the IVR prompt library (8 kHz WAV cache)")
    sub = parser.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    render = sub.add_parser("render", help="render the number/date pieces, the menu's prompts and --texts files")
    render.add_argument("--texts", type=Path, action="append", default=[], metavar="FILE",
                        help="UTF-8 file with one prompt per line, 'key<TAB>text' or just 'text' (# comments)")
    render.add_argument("--force", action="store_true", help="render again even what is already cached")
    render.set_defaults(handler=_render)


def parse_texts_file(path: Path) -> list[tuple[str | None, str]]:
    """``(key, text)`` pairs from a texts file; ValueError names the file and line of a bad one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read prompt texts: {exc}") from exc
    items: list[tuple[str | None, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, text = line.partition("\t")
        item = (key.strip(), text.strip()) if sep else (None, line.strip())
        if not item[1] or (item[0] is not None and not item[0]):
            raise ValueError(f"{path}:{number}: expected 'key<TAB>text' or 'text', got {line!r}")
        items.append(item)
    return items


def _menu_texts(settings: Settings) -> list[tuple[str | None, str]]:
    """Every ``(key, text)`` the menus speak: to be wired to ``menus.speech.static_texts(load_menu(
    settings.ivr.menu_file), towns=..., departments=..., guides=...)`` once the district and catalog data are
    loadable here; until then ``--texts`` files supply the sentences."""
    del settings
    return []


def _render(args: argparse.Namespace, settings: Settings) -> int:
    try:
        texts = _menu_texts(settings)
        for path in args.texts:
            texts += parse_texts_file(path)
    except ValueError as exc:
        print(f"hotline prompts: {exc}", file=sys.stderr)
        return 2
    library = PromptLibrary(settings)
    started = time.perf_counter()
    try:
        library.prepare_pieces(force=args.force)
        library.prepare(texts, force=args.force)
    except (PromptError, ValueError) as exc:
        print(f"hotline prompts: {exc}", file=sys.stderr)
        return 1
    stats = library.stats
    per_prompt_ms = 1000 * stats.render_s / stats.renders if stats.renders else 0.0
    print(f"prompts: {len(texts)} texts and the number pieces ready in {time.perf_counter() - started:.2f} s; "
          f"rendered {stats.renders} ({per_prompt_ms:.1f} ms each), {stats.cache_hits} already cached, "
          f"{stats.overrides} recorded ({stats.broken_overrides} unusable), {stats.fragments} fragments trimmed; "
          f"cache {library.cache_dir}: {library.cache_size_bytes() / 1024:.0f} KiB")
    return 0
