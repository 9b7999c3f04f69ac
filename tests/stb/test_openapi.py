"""The OpenAPI document and the app's routes agree both ways (HEAD is implied by GET, as aiohttp adds it)."""

from __future__ import annotations

from typing import Any

from stb_api.openapi import build_document
from tests.stb.helpers import SQLITE_ONLY

METHODS = {"get", "post", "put", "delete", "patch"}


@SQLITE_ONLY
async def test_every_route_is_documented_and_vice_versa(client: Any) -> None:
    routed = {(r.method.lower(), r.resource.canonical) for r in client.app.router.routes()
              if r.method != "HEAD" and r.resource is not None}
    doc = await (await client.get("/stb/v1/openapi.json")).json()
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops if m in METHODS}
    assert routed == documented
    assert doc == build_document()


def test_every_operation_documents_its_errors_as_json() -> None:
    doc = build_document()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "429" in op["responses"], (method, path)
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")) and not path.startswith("/tv/"):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"}, (method, path, status)
            if op.get("security") == [{"deviceToken": []}]:
                assert {"401", "403"} <= set(op["responses"]), (method, path)
