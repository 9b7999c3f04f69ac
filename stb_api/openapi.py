"""The OpenAPI 3.1 document of the STB API and TV pages (served at ``/stb/v1/openapi.json``). Tests check that
every route of the app is described here and every path here is routed, and schemathesis checks responses."""

from __future__ import annotations

from typing import Any

from tickets.catalog.schema import ItemType, MaterialForm, ThemeKind
from tickets.catalog.search import SearchMode
from tickets.enums import Kind, Status

__all__ = ["build_document"]

JSON = "application/json"
HTML = "text/html"
_NULL_STR = {"type": ["string", "null"]}
_STR = {"type": "string"}
_INT = {"type": "integer"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None, *, closed: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props,
                              "required": list(props) if required is None else required}
    if closed:
        schema["additionalProperties"] = False
    return schema


_ERROR_TEXT = {
    400: "Malformed request: invalid_json, invalid_parameter, invalid_query, bad_timestamp, bad_nonce, "
         "bad_signature_format",
    401: "Not signed in: token_missing, token_invalid, token_expired (or admin_unauthorized, signature_missing, "
         "unknown_device, bad_signature, clock_skew, replayed_nonce)",
    403: "device_revoked, admin_disabled or wrong_code",
    404: "no_such_path, not_found or guide_not_found",
    409: "device_exists",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "A field is wrong: invalid_field, invalid_phone, invalid_ticket_number, invalid_code, invalid_stbid, "
         "invalid_mac, invalid_ca_serial, invalid_town_code",
    423: "locked: too many wrong extraction codes",
    429: "rate_limited (see Retry-After)",
    503: "not_configured: the server has no secret key",
}


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _ERROR_TEXT[status], "content": {JSON: {"schema": _ref("Error")}}}
    if status in (429, 423):
        response["headers"] = {"Retry-After": {"schema": _STR, "required": True if status == 429 else False}}
    return response


def _ok(schema_name: str, description: str, *, cached: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": _ref(schema_name)}}}
    if cached:
        response["headers"] = {"ETag": {"schema": _STR, "required": True},
                               "Cache-Control": {"schema": _STR, "required": True}}
    return response


def _op(summary: str, responses: dict[int, Any], *, security: str | None = "device", params: list[Any] | None = None,
        body: str | None = None, tag: str = "api") -> dict[str, Any]:
    errors = {429}
    if security == "device":
        errors |= {401, 403, 503}
    elif security == "admin":
        errors |= {401, 403}
    if params:
        errors.add(400)
    if body:
        errors |= {400, 413, 415, 422}
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {
        str(k): v for k, v in sorted({**{e: _error(e) for e in errors}, **responses}.items())}}
    if security == "device":
        op["security"] = [{"deviceToken": []}]
    elif security == "admin":
        op["security"] = [{"adminToken": []}]
    else:
        op["security"] = []
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": _ref(body)}}}
    return op


def _q(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _h(name: str, schema: dict[str, Any], description: str, *, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema, "description": description}


_PAGING = [_q("page", {"type": "integer", "minimum": 1, "maximum": 10000}, "page number from 1"),
           _q("page_size", {"type": "integer", "minimum": 1, "maximum": 100}, "items per page (default 20)")]
_IF_NONE_MATCH = _h("If-None-Match", _STR, "an ETag from an earlier response: 304 when unchanged", required=False)
_NOT_MODIFIED = {"description": "Not modified (the ETag matches)",
                 "headers": {"ETag": {"schema": _STR, "required": True}}}
_TV_TOKEN = _q("token", _STR, "the device token (the page answers 401 without a valid one)")


def _tv_page(summary: str, params: list[Any] | None = None, *, not_found: bool = False) -> dict[str, Any]:
    page = {"description": "the page", "content": {HTML: {"schema": _STR}}}
    responses: dict[int, Any] = {200: page, 401: {"description": "sign-in needed (an HTML page)",
                                                  "content": {HTML: {"schema": _STR}}}}
    if not_found:
        responses[404] = {"description": "no such item (an HTML page), or no such path (JSON)",
                          "content": {HTML: {"schema": _STR}, JSON: {"schema": _ref("Error")}}}
    if params:
        responses[400] = {"description": "a bad parameter (an HTML page)", "content": {HTML: {"schema": _STR}}}
    return _op(summary, responses, security=None, params=[_TV_TOKEN, *(params or [])], tag="tv")


def _schemas() -> dict[str, Any]:
    item_summary = {
        "code": _STR, "basic_code": _STR, "name": _STR, "agency": _STR,
        "item_type": {"type": "string", "enum": [t.value for t in ItemType]},
        "trips": {"type": "integer", "minimum": 0}, "trips_label": _STR, "promised_label": _STR, "fee": _STR,
        "themes": {"type": "array", "items": _STR},
    }
    detail = {
        **item_summary,
        "department_code": _NULL_STR, "conditions": _STR,
        "materials": {"type": "array", "items": _obj({
            "name": _STR, "form": {"type": "string", "enum": [f.value for f in MaterialForm]},
            "copies": _INT, "notes": _NULL_STR})},
        "steps": {"type": "array", "items": _obj({"name": _STR, "detail": _NULL_STR})},
        "statutory_limit_days": {"type": ["integer", "null"]}, "statutory_label": _STR,
        "promised_limit_days": _INT, "fee_basis": _NULL_STR, "legal_basis": _STR, "place": _STR, "hours": _STR,
        "consult_phone": _STR, "complaint_phone": _STR, "online_url": _NULL_STR,
        "popularity_rank": {"type": ["integer", "null"]}, "updated_at": _NULL_STR,
    }
    statuses = [s.value for s in Status]
    town = {"type": ["string", "null"], "pattern": "^[0-9A-Za-z_-]{1,32}$"}
    device = _obj({"stbid": _STR, "mac": _STR, "ca_serial": _NULL_STR, "town_code": _NULL_STR,
                   "created_at": _STR, "created_by": _STR, "revoked_at": _NULL_STR})
    return {
        "Error": _obj({"error": {"type": "object", "required": ["code", "message"],
                                 "properties": {"code": _STR, "message": _STR,
                                                "attempts_left": _INT, "until": _STR, "field": _STR,
                                                "parameter": _STR, "retry_after_s": _INT, "server_time": _INT}}}),
        "Health": _obj({"status": {"type": "string", "enum": ["ok", "degraded"],
                                         "description": "under hotline serve: degraded while a worker is not ready"}}),
        "Token": _obj({"token": _STR, "token_type": {"const": "Bearer"}, "expires_at": _INT, "expires_in_s": _INT,
                       "stbid": _STR, "town_code": _NULL_STR}),
        "Theme": _obj({"code": _STR, "name": _STR, "kind": {"type": "string", "enum": [k.value for k in ThemeKind]},
                       "item_count": _INT}),
        "Themes": _obj({"themes": {"type": "array", "items": _ref("Theme")}}),
        "ItemSummary": _obj(item_summary),
        "ItemDetail": _obj(detail),
        "Page": _obj({"items": {"type": "array", "items": _ref("ItemSummary")}, "total": _INT, "page": _INT,
                      "page_size": _INT, "pages": _INT}),
        "Home": _obj({"themes": {"type": "array", "items": _ref("Theme")},
                      "top": {"type": "array", "items": _ref("ItemSummary")},
                      "notices": {"type": "array", "items": _STR}}),
        "ProgressQuery": _obj({"number": {"type": "string", "description": "12-digit ticket number (流水号)"},
                               "code": {"type": "string", "description": "6-digit extraction code (提取码)"}},
                              closed=True),
        "Progress": _obj({
            "number": _STR, "kind": {"type": "string", "enum": [k.value for k in Kind]}, "kind_label": _STR,
            "status": {"type": "string", "enum": statuses}, "status_label": _STR, "department": _NULL_STR,
            "created_at": _STR, "dispatched_at": _NULL_STR, "deadline": _STR, "resolved_at": _NULL_STR,
            "reply": _NULL_STR,
            "timeline": {"type": "array", "items": _obj({
                "at": _STR, "action": _STR, "status": {"type": ["string", "null"], "enum": [*statuses, None]},
                "status_label": _NULL_STR, "note": _STR})}}),
        "Templates": _obj({
            "kinds": {"type": "array", "items": _obj({"code": _STR, "label": _STR, "time_limit_working_days": _INT})},
            "categories": {"type": "array", "items": _STR},
            "templates": {"type": "array", "items": _obj({"id": _STR, "kind": _STR, "category": _STR, "text": _STR})},
            "towns": {"type": "array", "items": _obj({"code": _STR, "name": _STR})},
            "max_text_length": _INT}),
        "NewRequest": _obj({
            "kind": {"type": "string", "enum": ["consultation", "help", "suggestion", "complaint"]},
            "category": {"type": "string", "description": "one of Templates.categories"},
            "town_code": town, "template_id": {"type": "string"}, "text": {"type": "string", "maxLength": 500}},
            required=["kind", "category"], closed=True),
        "NewCallback": _obj({"phone": {"type": "string", "description": "mobile 1[3-9]xxxxxxxxx or 0xx-xxxxxxxx"},
                             "town_code": town, "text": {"type": "string", "maxLength": 500}},
                            required=["phone"], closed=True),
        "Created": _obj({"number": _STR, "extraction_code": _STR, "kind": _STR, "kind_label": _STR, "status": _STR,
                         "status_label": _STR, "deadline": _STR, "needs_callback": {"type": "boolean"}}),
        "NewDevice": _obj({"stbid": _STR, "mac": _STR, "ca_serial": _NULL_STR, "town_code": _NULL_STR},
                          required=["stbid", "mac"], closed=True),
        "Device": device,
        "DeviceCreated": _obj({"device": _ref("Device"), "secret": _STR}),
        "DeviceOne": _obj({"device": _ref("Device")}),
        "Devices": _obj({"devices": {"type": "array", "items": _ref("Device")}}),
    }


def build_document() -> dict[str, Any]:
    sign_headers = [
        _h("X-STB-ID", _STR, "the box's STBID"),
        _h("X-STB-Timestamp", _STR, "Unix time in seconds"),
        _h("X-STB-Nonce", _STR, "16-64 characters [A-Za-z0-9_-], used once"),
        _h("X-STB-Signature", _STR, "hex HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body)))"),
    ]
    cached = {304: _NOT_MODIFIED}
    list_params = [_q("theme", {"type": "string", "maxLength": 32}, "theme code"),
                   _q("department", {"type": "string", "maxLength": 64}, "department code or part of the agency"),
                   _q("trips", {"type": "integer", "minimum": 0, "maximum": 10}, "trips to a hall (0 零跑路, 1 仅跑一次)"),
                   *_PAGING, _IF_NONE_MATCH]
    search_params = [_q("q", {"type": "string", "minLength": 1, "maxLength": 64}, "name, pinyin initials, remote "
                         "digits or code", required=True),
                     _q("mode", {"type": "string", "enum": [m.value for m in SearchMode]}, "default auto"),
                     *_PAGING, _IF_NONE_MATCH]
    code_param = {"name": "code", "in": "path", "required": True,
                  "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{1,60}$"},
                  "description": "implementation code, or a basic code"}
    stbid_param = {"name": "stbid", "in": "path", "required": True, "schema": {"type": "string"}}
    paths: dict[str, Any] = {
        "/healthz": {"get": _op("liveness", {200: _ok("Health", "alive")}, security=None, tag="ops")},
        "/stb/v1/openapi.json": {"get": _op("this document", {200: {"description": "OpenAPI 3.1",
                                                                    "content": {JSON: {"schema": {"type": "object"}}}}},
                                            security=None, tag="ops")},
        "/stb/v1/auth/token": {"post": {
            **_op("exchange a signed request for a bearer token", {200: _ok("Token", "signed in"),
                                                                    401: _error(401), 403: _error(403),
                                                                    503: _error(503)},
                  security=None, params=sign_headers),
            "requestBody": {"required": False, "content": {"application/octet-stream": {"schema": _STR}}}}},
        "/stb/v1/home": {"get": _op("themes, most-asked items and notices", {200: _ok("Home", "home", cached=True),
                                                                             **cached}, params=[_IF_NONE_MATCH])},
        "/stb/v1/guides/themes": {"get": _op("guide themes", {200: _ok("Themes", "themes", cached=True), **cached},
                                             params=[_IF_NONE_MATCH])},
        "/stb/v1/guides": {"get": _op("list guides", {200: _ok("Page", "a page", cached=True), **cached},
                                      params=list_params)},
        "/stb/v1/guides/search": {"get": _op("search guides", {200: _ok("Page", "a page", cached=True), **cached},
                                             params=search_params)},
        "/stb/v1/guides/{code}": {"get": _op("one guide with every field", {
            200: _ok("ItemDetail", "the guide", cached=True), **cached, 404: _error(404)},
            params=[code_param, _IF_NONE_MATCH])},
        "/stb/v1/progress": {"post": _op("progress of a ticket (number + extraction code)", {
            200: _ok("Progress", "the public progress"), 403: _error(403), 404: _error(404), 423: _error(423)},
            body="ProgressQuery")},
        "/stb/v1/requests/templates": {"get": _op("kinds, categories, text templates and towns",
                                                  {200: _ok("Templates", "templates")})},
        "/stb/v1/requests": {"post": _op("a consultation, help, suggestion or complaint",
                                         {201: _ok("Created", "ticket registered")}, body="NewRequest")},
        "/stb/v1/callbacks": {"post": _op("a call-back request", {201: _ok("Created", "ticket registered")},
                                          body="NewCallback")},
        "/stb/v1/admin/devices": {
            "post": _op("register a box (the secret is shown once)", {201: _ok("DeviceCreated", "registered"),
                                                                      409: _error(409)},
                        security="admin", body="NewDevice", tag="admin"),
            "get": _op("list boxes", {200: _ok("Devices", "boxes")}, security="admin", tag="admin",
                       params=[_q("include_revoked", {"type": "string", "enum": ["true", "false"]}, "default true")]),
        },
        "/stb/v1/admin/devices/{stbid}": {"delete": _op("revoke a box", {200: _ok("DeviceOne", "revoked"),
                                                                         404: _error(404)},
                                                        security="admin", params=[stbid_param], tag="admin")},
        "/tv/": {"get": _tv_page("TV home page")},
        "/tv/themes": {"get": _tv_page("TV guide themes")},
        "/tv/list": {"get": _tv_page("TV guide list", [
            _q("theme", {"type": "string", "maxLength": 32}, "theme code"),
            _q("page", {"type": "integer", "minimum": 1, "maximum": 10000}, "page")])},
        "/tv/item/{code}": {"get": _tv_page("TV guide details", [code_param], not_found=True)},
        "/tv/search": {"get": _tv_page("TV search by number pad (T9)")},
        "/tv/progress": {"get": _tv_page("TV progress query")},
        "/tv/request": {"get": _tv_page("TV request form")},
        "/tv/static/{name}": {"get": _op("TV page scripts and styles", {
            200: {"description": "the file", "content": {"application/javascript": {"schema": _STR},
                                                         "text/css": {"schema": _STR}}},
            404: {"description": "no such file", "content": {JSON: {"schema": _ref("Error")}}}},
            security=None, tag="tv", params=[{"name": "name", "in": "path", "required": True,
                                              "schema": {"type": "string", "enum": ["tv.js", "tv.css"]}}])},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "96536 TV-government service API (set-top boxes)", "version": "1.0.0",
                 "description": "Errors are always JSON: {\"error\": {\"code\": <stable code>, \"message\": ...}}."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "deviceToken": {"type": "http", "scheme": "bearer", "description": "from POST /stb/v1/auth/token"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "security.admin_token"},
            },
        },
    }
