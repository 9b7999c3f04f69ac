"""The TV pages in headless Chromium, driven by key events only (no clicks): home -> guide -> detail, search
by number pad, a progress query for a ticket the hotline created, a request submitted from the remote, and the
iPanel key codes dispatched as KeyboardEvents. Screenshots go to test-artifacts/stb/."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.stb.helpers import SQLITE_ONLY, Box
from tickets.enums import Channel, Kind
from tickets.store import Store
from tickets.views import Actor, NewTicket

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "stb"
pytestmark = [pytest.mark.browser, SQLITE_ONLY,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="the Debian chromium package is not installed")]


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
            env={**os.environ, "HOME": str(ARTIFACTS.parent)})
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")
            pg = await context.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            yield pg
            assert not errors, errors
        finally:
            await browser.close()


async def _focused(page: Any) -> str:
    return await page.evaluate("document.body.getAttribute('data-focused')")


async def _press(page: Any, key: str, *, navigates: bool = False) -> None:
    if navigates:
        async with page.expect_navigation():
            await page.keyboard.press(key)
    else:
        await page.keyboard.press(key)


async def _shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def test_home_guide_detail_and_back(client: Any, box: Box, page: Any) -> None:
    await page.goto(str(client.make_url(f"/tv/?token={box.token}")))
    assert await page.get_attribute('meta[name="page-view-size"]', "content") == "1280*720"
    assert await _focused(page) == "tile-guides"
    await _shot(page, "01-home")
    await _press(page, "Enter", navigates=True)
    assert await _focused(page) == "theme-personal"
    await _press(page, "ArrowRight")
    assert await _focused(page) == "theme-business"
    await _press(page, "ArrowLeft")
    await _shot(page, "02-themes")
    await _press(page, "Enter", navigates=True)
    assert "个人办事" in await page.inner_text("h1")
    await _press(page, "ArrowDown")
    assert await _focused(page) == "n2"
    await _shot(page, "03-list")
    await _press(page, "Enter", navigates=True)
    assert await page.inner_text("h1") == "居民身份证换领"
    body = await page.inner_text("#detail")
    for text in ("申请材料", "原居民身份证", "办理流程", "收费", "20元", "设定依据", "咨询和投诉电话", "跑动2次"):
        assert text in body
    # Down walks the sections and keeps the focused one inside the visible box.
    for _ in range(8):
        await _press(page, "ArrowDown")
    assert await _focused(page) == "sec-8"
    visible = await page.evaluate("""(() => { var el = document.getElementById('sec-8'),
        box = document.getElementById('detail').getBoundingClientRect(), r = el.getBoundingClientRect();
        return r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && r.left >= 64 && r.right <= 1216; })()""")
    assert visible
    await _shot(page, "04-detail")
    await _press(page, "Backspace", navigates=True)  # back (keyCode 8)
    assert "个人办事" in await page.inner_text("h1")


async def test_number_keys_and_page_keys(client: Any, box: Box, page: Any) -> None:
    await page.goto(str(client.make_url(f"/tv/list?token={box.token}")))
    assert "第 1/1 页" in await page.inner_text("#pager")
    await _press(page, "Digit3", navigates=True)  # number key 3 opens the third item
    assert await page.inner_text("h1") == "城乡居民基本医疗保险参保登记"


async def test_search_by_number_pad(client: Any, box: Box, page: Any) -> None:
    await page.goto(str(client.make_url(f"/tv/search?token={box.token}")))
    for key in "4579":  # h-k-q-y: 户口迁移
        await _press(page, f"Digit{key}")
    await page.wait_for_function("document.body.getAttribute('data-results') === '4579:1'")
    assert "户口迁移" in await page.inner_text("#results")
    await _press(page, "Enter")  # OK on the focused pad key "2" types 2: nothing matches 45792
    assert await page.inner_text("#typed") == "45792"
    await page.wait_for_function("document.body.getAttribute('data-results') === '45792:0'")
    assert "没有找到" in await page.inner_text("#results")
    await _press(page, "ArrowDown")
    await _press(page, "ArrowDown")
    await _press(page, "ArrowDown")
    assert await _focused(page) == "key-0"
    await _press(page, "ArrowLeft")
    assert await _focused(page) == "key-del"
    await _press(page, "Enter")  # 删除 on the pad
    await page.wait_for_function("document.body.getAttribute('data-results') === '4579:1'")
    for _ in range(3):
        await _press(page, "ArrowRight")
    assert await _focused(page) == "r1"
    await _shot(page, "05-search")
    await _press(page, "Enter", navigates=True)
    assert await page.inner_text("h1") == "户口迁移"


async def test_progress_query_from_the_remote(client: Any, box: Box, page: Any, stb_store: Store) -> None:
    created = await stb_store.tickets.create(
        NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP, category="水电气", content="停水",
                  caller_phone="13812345678"), Actor("hotline"))
    await page.goto(str(client.make_url(f"/tv/progress?token={box.token}")))
    assert await _focused(page) == "f-number"
    await page.keyboard.type(created.ticket.number + "9")  # one digit too many is ignored
    await _press(page, "ArrowLeft")  # left is backspace in a field
    await page.keyboard.type(created.ticket.number[-1])
    assert await page.inner_text("#v-number") == created.ticket.number
    await _press(page, "ArrowDown")
    await page.keyboard.type(created.extraction_code)
    await _press(page, "ArrowDown")
    assert await _focused(page) == "btn-query"
    await _press(page, "Enter")
    await page.wait_for_function("document.body.getAttribute('data-result') === 'registered'")
    text = await page.inner_text("#result")
    assert "已受理" in text and "求助" in text and "13812345678" not in text and "停水" not in text
    await _shot(page, "06-progress")


async def test_wrong_code_message(client: Any, box: Box, page: Any, stb_store: Store) -> None:
    created = await stb_store.tickets.create(NewTicket(channel=Channel.HOTLINE, kind=Kind.HELP, category="水电气",
                                                       content="停水"), Actor("hotline"))
    wrong = "000000" if created.extraction_code != "000000" else "111111"
    await page.goto(str(client.make_url(f"/tv/progress?token={box.token}")))
    await page.keyboard.type(created.ticket.number)
    await _press(page, "ArrowDown")
    await page.keyboard.type(wrong)
    await _press(page, "ArrowDown")
    await _press(page, "Enter")
    await page.wait_for_function("document.body.getAttribute('data-result') === 'error'")
    assert await page.inner_text("#message") == "提取码错误，还可尝试 2 次"


async def test_request_from_the_remote(client: Any, box: Box, page: Any, stb_store: Store) -> None:
    await page.goto(str(client.make_url(f"/tv/request?token={box.token}")))
    assert await _focused(page) == "t-c1"
    for _ in range(40):
        if await _focused(page) == "t-p1":
            break
        await _press(page, "ArrowDown")
    assert await _focused(page) == "t-p1"
    await _press(page, "Enter")  # choose the template "施工噪音扰民"
    for _ in range(40):
        if await _focused(page) == "btn-submit":
            break
        await _press(page, "ArrowDown")
    assert await _focused(page) == "btn-submit"
    await _press(page, "Enter")
    await page.wait_for_function("/^\\d{12}$/.test(document.body.getAttribute('data-result') || '')")
    number = await page.inner_text("#r-number")
    code = await page.inner_text("#r-code")
    await _shot(page, "07-request")
    ticket = await stb_store.tickets.get(number)
    assert ticket.channel is Channel.STB and ticket.kind is Kind.COMPLAINT
    assert (await stb_store.tickets.query_progress(number, code, Channel.STB)).number == number


async def test_ipanel_key_codes(client: Any, box: Box, page: Any) -> None:
    await page.goto(str(client.make_url(f"/tv/?token={box.token}")))
    dispatch = """(code) => { var ev = document.createEvent('Event'); ev.initEvent('keydown', true, true);
        Object.defineProperty(ev, 'keyCode', {value: code}); Object.defineProperty(ev, 'which', {value: code});
        document.dispatchEvent(ev); return document.body.getAttribute('data-focused'); }"""
    assert await page.evaluate(dispatch, 4) == "tile-search"  # iPanel right
    assert await page.evaluate(dispatch, 3) == "tile-guides"  # iPanel left
    assert await page.evaluate(dispatch, 2) == "n1"  # iPanel down: the first most-asked item
    assert await page.evaluate(dispatch, 1) == "tile-guides"  # iPanel up
    assert await page.evaluate(dispatch, 39) == "tile-search"  # Huawei/ZTE right
    await page.evaluate(dispatch, 3)
    async with page.expect_navigation():
        await page.evaluate(dispatch, 13)  # OK
    assert "选择主题" in await page.inner_text("h1")
    async with page.expect_navigation():
        await page.evaluate(dispatch, 340)  # iPanel back
    assert "96536" in await page.inner_text("h1")
    await page.goto(str(client.make_url(f"/tv/themes?token={box.token}")))
    async with page.expect_navigation():
        await page.evaluate(dispatch, 461)  # HbbTV back
    assert "96536" in await page.inner_text("h1")
    # iPanel middleware that sends remote keys as keypress events only.
    keypress = dispatch.replace("'keydown'", "'keypress'")
    assert await page.evaluate(keypress, 4) == "tile-search"
    await _shot(page, "08-ipanel")


async def test_page_without_token(client: Any, page: Any) -> None:
    resp = await page.goto(str(client.make_url("/tv/?token=expired")))
    assert resp.status == 401
    assert "重新进入" in await page.inner_text("#message")
