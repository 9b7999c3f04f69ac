"""The one middleware every request passes: JSON errors, body limits, rate limits and who may call what.

Access classes (by path): public (``/healthz``, ``/stb/v1/openapi.json``, ``/tv/static/...``), signed sign-in
(``/stb/v1/auth/token``, checked by its handler), admin (``/stb/v1/admin/...``: the admin bearer token), TV pages
(``/tv/...``: the device token in the ``token`` query parameter, checked by the page handler so that it can
answer with a page) and everything else under ``/stb/v1``: ``Authorization: Bearer <device token>``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from stb_api.devices import DeviceView
from stb_api.errors import ApiError
from stb_api.httputil import error_response
from stb_api.keys import ADDRESS_LIMIT, AUTH, DEVICE_LIMIT, SETTINGS

__all__ = ["DEVICE", "guard"]

log = logging.getLogger(__name__)

DEVICE = web.RequestKey("stb_device", DeviceView)  # the signed-in box
_PUBLIC = frozenset({"/healthz", "/stb/v1/openapi.json"})
_HTTP_CODES = {400: "bad_request", 404: "no_such_path", 405: "method_not_allowed", 413: "body_too_large",
               415: "unsupported_media_type"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _limited(retry_after_s: int, what: str) -> ApiError:
    return ApiError(429, "rate_limited", f"too many requests from this {what}; retry in {retry_after_s} s",
                    extra={"retry_after_s": retry_after_s}, headers={"Retry-After": str(retry_after_s)})


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _check_access(request: web.Request) -> None:
    app = request.app
    path = request.path
    if path in _PUBLIC or path.startswith("/tv/static/"):
        return
    wait_s = app[ADDRESS_LIMIT].hit(request.remote or "?")
    if wait_s:
        raise _limited(wait_s, "address")
    length = request.content_length
    if length is not None and length > app[SETTINGS].web.max_body_bytes:
        raise ApiError(413, "body_too_large", f"the body is larger than {app[SETTINGS].web.max_body_bytes} bytes")
    if path.startswith("/stb/v1/admin/"):
        expected = app[SETTINGS].security.admin_token
        if not expected:
            raise ApiError(403, "admin_disabled", "the admin API is off: security.admin_token is not set")
        given = _bearer(request)
        if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, "admin_unauthorized", "a valid admin bearer token is required")
        return
    if path == "/stb/v1/auth/token" or path.startswith("/tv/") or path == "/tv":
        return
    token = _bearer(request)
    if token is None:
        raise ApiError(401, "token_missing", "Authorization: Bearer <token> is required; sign in at "
                                             "/stb/v1/auth/token")
    device = await app[AUTH].check_token(token)
    wait_s = app[DEVICE_LIMIT].hit(device.stbid)
    if wait_s:
        raise _limited(wait_s, "device")
    request[DEVICE] = device


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        exc = request.match_info.http_exception
        if exc is not None:
            raise exc
        await _check_access(request)
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
        message = {404: f"no such path: {request.path}", 405: f"method {request.method} is not allowed here",
                   413: "the request body is too large"}.get(exc.status, exc.reason)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(ApiError(exc.status, code, message, headers=headers))
    except ConnectionResetError:
        raise  # the client went away mid-request: nothing to answer
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(ApiError(500, "internal_error", "the server failed to answer this request"))
