"""``/stb/v1/admin/devices``: register, list and revoke set-top boxes (admin bearer token, see middleware)."""

from __future__ import annotations

import logging

from aiohttp import web

from stb_api.devices import parse_new_device
from stb_api.errors import ApiError, DeviceError
from stb_api.httputil import json_response, read_json
from stb_api.keys import AUTH, DEVICES

__all__ = ["add_routes"]

log = logging.getLogger(__name__)
_STATUS = {"device_exists": 409, "device_not_found": 404}


def _api_error(exc: DeviceError) -> ApiError:
    return ApiError(_STATUS.get(exc.code, 422), exc.code, exc.message)


async def add_device(request: web.Request) -> web.Response:
    body = await read_json(request)
    extra = sorted(set(body) - {"stbid", "mac", "ca_serial", "town_code"})
    if extra:
        raise ApiError(422, "invalid_field", f"{extra[0]}: unknown field", extra={"field": extra[0]})
    try:
        new = parse_new_device(body.get("stbid"), body.get("mac"), body.get("ca_serial"), body.get("town_code"))
        device, secret = await request.app[DEVICES].register(new, by="admin-api")
    except DeviceError as exc:
        raise _api_error(exc) from exc
    request.app[AUTH].remember(device)
    return json_response({"device": device.public(), "secret": secret}, status=201,
                         headers={"Cache-Control": "no-store"})


async def list_devices(request: web.Request) -> web.Response:
    include = request.query.get("include_revoked", "true")
    if include not in ("true", "false"):
        raise ApiError(400, "invalid_parameter", "include_revoked: expected true or false",
                       extra={"parameter": "include_revoked"})
    devices = await request.app[DEVICES].list(include_revoked=include == "true")
    return json_response({"devices": [d.public() for d in devices]})


async def revoke_device(request: web.Request) -> web.Response:
    try:
        device = await request.app[DEVICES].revoke(request.match_info["stbid"], by="admin-api")
    except DeviceError as exc:
        raise _api_error(exc) from exc
    request.app[AUTH].remember(device)
    return json_response({"device": device.public()})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/stb/v1/admin/devices", add_device)
    app.router.add_get("/stb/v1/admin/devices", list_devices)
    app.router.add_delete("/stb/v1/admin/devices/{stbid}", revoke_device)
