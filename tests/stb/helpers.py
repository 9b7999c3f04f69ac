"""Helpers shared by the STB tests and the bench: register a box, sign in, create a ticket as the hotline."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from stb_api.signing import TOKEN_PATH, signed_headers

ADMIN = "test-admin-token"
# Most tests run on SQLite only; the main paths run on both databases (the db_settings fixture's params).
SQLITE_ONLY = pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)


@dataclasses.dataclass
class Box:
    stbid: str
    secret: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_in(client: Any, stbid: str, secret: str, **kwargs: Any) -> Any:
    return await client.post(TOKEN_PATH, headers=signed_headers(stbid, secret, **kwargs))


async def register_box(client: Any, stbid: str, mac: str, **extra: Any) -> Box:
    resp = await client.post("/stb/v1/admin/devices", json={"stbid": stbid, "mac": mac, **extra},
                             headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status == 201, await resp.text()
    secret = (await resp.json())["secret"]
    resp = await sign_in(client, stbid, secret)
    assert resp.status == 200, await resp.text()
    return Box(stbid, secret, (await resp.json())["token"])
