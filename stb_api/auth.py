"""Sign-in of a box (a signed request exchanged for a short-lived bearer token) and token checks.

A token is ``<device id>.<expiry unix s>.<mac>`` where ``mac`` is HMAC-SHA256 under a key derived from
``security.secret_key`` over the device id, its registration salt and the expiry. Tokens need no storage;
revoking or re-registering a box voids them (the device row is re-read at most every ``stb.device_cache_s``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable

from stb_api.devices import DeviceRegistry, DeviceView
from stb_api.errors import ApiError
from stb_api.nonces import NonceStore
from stb_api.signing import sign
from tickets.config import StbSettings

__all__ = ["Authenticator", "SignIn"]

log = logging.getLogger(__name__)

_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SIG_RE = re.compile(r"[0-9a-f]{64}")
_TS_RE = re.compile(r"\d{1,12}")
_TOKEN_RE = re.compile(r"(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{43})")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclasses.dataclass(frozen=True, slots=True)
class SignIn:
    token: str
    expires_at: int
    device: DeviceView


class Authenticator:
    def __init__(self, registry: DeviceRegistry, secret_key: str, settings: StbSettings, nonces: NonceStore, *,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._registry = registry
        self._token_key = hmac.new(secret_key.encode(), b"stb-token-key", hashlib.sha256).digest()
        self._settings = settings
        self._nonces = nonces
        self._clock = clock
        self._monotonic = monotonic
        self._by_id: dict[int, tuple[DeviceView | None, float]] = {}
        self._loading: dict[int, asyncio.Future[DeviceView | None]] = {}
        # Tokens whose MAC was checked: token -> (device id, expiry, the registration salt it was made with).
        self._verified: dict[str, tuple[int, int, str]] = {}

    # ----------------------------------------------------------------- device cache
    def remember(self, device: DeviceView) -> None:
        """Put a freshly read device in the cache (sign-in, admin changes)."""
        self._by_id[device.id] = (device, self._monotonic() + self._settings.device_cache_s)

    async def _device(self, device_id: int) -> DeviceView | None:
        """The cached device row; re-read when older than ``device_cache_s``, once at a time per device (the
        requests arriving during a re-read use the row they have)."""
        cached = self._by_id.get(device_id)
        if cached is not None and cached[1] > self._monotonic():
            return cached[0]
        running = self._loading.get(device_id)
        if running is not None:
            return cached[0] if cached is not None else await asyncio.shield(running)
        if len(self._by_id) > 100_000:
            self._by_id.clear()
        task = asyncio.ensure_future(self._load(device_id))
        self._loading[device_id] = task
        task.add_done_callback(lambda _t: self._loading.pop(device_id, None))
        return await asyncio.shield(task)

    async def _load(self, device_id: int) -> DeviceView | None:
        device = await self._registry.get_by_id(device_id)
        self._by_id[device_id] = (device, self._monotonic() + self._settings.device_cache_s)
        return device

    # ----------------------------------------------------------------- sign-in
    def _require_key(self) -> None:
        if not self._registry.configured:
            raise ApiError(503, "not_configured", "the server has no security.secret_key; boxes cannot sign in")

    async def sign_in(self, method: str, path: str, headers: dict[str, str], body: bytes) -> SignIn:
        self._require_key()
        stbid = headers.get("X-STB-ID", "")
        ts = headers.get("X-STB-Timestamp", "")
        nonce = headers.get("X-STB-Nonce", "")
        signature = headers.get("X-STB-Signature", "")
        if not (stbid and ts and nonce and signature):
            raise ApiError(401, "signature_missing", "X-STB-ID, X-STB-Timestamp, X-STB-Nonce and X-STB-Signature "
                                                     "are required")
        if not _TS_RE.fullmatch(ts):
            raise ApiError(400, "bad_timestamp", "X-STB-Timestamp: expected Unix time in seconds")
        if not _NONCE_RE.fullmatch(nonce):
            raise ApiError(400, "bad_nonce", "X-STB-Nonce: expected 16-64 characters A-Z a-z 0-9 _ -")
        if not _SIG_RE.fullmatch(signature):
            raise ApiError(400, "bad_signature_format", "X-STB-Signature: expected 64 lower-case hex digits")
        now = self._clock()
        skew = int(ts) - now
        if abs(skew) > self._settings.clock_skew_s:
            raise ApiError(401, "clock_skew", f"timestamp is {skew:+.0f} s from the server's clock (allowed "
                                              f"{self._settings.clock_skew_s} s)", extra={"server_time": int(now)})
        device = await self._registry.get(stbid) if len(stbid) <= 64 else None
        if device is None:
            log.warning("sign-in refused: unknown stb %r", stbid[:64])
            raise ApiError(401, "unknown_device", "this set-top box is not registered")
        if device.revoked:
            log.warning("sign-in refused: revoked stb %s", stbid)
            raise ApiError(403, "device_revoked", "this set-top box has been revoked")
        expected = sign(self._registry.secret_of(device), method, path, ts, nonce, body)
        if not hmac.compare_digest(expected, signature):
            log.warning("sign-in refused: bad signature from stb %s", stbid)
            raise ApiError(401, "bad_signature", "the signature does not match")
        # Only a correctly signed nonce is remembered, so nobody can burn a box's nonces for it.
        if not await self._nonces.add(f"{device.id}:{nonce}", self._settings.nonce_ttl_s):
            log.warning("sign-in refused: replayed nonce from stb %s", stbid)
            raise ApiError(401, "replayed_nonce", "this nonce was already used")
        self.remember(device)
        expires = int(now) + self._settings.token_ttl_s
        return SignIn(token=self._token(device, expires), expires_at=expires, device=device)

    def _token(self, device: DeviceView, expires: int) -> str:
        mac = hmac.digest(self._token_key, f"{device.id}.{device.salt}.{expires}".encode(), "sha256")
        return f"{device.id}.{expires}.{_b64(mac)}"

    # ----------------------------------------------------------------- token check
    async def check_token(self, token: str) -> DeviceView:
        self._require_key()
        verified = self._verified.get(token)
        if verified is None:
            m = _TOKEN_RE.fullmatch(token)
            if m is None:
                raise ApiError(401, "token_invalid", "the bearer token is malformed")
            device_id, expires = int(m.group(1)), int(m.group(2))
        else:
            device_id, expires, salt = verified
        device = await self._device(device_id)
        if device is None:
            raise ApiError(401, "token_invalid", "the bearer token is not valid")
        if verified is None or salt != device.salt:
            if not hmac.compare_digest(self._token(device, expires), token):
                raise ApiError(401, "token_invalid", "the bearer token is not valid")
            if len(self._verified) >= 50_000:
                self._verified.clear()
            self._verified[token] = (device_id, expires, device.salt)
        if expires <= self._clock():
            self._verified.pop(token, None)
            raise ApiError(401, "token_expired", "the bearer token has expired; sign in again")
        if device.revoked:
            raise ApiError(403, "device_revoked", "this set-top box has been revoked")
        return device
