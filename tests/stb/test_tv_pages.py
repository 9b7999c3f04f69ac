"""The TV pages without a browser: every page renders for a signed-in box, declares the 1280*720 page size,
loads nothing from another server, and its scripts stay within ES5 (old set-top browsers)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.stb.helpers import SQLITE_ONLY, Box

STATIC = Path(__file__).resolve().parents[2] / "stb_api" / "static"
PAGES = ["/tv/", "/tv/themes", "/tv/list", "/tv/list?theme=household&page=2",
         "/tv/item/GG001010013510112000000115101120089123456", "/tv/search", "/tv/progress", "/tv/request"]
# Syntax and APIs that ES5 browsers (iPanel 3, old Huawei/ZTE EPG WebKit) do not have.
NOT_ES5 = [r"=>", r"\blet\s", r"\bconst\s", r"\bfetch\s*\(", r"\bPromise\b", r"`", r"\bclass\s+\w", r"\basync\b",
           r"\bawait\b", r"\.\.\.\w", r"\bfor\s*\(\s*var\s+\w+\s+of\b", r"\.includes\(", r"\bSymbol\b", r"\bMap\("]


def _es5_problems(script: str) -> list[str]:
    script = re.sub(r"/\*.*?\*/", "", script, flags=re.S)  # comments may name what the code avoids
    return [pattern for pattern in NOT_ES5 if re.search(pattern, script)]


def test_tv_js_is_es5() -> None:
    assert _es5_problems((STATIC / "tv.js").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", PAGES)
@SQLITE_ONLY
async def test_page_renders(client: Any, box: Box, path: str) -> None:
    sep = "&" if "?" in path else "?"
    resp = await client.get(f"{path}{sep}token={box.token}")
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert '<meta name="page-view-size" content="1280*720">' in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page loads something from another server"
    for script in re.findall(r"<script>(.*?)</script>", html, re.S):
        assert _es5_problems(script) == [], path
    assert 'class="f' in html  # something can take the focus


@SQLITE_ONLY
async def test_pages_refuse_without_a_valid_token(client: Any, box: Box) -> None:
    for token in ("", "1.2.3", box.token + "x"):
        resp = await client.get(f"/tv/themes?token={token}")
        assert resp.status == 401
        assert "重新进入" in await resp.text()


@SQLITE_ONLY
async def test_page_errors(client: Any, box: Box) -> None:
    resp = await client.get(f"/tv/item/XK99999999?token={box.token}")
    assert resp.status == 404 and "没有找到这个事项" in await resp.text()
    resp = await client.get(f"/tv/list?page=abc&token={box.token}")
    assert resp.status == 400
    resp = await client.get("/tv/list", params={"theme": "' OR 1=1 --", "token": box.token})
    assert resp.status == 200 and "暂无事项" in await resp.text()
    resp = await client.get("/tv/static/../app.py")
    assert resp.status == 404
    resp = await client.get("/tv/static/tv.js")
    assert resp.status == 200 and resp.content_type == "application/javascript"


@SQLITE_ONLY
async def test_list_paging_links(client: Any, box: Box) -> None:
    html = await (await client.get(f"/tv/list?page=1&token={box.token}")).text()
    assert "第 1/1 页" in html and "data-next" not in html
