"""Every /stb/v1 endpoint with good, bad and hostile input, and the exact errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from stb_api.app import create_app
from tests.stb.helpers import SQLITE_ONLY, Box, register_box
from tickets.config import Settings
from tickets.enums import Channel, Kind, Status
from tickets.numbers import format_ticket_number
from tickets.store import Store
from tickets.views import Actor, NewTicket

SQL = "' OR 1=1 --"


async def _error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["error"]["code"] == code, body
    return body["error"]


# ----------------------------------------------------------------- generic HTTP errors
@SQLITE_ONLY
async def test_healthz_and_openapi_need_no_token(client: Any) -> None:
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    doc = await (await client.get("/stb/v1/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"


@SQLITE_ONLY
async def test_unknown_path_and_method(client: Any, box: Box) -> None:
    await _error(await client.get("/stb/v1/nothing"), 404, "no_such_path")
    await _error(await client.get("/stb/v2/home", headers=box.auth), 404, "no_such_path")
    err_resp = await client.put("/stb/v1/home", headers=box.auth)
    await _error(err_resp, 405, "method_not_allowed")
    assert "GET" in err_resp.headers["Allow"]


@SQLITE_ONLY
async def test_body_errors(client: Any, box: Box, stb_settings: Settings) -> None:
    big = b"{" + b" " * stb_settings.web.max_body_bytes + b"}"
    await _error(await client.post("/stb/v1/progress", data=big, headers={**box.auth, "Content-Type":
                                                                          "application/json"}), 413, "body_too_large")
    await _error(await client.post("/stb/v1/progress", data=b"{not json", headers={**box.auth, "Content-Type":
                                                                                   "application/json"}), 400,
                 "invalid_json")
    await _error(await client.post("/stb/v1/progress", data=b"[1]", headers={**box.auth, "Content-Type":
                                                                             "application/json"}), 400, "invalid_json")
    await _error(await client.post("/stb/v1/progress", data=b"number=1", headers={
        **box.auth, "Content-Type": "application/x-www-form-urlencoded"}), 415, "unsupported_media_type")


@SQLITE_ONLY
async def test_chunked_oversized_body(client: Any, box: Box, stb_settings: Settings) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * stb_settings.web.max_body_bytes

    resp = await client.post("/stb/v1/requests", data=chunks(), headers={**box.auth,
                                                                          "Content-Type": "application/json"})
    await _error(resp, 413, "body_too_large")


# ----------------------------------------------------------------- catalog
async def test_home(client: Any, box: Box) -> None:
    resp = await client.get("/stb/v1/home", headers=box.auth)
    body = await resp.json()
    assert [t["code"] for t in body["themes"]][:2] == ["personal", "business"]
    assert [i["name"] for i in body["top"]][:3] == ["户口迁移", "居民身份证换领", "城乡居民基本医疗保险参保登记"]
    assert body["notices"]
    assert resp.headers["Cache-Control"].startswith("private, max-age=")


async def test_lists_paging_and_filters(client: Any, box: Box) -> None:
    body = await (await client.get("/stb/v1/guides?theme=household&page_size=1", headers=box.auth)).json()
    assert (body["total"], body["pages"], body["items"][0]["name"]) == (2, 2, "户口迁移")
    body = await (await client.get("/stb/v1/guides?theme=household&page_size=1&page=2", headers=box.auth)).json()
    assert body["items"][0]["name"] == "居民身份证换领"
    body = await (await client.get("/stb/v1/guides?trips=0", headers=box.auth)).json()
    assert [i["trips_label"] for i in body["items"]] == ["零跑路"]
    body = await (await client.get("/stb/v1/guides?department=lqy-market", headers=box.auth)).json()
    assert [i["name"] for i in body["items"]] == ["食品经营许可"]
    body = await (await client.get("/stb/v1/guides/themes", headers=box.auth)).json()
    counts = {t["code"]: t["item_count"] for t in body["themes"]}
    assert counts["personal"] == 3 and counts["business"] == 1


@SQLITE_ONLY
async def test_list_parameter_errors(client: Any, box: Box) -> None:
    for query, param in (("page=0", "page"), ("page=abc", "page"), ("page_size=101", "page_size"),
                         ("trips=-1", "trips"), (f"department={'x' * 65}", "department")):
        err = await _error(await client.get(f"/stb/v1/guides?{query}", headers=box.auth), 400, "invalid_parameter")
        assert err["parameter"] == param
    body = await (await client.get("/stb/v1/guides", params={"theme": SQL}, headers=box.auth)).json()
    assert body["total"] == 0
    body = await (await client.get("/stb/v1/guides", params={"department": SQL}, headers=box.auth)).json()
    assert body["total"] == 0


async def test_search_modes(client: Any, box: Box) -> None:
    async def names(query: str, mode: str = "auto") -> list[str]:
        resp = await client.get("/stb/v1/guides/search", params={"q": query, "mode": mode}, headers=box.auth)
        assert resp.status == 200, await resp.text()
        return [i["name"] for i in (await resp.json())["items"]]

    assert await names("户口") == ["户口迁移"]
    assert await names("hkqy") == ["户口迁移"]
    assert await names("4579") == ["户口迁移"]
    assert await names("4579", "digits") == ["户口迁移"]
    assert await names("XK003") == ["食品经营许可"]
    assert await names(SQL) == []
    assert await names("%") == []
    assert await names("_") == []


@SQLITE_ONLY
async def test_search_errors(client: Any, box: Box) -> None:
    await _error(await client.get("/stb/v1/guides/search", headers=box.auth), 400, "invalid_parameter")
    await _error(await client.get("/stb/v1/guides/search", params={"q": "   "}, headers=box.auth), 400,
                 "invalid_query")
    await _error(await client.get("/stb/v1/guides/search", params={"q": SQL, "mode": "digits"}, headers=box.auth),
                 400, "invalid_query")
    await _error(await client.get("/stb/v1/guides/search", params={"q": "a", "mode": "sql"}, headers=box.auth),
                 400, "invalid_parameter")


async def test_detail_every_field(client: Any, box: Box) -> None:
    code = "GG001010013510112000000115101120089123456"
    body = await (await client.get(f"/stb/v1/guides/{code}", headers=box.auth)).json()
    assert body["name"] == "户口迁移" and body["trips_label"] == "仅跑一次" and body["promised_label"] == "5个工作日"
    assert body["materials"][1] == {"name": "居民身份证", "form": "原件及复印件", "copies": 1, "notes": "复印件需本人签字"}
    assert [s["name"] for s in body["steps"]] == ["申请", "审核", "办结"]
    for field in ("conditions", "legal_basis", "place", "hours", "consult_phone", "complaint_phone", "online_url",
                  "statutory_label", "fee", "agency", "basic_code"):
        assert body[field], field
    # A basic code finds the item too.
    assert (await (await client.get("/stb/v1/guides/GG00101001", headers=box.auth)).json())["code"] == code


@SQLITE_ONLY
async def test_detail_not_found(client: Any, box: Box) -> None:
    await _error(await client.get("/stb/v1/guides/XK99999999", headers=box.auth), 404, "guide_not_found")
    await _error(await client.get("/stb/v1/guides/' OR 1=1 --", headers=box.auth), 404, "no_such_path")


async def test_etag_and_refresh_after_import(client: Any, box: Box, stb_store: Store) -> None:
    resp = await client.get("/stb/v1/guides/themes", headers=box.auth)
    etag = resp.headers["ETag"]
    resp = await client.get("/stb/v1/guides/themes", headers={**box.auth, "If-None-Match": etag})
    assert resp.status == 304 and resp.headers["ETag"] == etag and await resp.read() == b""
    resp = await client.get("/stb/v1/guides/themes", headers={**box.auth, "If-None-Match": f'"x", W/{etag}'})
    assert resp.status == 304
    # An import changes the revision: the next request (catalog_check_s is 0 here) serves the new catalog.
    from tickets.catalog.importer import read_file
    from tests.stb.conftest import SAMPLE

    items = read_file(SAMPLE)
    await stb_store.catalog.import_items([dataclasses.replace(items[0], name="户口迁移登记"), *items[1:]])
    resp = await client.get("/stb/v1/guides/themes", headers={**box.auth, "If-None-Match": etag})
    assert resp.status == 200 and resp.headers["ETag"] != etag
    body = await (await client.get("/stb/v1/guides/search", params={"q": "迁移登记"}, headers=box.auth)).json()
    assert [i["name"] for i in body["items"]] == ["户口迁移登记"]


# ----------------------------------------------------------------- progress
async def _hotline_ticket(store: Store) -> tuple[str, str]:
    created = await store.tickets.create(
        NewTicket(channel=Channel.HOTLINE, kind=Kind.COMPLAINT, category="环境卫生", content="噪音扰民",
                  caller_phone="13812345678", transcript="秘密录音转写", town_code="510112001000"),
        Actor("hotline"))
    return created.ticket.number, created.extraction_code


async def test_progress(client: Any, box: Box, stb_store: Store) -> None:
    number, code = await _hotline_ticket(stb_store)
    resp = await client.post("/stb/v1/progress", json={"number": number, "code": code}, headers=box.auth)
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    body = await resp.json()
    assert body["status"] == "registered" and body["status_label"] == Status.REGISTERED.label_zh == "已受理"
    assert body["kind_label"] == "投诉" and body["deadline"] and body["department"] is None
    assert [e["status"] for e in body["timeline"]] == ["registered"]
    for secret in ("13812345678", "5678", "秘密录音转写", "噪音扰民"):
        assert secret not in text
    assert resp.headers["Cache-Control"] == "no-store"


async def test_wrong_codes_lock_the_ticket(client: Any, box: Box, stb_store: Store) -> None:
    number, code = await _hotline_ticket(stb_store)
    wrong = "000000" if code != "000000" else "111111"
    err = await _error(await client.post("/stb/v1/progress", json={"number": number, "code": wrong},
                                         headers=box.auth), 403, "wrong_code")
    assert err["attempts_left"] == 2
    err = await _error(await client.post("/stb/v1/progress", json={"number": number, "code": wrong},
                                         headers=box.auth), 403, "wrong_code")
    assert err["attempts_left"] == 1
    err = await _error(await client.post("/stb/v1/progress", json={"number": number, "code": wrong},
                                         headers=box.auth), 403, "wrong_code")
    assert err["attempts_left"] == 0
    resp = await client.post("/stb/v1/progress", json={"number": number, "code": code}, headers=box.auth)
    err = await _error(resp, 423, "locked")
    assert dt.datetime.fromisoformat(err["until"]) > dt.datetime.now(dt.UTC)
    assert int(resp.headers["Retry-After"]) > 60


@SQLITE_ONLY
async def test_progress_input_errors(client: Any, box: Box) -> None:
    async def post(body: Any) -> Any:
        return await client.post("/stb/v1/progress", json=body, headers=box.auth)

    missing = format_ticket_number(dt.date(2026, 1, 1), 99_999)
    bad_check = missing[:-1] + str((int(missing[-1]) + 1) % 10)
    await _error(await post({"number": missing, "code": "123456"}), 404, "not_found")
    await _error(await post({"number": f"{missing[:6]}-{missing[6:]}", "code": "123456"}), 404, "not_found")
    err = await _error(await post({"number": SQL, "code": "123456"}), 422, "invalid_ticket_number")
    assert err["message"] == "number: ticket number must be 12 digits"
    err = await _error(await post({"number": bad_check, "code": "123456"}), 422, "invalid_ticket_number")
    assert err["message"] == "number: ticket number check digit does not match"
    await _error(await post({"number": 261129000018, "code": "123456"}), 422, "invalid_ticket_number")
    await _error(await post({"number": missing, "code": SQL}), 422, "invalid_code")
    await _error(await post({"number": missing}), 422, "invalid_code")
    await _error(await post({"number": missing, "code": "123456", "phone": "x"}), 422, "invalid_field")


# ----------------------------------------------------------------- requests from the TV
async def test_templates(client: Any, box: Box) -> None:
    body = await (await client.get("/stb/v1/requests/templates", headers=box.auth)).json()
    assert [k["label"] for k in body["kinds"]] == ["咨询", "求助", "意见建议", "投诉"]
    assert "环境卫生" in body["categories"] and body["templates"][0]["text"]


async def test_request_creates_a_stb_ticket(client: Any, box: Box, stb_store: Store) -> None:
    resp = await client.post("/stb/v1/requests", json={"kind": "complaint", "category": "环境卫生",
                                                       "template_id": "p1"}, headers=box.auth)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert len(body["number"]) == 12 and len(body["extraction_code"]) == 6 and body["kind_label"] == "投诉"
    ticket = await stb_store.tickets.get(body["number"])
    assert ticket.channel is Channel.STB and ticket.kind is Kind.COMPLAINT and ticket.town_code == "510112001000"
    assert ticket.content.startswith("附近施工噪音扰民")
    events = await stb_store.tickets.events(body["number"])
    assert events[0].actor == f"stb:{box.stbid}"
    # The extraction code works from the TV too.
    resp = await client.post("/stb/v1/progress", json={"number": body["number"], "code": body["extraction_code"]},
                             headers=box.auth)
    assert resp.status == 200


async def test_typed_request_and_callback(client: Any, box: Box, stb_store: Store) -> None:
    resp = await client.post("/stb/v1/requests", json={"kind": "suggestion", "category": "交通出行",
                                                       "text": "  建议\x00增开\n公交  ", "town_code": "510112002000"},
                             headers=box.auth)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    ticket = await stb_store.tickets.get(body["number"])
    assert ticket.content == "建议 增开 公交" and ticket.town_code == "510112002000"
    resp = await client.post("/stb/v1/callbacks", json={"phone": "+86 138-1234-5678"}, headers=box.auth)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["needs_callback"] is True
    ticket = await stb_store.tickets.get(body["number"])
    assert ticket.needs_callback and ticket.caller_masked == "138****5678" and ticket.category == "回电请求"
    resp = await client.post("/stb/v1/callbacks", json={"phone": "028-84851234", "text": "请回电"}, headers=box.auth)
    assert resp.status == 201


@SQLITE_ONLY
async def test_request_errors(client: Any, box: Box) -> None:
    async def post(path: str, body: Any) -> Any:
        return await client.post(path, json=body, headers=box.auth)

    ok = {"kind": "help", "category": "水电气", "template_id": "h1"}
    for body, field in (({**ok, "kind": "report"}, "kind"), ({**ok, "category": SQL}, "category"),
                        ({**ok, "template_id": "zz"}, "template_id"), ({**ok, "text": "x"}, "text"),
                        ({"kind": "help", "category": "水电气"}, "text"), ({**ok, "town_code": SQL}, "town_code"),
                        ({"kind": "help", "category": "水电气", "text": "字" * 501}, "text"),
                        ({"kind": "help", "category": "水电气", "text": " \n\t"}, "text"),
                        ({**ok, "caller_phone": "13812345678"}, "caller_phone")):
        err = await _error(await post("/stb/v1/requests", body), 422, "invalid_field")
        assert err["field"] == field, body
    for phone in ("12345678901", "1381234567", "138123456789", SQL, "010-123", 13812345678, "0" * 40):
        await _error(await post("/stb/v1/callbacks", {"phone": phone}), 422, "invalid_phone")


# ----------------------------------------------------------------- rate limits
@SQLITE_ONLY
async def test_rate_limit_per_device(aiohttp_client: Any, stb_settings: Settings, stb_store: Store) -> None:
    settings = stb_settings.replace(stb=dataclasses.replace(stb_settings.stb, rate_limit_per_device_per_min=3))
    client = await aiohttp_client(create_app(settings, stb_store))
    box = await register_box(client, "STBRATE1", "001122334455")
    for _ in range(3):
        assert (await client.get("/stb/v1/guides/themes", headers=box.auth)).status == 200
    resp = await client.get("/stb/v1/guides/themes", headers=box.auth)
    err = await _error(resp, 429, "rate_limited")
    assert int(resp.headers["Retry-After"]) == err["retry_after_s"] >= 1
    other = await register_box(client, "STBRATE2", "001122334466")
    assert (await client.get("/stb/v1/guides/themes", headers=other.auth)).status == 200


@SQLITE_ONLY
async def test_rate_limit_per_address(aiohttp_client: Any, stb_settings: Settings, stb_store: Store) -> None:
    settings = stb_settings.replace(stb=dataclasses.replace(stb_settings.stb, rate_limit_per_address_per_min=2))
    client = await aiohttp_client(create_app(settings, stb_store))
    for _ in range(2):
        await client.get("/stb/v1/home")
    await _error(await client.get("/stb/v1/home"), 429, "rate_limited")
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)
async def test_server_without_secret_key(aiohttp_client: Any, stb_settings: Settings, stb_store: Store) -> None:
    settings = stb_settings.replace(security=dataclasses.replace(stb_settings.security, secret_key=""))
    client = await aiohttp_client(create_app(settings, stb_store))
    await _error(await client.get("/stb/v1/home", headers={"Authorization": "Bearer 1.2.x"}), 503, "not_configured")
    resp = await client.post("/stb/v1/admin/devices", json={"stbid": "STB0009", "mac": "001122334455"},
                             headers={"Authorization": "Bearer test-admin-token"})
    await _error(resp, 422, "no_secret_key")
