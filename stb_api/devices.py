"""Registered set-top boxes: registration, listing, revocation and the per-device secret.

Choice of secret handling: the secret is *derived*, ``HMAC-SHA256(secret_key, "stb-device|<stbid>|<salt>")``,
shown once at registration and never stored. Verifying a signature needs the secret, so the server recomputes
it from ``settings.security.secret_key`` and the row's random salt. Compared with storing it encrypted, nothing
secret sits in the database, there is no encryption key to manage beside ``secret_key``, and re-registering a
box (a new salt) issues a new secret. The cost: rotating ``secret_key`` re-keys every box (documented).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stb_api.errors import DeviceError
from stb_api.models import StbDevice

__all__ = ["DeviceRegistry", "DeviceView", "NewDevice", "derive_secret", "parse_new_device"]

log = logging.getLogger(__name__)

_STBID_RE = re.compile(r"[0-9A-Za-z_-]{4,64}")
_MAC_RE = re.compile(r"([0-9A-Fa-f]{2})[:-]?" * 5 + r"([0-9A-Fa-f]{2})")
_CA_RE = re.compile(r"[0-9A-Za-z]{4,32}")
_TOWN_RE = re.compile(r"[0-9A-Za-z_-]{1,32}")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def derive_secret(secret_key: str, stbid: str, salt: str) -> str:
    """The device's signing secret (URL-safe base64 of 32 bytes, no padding)."""
    mac = hmac.new(secret_key.encode(), f"stb-device|{stbid}|{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclasses.dataclass(frozen=True, slots=True)
class NewDevice:
    stbid: str
    mac: str
    ca_serial: str | None = None
    town_code: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceView:
    id: int
    stbid: str
    mac: str
    ca_serial: str | None
    town_code: str | None
    salt: str
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def public(self) -> dict[str, object]:
        """The JSON an admin sees (no salt)."""
        return {"stbid": self.stbid, "mac": self.mac, "ca_serial": self.ca_serial, "town_code": self.town_code,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def _view(row: StbDevice) -> DeviceView:
    return DeviceView(id=row.id, stbid=row.stbid, mac=row.mac, ca_serial=row.ca_serial, town_code=row.town_code,
                      salt=row.salt, created_at=row.created_at, created_by=row.created_by, revoked_at=row.revoked_at)


def parse_new_device(stbid: object, mac: object, ca_serial: object = None, town_code: object = None) -> NewDevice:
    """Validate and normalise a registration; DeviceError names the field."""
    if not isinstance(stbid, str) or not _STBID_RE.fullmatch(stbid):
        raise DeviceError("invalid_stbid", "stbid: expected 4-64 letters, digits, '_' or '-'")
    if not isinstance(mac, str) or not (m := _MAC_RE.fullmatch(mac.strip())):
        raise DeviceError("invalid_mac", "mac: expected 6 hex byte pairs like 00:1A:2B:3C:4D:5E")
    norm_mac = ":".join(g.upper() for g in m.groups())
    if ca_serial is not None and (not isinstance(ca_serial, str) or not _CA_RE.fullmatch(ca_serial)):
        raise DeviceError("invalid_ca_serial", "ca_serial: expected 4-32 letters or digits")
    if town_code is not None and (not isinstance(town_code, str) or not _TOWN_RE.fullmatch(town_code)):
        raise DeviceError("invalid_town_code", "town_code: expected 1-32 letters, digits, '_' or '-'")
    return NewDevice(stbid=stbid, mac=norm_mac, ca_serial=ca_serial, town_code=town_code)


class DeviceRegistry:
    """Boxes in the shared store; ``secret_key`` is settings.security.secret_key."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], secret_key: str, *,
                 clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self._sessions = sessions
        self._secret_key = secret_key
        self._clock = clock

    @property
    def configured(self) -> bool:
        return bool(self._secret_key)

    def secret_of(self, device: DeviceView) -> str:
        if not self._secret_key:
            raise DeviceError("no_secret_key", "security.secret_key is empty: set it (or HOTLINE_SECRET_KEY) "
                                               "before registering set-top boxes")
        return derive_secret(self._secret_key, device.stbid, device.salt)

    async def register(self, new: NewDevice, *, by: str) -> tuple[DeviceView, str]:
        """Add a box (or re-register a revoked one with a new secret); returns it and its secret, shown once."""
        self.secret_of(DeviceView(0, new.stbid, new.mac, None, None, "", self._clock(), by, None))  # key set?
        now = self._clock()
        salt = secrets.token_hex(16)
        async with self._sessions.begin() as session:
            row = (await session.execute(select(StbDevice).where(StbDevice.stbid == new.stbid))).scalar_one_or_none()
            if row is not None and row.revoked_at is None:
                raise DeviceError("device_exists", f"stbid {new.stbid} is already registered; revoke it first")
            if row is None:
                row = StbDevice(stbid=new.stbid)
                session.add(row)
            row.mac, row.ca_serial, row.town_code = new.mac, new.ca_serial, new.town_code
            row.salt, row.created_at, row.created_by, row.revoked_at = salt, now, by, None
            await session.flush()
            view = _view(row)
        log.info("stb %s registered by %s", view.stbid, by)
        return view, self.secret_of(view)

    async def revoke(self, stbid: str, *, by: str) -> DeviceView:
        async with self._sessions.begin() as session:
            row = (await session.execute(select(StbDevice).where(StbDevice.stbid == stbid))).scalar_one_or_none()
            if row is None:
                raise DeviceError("device_not_found", f"no set-top box with stbid {stbid}")
            if row.revoked_at is None:
                row.revoked_at = self._clock()
            view = _view(row)
        log.info("stb %s revoked by %s", stbid, by)
        return view

    async def get(self, stbid: str) -> DeviceView | None:
        async with self._sessions() as session:
            row = (await session.execute(select(StbDevice).where(StbDevice.stbid == stbid))).scalar_one_or_none()
            return None if row is None else _view(row)

    async def get_by_id(self, device_id: int) -> DeviceView | None:
        async with self._sessions() as session:
            row = await session.get(StbDevice, device_id)
            return None if row is None else _view(row)

    async def list(self, *, include_revoked: bool = True) -> list[DeviceView]:
        stmt = select(StbDevice).order_by(StbDevice.id)
        if not include_revoked:
            stmt = stmt.where(StbDevice.revoked_at.is_(None))
        async with self._sessions() as session:
            return [_view(r) for r in (await session.execute(stmt)).scalars()]
