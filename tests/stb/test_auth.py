"""Device registration (admin API), signed sign-in and token checks, with hostile input."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stb_api.signing import TOKEN_PATH, sign, signed_headers
from tests.stb.helpers import SQLITE_ONLY, Box, register_box, sign_in


async def _error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


async def test_register_sign_in_and_use_token(client: Any, box: Box) -> None:
    resp = await client.get("/stb/v1/home", headers=box.auth)
    assert resp.status == 200


async def test_admin_list_and_revoke(client: Any, box: Box, admin_headers: dict[str, str]) -> None:
    resp = await client.get("/stb/v1/admin/devices", headers=admin_headers)
    devices = (await resp.json())["devices"]
    assert [d["stbid"] for d in devices] == ["STB0001A"]
    assert devices[0]["mac"] == "00:1A:2B:3C:4D:5E" and "secret" not in devices[0] and "salt" not in devices[0]
    resp = await client.delete(f"/stb/v1/admin/devices/{box.stbid}", headers=admin_headers)
    assert resp.status == 200 and (await resp.json())["device"]["revoked_at"]
    # The token stops working at once in this process, and sign-in is refused with its own code.
    await _error(await client.get("/stb/v1/home", headers=box.auth), 403, "device_revoked")
    await _error(await sign_in(client, box.stbid, box.secret), 403, "device_revoked")
    resp = await client.get("/stb/v1/admin/devices?include_revoked=false", headers=admin_headers)
    assert (await resp.json())["devices"] == []


@SQLITE_ONLY
async def test_reregistering_a_revoked_box_issues_a_new_secret(client: Any, box: Box,
                                                               admin_headers: dict[str, str]) -> None:
    await client.delete(f"/stb/v1/admin/devices/{box.stbid}", headers=admin_headers)
    again = await register_box(client, box.stbid, "00:1a:2b:3c:4d:5e")
    assert again.secret != box.secret
    await _error(await sign_in(client, box.stbid, box.secret), 401, "bad_signature")
    await _error(await client.get("/stb/v1/home", headers=box.auth), 401, "token_invalid")
    assert (await client.get("/stb/v1/home", headers=again.auth)).status == 200


@SQLITE_ONLY
async def test_admin_errors(client: Any, box: Box, admin_headers: dict[str, str]) -> None:
    await _error(await client.get("/stb/v1/admin/devices"), 401, "admin_unauthorized")
    await _error(await client.get("/stb/v1/admin/devices", headers={"Authorization": "Bearer nope"}), 401,
                 "admin_unauthorized")
    # A device token is not an admin token.
    await _error(await client.get("/stb/v1/admin/devices", headers=box.auth), 401, "admin_unauthorized")
    resp = await client.post("/stb/v1/admin/devices", json={"stbid": box.stbid, "mac": "001122334455"},
                             headers=admin_headers)
    await _error(resp, 409, "device_exists")
    for body, code in (({"stbid": "x", "mac": "001122334455"}, "invalid_stbid"),
                       ({"stbid": "STB' OR 1=1 --", "mac": "001122334455"}, "invalid_stbid"),
                       ({"stbid": "STB0002", "mac": "zz:11"}, "invalid_mac"),
                       ({"stbid": "STB0002", "mac": "001122334455", "ca_serial": "!"}, "invalid_ca_serial"),
                       ({"stbid": "STB0002", "mac": "001122334455", "town_code": "a b"}, "invalid_town_code"),
                       ({"stbid": "STB0002", "mac": "001122334455", "root": True}, "invalid_field")):
        await _error(await client.post("/stb/v1/admin/devices", json=body, headers=admin_headers), 422, code)
    await _error(await client.delete("/stb/v1/admin/devices/NOSUCHBOX", headers=admin_headers), 404,
                 "device_not_found")


@pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)
async def test_admin_disabled_without_token(aiohttp_client: Any, stb_settings: Any, stb_store: Any) -> None:
    import dataclasses

    from stb_api.app import create_app

    settings = stb_settings.replace(security=dataclasses.replace(stb_settings.security, admin_token=""))
    client = await aiohttp_client(create_app(settings, stb_store))
    await _error(await client.get("/stb/v1/admin/devices", headers={"Authorization": "Bearer "}), 403,
                 "admin_disabled")


@SQLITE_ONLY
async def test_unknown_box_is_refused(client: Any) -> None:
    await _error(await sign_in(client, "NOSUCHBOX", "whatever"), 401, "unknown_device")
    await _error(await sign_in(client, "' OR 1=1 --", "whatever"), 401, "unknown_device")


async def test_bad_signature(client: Any, box: Box) -> None:
    await _error(await sign_in(client, box.stbid, box.secret + "x"), 401, "bad_signature")
    # A signature over another path or method does not count.
    headers = signed_headers(box.stbid, box.secret, path="/stb/v1/home")
    await _error(await client.post(TOKEN_PATH, headers=headers), 401, "bad_signature")
    # The body is covered by the signature.
    headers = signed_headers(box.stbid, box.secret, body=b"{}")
    await _error(await client.post(TOKEN_PATH, headers=headers, data=b'{"a":1}'), 401, "bad_signature")
    assert (await client.post(TOKEN_PATH, headers=signed_headers(box.stbid, box.secret, body=b"{}"),
                              data=b"{}")).status == 200


@SQLITE_ONLY
async def test_malformed_signature_headers(client: Any, box: Box) -> None:
    good = signed_headers(box.stbid, box.secret)
    await _error(await client.post(TOKEN_PATH), 401, "signature_missing")
    await _error(await client.post(TOKEN_PATH, headers={**good, "X-STB-Timestamp": "soon"}), 400, "bad_timestamp")
    await _error(await client.post(TOKEN_PATH, headers={**good, "X-STB-Nonce": "short"}), 400, "bad_nonce")
    await _error(await client.post(TOKEN_PATH, headers={**good, "X-STB-Signature": "ABC"}), 400,
                 "bad_signature_format")


async def test_replayed_nonce_is_refused(client: Any, box: Box) -> None:
    headers = signed_headers(box.stbid, box.secret, nonce="n0nce-0123456789abcdef")
    assert (await client.post(TOKEN_PATH, headers=headers)).status == 200
    await _error(await client.post(TOKEN_PATH, headers=headers), 401, "replayed_nonce")


@SQLITE_ONLY
async def test_unsigned_nonce_is_not_burnt(client: Any, box: Box) -> None:
    nonce = "attacker-guess-0123456789"
    bad = signed_headers(box.stbid, "wrong", nonce=nonce)
    await _error(await client.post(TOKEN_PATH, headers=bad), 401, "bad_signature")
    assert (await client.post(TOKEN_PATH, headers=signed_headers(box.stbid, box.secret, nonce=nonce))).status == 200


@pytest.mark.parametrize("offset_s", [-301, 301, 10_000_000])
@SQLITE_ONLY
async def test_skewed_clock_is_refused(client: Any, box: Box, offset_s: int) -> None:
    headers = signed_headers(box.stbid, box.secret, timestamp=int(time.time()) + offset_s)
    error = await _error(await client.post(TOKEN_PATH, headers=headers), 401, "clock_skew")
    assert abs(error["server_time"] - time.time()) < 5


@SQLITE_ONLY
async def test_clock_within_skew_is_accepted(client: Any, box: Box) -> None:
    headers = signed_headers(box.stbid, box.secret, timestamp=int(time.time()) - 250)
    assert (await client.post(TOKEN_PATH, headers=headers)).status == 200


@SQLITE_ONLY
async def test_token_checks(client: Any, box: Box) -> None:
    await _error(await client.get("/stb/v1/home"), 401, "token_missing")
    await _error(await client.get("/stb/v1/home", headers={"Authorization": "Basic abc"}), 401, "token_missing")
    await _error(await client.get("/stb/v1/home", headers={"Authorization": "Bearer ' OR 1=1 --"}), 401,
                 "token_invalid")
    device_id, expires, mac = box.token.split(".")
    forged = f"{device_id}.{int(expires) + 3600}.{mac}"
    await _error(await client.get("/stb/v1/home", headers={"Authorization": f"Bearer {forged}"}), 401,
                 "token_invalid")
    other = f"{int(device_id) + 1}.{expires}.{mac}"
    await _error(await client.get("/stb/v1/home", headers={"Authorization": f"Bearer {other}"}), 401,
                 "token_invalid")


@SQLITE_ONLY
async def test_expired_token(client: Any, box: Box) -> None:
    from stb_api.keys import AUTH

    auth = client.app[AUTH]
    device = await auth.check_token(box.token)
    stale = auth._token(device, int(time.time()) - 1)  # noqa: SLF001  (mint an expired token to test expiry)
    await _error(await client.get("/stb/v1/home", headers={"Authorization": f"Bearer {stale}"}), 401,
                 "token_expired")


def test_signature_reference_vector() -> None:
    """Pins the canonical request so firmware writers can check their implementation."""
    sig = sign("secret", "POST", TOKEN_PATH, "1700000000", "abcdefghijklmnop", b"")
    assert sig == sign("secret", "post", TOKEN_PATH, "1700000000", "abcdefghijklmnop", b"")
    import hashlib
    import hmac

    canonical = (f"POST\n{TOKEN_PATH}\n1700000000\nabcdefghijklmnop\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").encode()
    assert sig == hmac.new(b"secret", canonical, hashlib.sha256).hexdigest()


@SQLITE_ONLY
async def test_redis_nonces_shared_by_two_processes(aiohttp_client: Any, stb_settings: Any, stb_store: Any) -> None:
    """Two app instances (as two serving processes) with ``stb.nonce_store: redis`` refuse each other's replays."""
    import dataclasses

    redis_asyncio = pytest.importorskip("redis.asyncio")
    probe = redis_asyncio.from_url(stb_settings.stb.redis_url)
    try:
        await probe.ping()
    except OSError as exc:
        pytest.skip(f"Redis at {stb_settings.stb.redis_url} is not reachable: {exc}")
    finally:
        await probe.aclose()
    from stb_api.app import create_app

    settings = stb_settings.replace(stb=dataclasses.replace(stb_settings.stb, nonce_store="redis"))
    first = await aiohttp_client(create_app(settings, stb_store))
    second = await aiohttp_client(create_app(settings, stb_store))
    box = await register_box(first, "STBREDIS1", "001122334455")
    headers = signed_headers(box.stbid, box.secret)
    assert (await first.post(TOKEN_PATH, headers=headers)).status == 200
    await _error(await second.post(TOKEN_PATH, headers=headers), 401, "replayed_nonce")
