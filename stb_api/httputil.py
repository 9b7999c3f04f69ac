"""Small HTTP helpers: JSON bodies in and out, query parameters, ETags."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from stb_api.errors import ApiError

__all__ = ["dumps", "error_response", "etag_matches", "json_response", "query_int", "query_str", "read_json"]


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(data), status=status, headers=headers, content_type="application/json",
                        charset="utf-8")


def error_response(err: ApiError) -> web.Response:
    return web.Response(body=dumps(err.body()), status=err.status, headers=err.headers,
                        content_type="application/json", charset="utf-8")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; 415 for another content type, 400 for malformed JSON or a non-object."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "expected Content-Type: application/json")
    raw = await request.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def query_str(request: web.Request, name: str, *, max_len: int = 64, required: bool = False) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, "invalid_parameter", f"{name}: required", extra={"parameter": name})
        return None
    if len(value) > max_len or "\x00" in value:
        raise ApiError(400, "invalid_parameter", f"{name}: at most {max_len} characters", extra={"parameter": name})
    return value


def query_int(request: web.Request, name: str, low: int, high: int, default: int | None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or not low <= int(value) <= high:
        raise ApiError(400, "invalid_parameter", f"{name}: expected an integer {low}-{high}",
                       extra={"parameter": name})
    return int(value)


def etag_matches(request: web.Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
