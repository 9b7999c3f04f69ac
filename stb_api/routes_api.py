"""Handlers of ``/stb/v1``: sign-in, home, guides, progress and requests from the TV."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from stb_api import serialize
from stb_api.errors import ApiError
from stb_api.httputil import dumps, etag_matches, json_response, query_int, query_str, read_json
from stb_api.intake import parse_callback, parse_request, templates_document
from stb_api.keys import AUTH, CATALOG, OPENAPI, SETTINGS, STORE, TOWNS
from stb_api.middleware import DEVICE
from tickets.catalog.search import SearchMode, parse_query
from tickets.catalog.service import CatalogSnapshot
from tickets.enums import Channel
from tickets.errors import QueryLockedError, TicketNotFound, WrongExtractionCode
from tickets.numbers import parse_ticket_number
from tickets.views import Actor, NewTicket

__all__ = ["add_routes"]

log = logging.getLogger(__name__)

_CODE_RE = re.compile(r"\d{6}")
HOME_TOP = 8


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json", charset="utf-8")


async def token(request: web.Request) -> web.Response:
    body = await request.read()
    headers = {k: request.headers.get(k, "") for k in ("X-STB-ID", "X-STB-Timestamp", "X-STB-Nonce",
                                                          "X-STB-Signature")}
    result = await request.app[AUTH].sign_in(request.method, request.path, headers, body)
    log.info("stb %s signed in", result.device.stbid)
    return json_response({"token": result.token, "token_type": "Bearer", "expires_at": result.expires_at,
                          "expires_in_s": request.app[SETTINGS].stb.token_ttl_s, "stbid": result.device.stbid,
                          "town_code": result.device.town_code})


# ----------------------------------------------------------------- catalog (served from memory)
async def _snapshot(request: web.Request) -> CatalogSnapshot:
    return await request.app[CATALOG].snapshot()


def _catalog_response(request: web.Request, snap: CatalogSnapshot, key: Any, build: Callable[[], Any],
                      etag: str | None = None) -> web.Response:
    etag = etag or snap.etag
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={request.app[SETTINGS].stb.catalog_max_age_s}"}
    if etag_matches(request, etag):
        return web.Response(status=304, headers=headers)
    body = request.app[CATALOG].body(snap, key, build, dumps)
    return web.Response(body=body, headers=headers, content_type="application/json", charset="utf-8")


async def home(request: web.Request) -> web.Response:
    snap = await _snapshot(request)
    notices = request.app[SETTINGS].stb.notices
    digest = hashlib.sha256("\n".join(notices).encode()).hexdigest()[:8]
    return _catalog_response(request, snap, ("home",), lambda: {
        "themes": [serialize.theme(t) for t in snap.themes],
        "top": [serialize.item_summary(i) for i in snap.top(HOME_TOP)],
        "notices": list(notices),
    }, etag=f'"home-{snap.revision}-{digest}"')


async def themes(request: web.Request) -> web.Response:
    snap = await _snapshot(request)
    return _catalog_response(request, snap, ("themes",), lambda: {"themes": [serialize.theme(t) for t in snap.themes]})


def _paging(request: web.Request) -> tuple[int, int]:
    page = query_int(request, "page", 1, 10_000, 1)
    size = query_int(request, "page_size", 1, 100, 20)
    assert page is not None and size is not None  # defaults given
    return page, size


async def guides(request: web.Request) -> web.Response:
    theme = query_str(request, "theme", max_len=32)
    department = query_str(request, "department", max_len=64)
    trips = query_int(request, "trips", 0, 10, None)
    page, size = _paging(request)
    snap = await _snapshot(request)
    return _catalog_response(request, snap, ("list", theme, department, trips, page, size), lambda: serialize.page(
        snap.list_items(theme=theme, agency=department, trips=trips, page=page, page_size=size)))


async def search(request: web.Request) -> web.Response:
    q = query_str(request, "q", max_len=64, required=True)
    mode = query_str(request, "mode", max_len=16) or "auto"
    if mode not in {m.value for m in SearchMode}:
        raise ApiError(400, "invalid_parameter", f"mode: expected one of {', '.join(m.value for m in SearchMode)}",
                       extra={"parameter": "mode"})
    page, size = _paging(request)
    snap = await _snapshot(request)
    assert q is not None  # required
    try:
        parse_query(q, mode)
    except ValueError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from exc
    return _catalog_response(request, snap, ("search", q, mode, page, size), lambda: serialize.page(
        snap.search(q, mode, page=page, page_size=size)))


async def guide(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    snap = await _snapshot(request)
    item = snap.get(code)
    if item is None:
        raise ApiError(404, "guide_not_found", f"no service guide with code {code}")
    return _catalog_response(request, snap, ("item", item.implementation_code), lambda: serialize.item_detail(item))


# ----------------------------------------------------------------- tickets
async def progress(request: web.Request) -> web.Response:
    body = await read_json(request)
    extra = sorted(set(body) - {"number", "code"})
    if extra:
        raise ApiError(422, "invalid_field", f"{extra[0]}: unknown field", extra={"field": extra[0]})
    raw_number, code = body.get("number"), body.get("code")
    if not isinstance(raw_number, str) or len(raw_number) > 32:
        raise ApiError(422, "invalid_ticket_number", "number: expected the 12-digit ticket number")
    try:
        number = parse_ticket_number(raw_number)
    except ValueError as exc:
        raise ApiError(422, "invalid_ticket_number", f"number: {exc}") from exc
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
        raise ApiError(422, "invalid_code", "code: expected the 6-digit extraction code")
    device = request[DEVICE]
    try:
        result = await request.app[STORE].tickets.query_progress(number, code, Channel.STB)
    except TicketNotFound as exc:
        raise ApiError(404, "not_found", f"no ticket {number}") from exc
    except WrongExtractionCode as exc:
        log.info("stb %s: wrong extraction code for ticket %s", device.stbid, number)
        raise ApiError(403, "wrong_code", f"wrong extraction code; {exc.attempts_left} attempts left",
                       extra={"attempts_left": exc.attempts_left}) from exc
    except QueryLockedError as exc:
        wait_s = max(1, math.ceil((exc.until - dt.datetime.now(dt.UTC)).total_seconds()))
        raise ApiError(423, "locked", "too many wrong codes: queries on this ticket are locked for a while",
                       extra={"until": exc.until.isoformat()}, headers={"Retry-After": str(wait_s)}) from exc
    return json_response(serialize.progress(result), headers={"Cache-Control": "no-store"})


async def templates(request: web.Request) -> web.Response:
    return json_response(templates_document(request.app[TOWNS]))


async def _create(request: web.Request, new: NewTicket) -> web.Response:
    device = request[DEVICE]
    if new.town_code is None and device.town_code is not None:
        new = dataclasses.replace(new, town_code=device.town_code)
    created = await request.app[STORE].tickets.create(new, Actor(f"stb:{device.stbid}"))
    t = created.ticket
    return json_response({"number": t.number, "extraction_code": created.extraction_code, "kind": t.kind.value,
                          "kind_label": t.kind.label_zh, "status": t.status.value, "status_label": t.status.label_zh,
                          "deadline": t.deadline.isoformat(), "needs_callback": t.needs_callback},
                         status=201, headers={"Cache-Control": "no-store"})


async def create_request(request: web.Request) -> web.Response:
    return await _create(request, parse_request(await read_json(request), request.app[TOWNS]))


async def create_callback(request: web.Request) -> web.Response:
    return await _create(request, parse_callback(await read_json(request), request.app[TOWNS]))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/stb/v1/openapi.json", openapi)
    r.add_post("/stb/v1/auth/token", token)
    r.add_get("/stb/v1/home", home)
    r.add_get("/stb/v1/guides/themes", themes)
    r.add_get("/stb/v1/guides/search", search)
    r.add_get("/stb/v1/guides", guides)
    r.add_get("/stb/v1/guides/{code:[0-9A-Za-z]{1,60}}", guide)
    r.add_post("/stb/v1/progress", progress)
    r.add_get("/stb/v1/requests/templates", templates)
    r.add_post("/stb/v1/requests", create_request)
    r.add_post("/stb/v1/callbacks", create_callback)
