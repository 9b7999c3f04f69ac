"""The set-top-box table on the shared :class:`tickets.db.Base`.

No device secret is stored: a box's secret is ``HMAC-SHA256(secret_key, "stb-device|<stbid>|<salt>")`` (see
:mod:`stb_api.devices`); the row keeps only the random ``salt``, so a copy of the database alone cannot sign
requests, and re-registering a box (new salt) gives it a new secret and voids its old tokens.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, UtcDateTime

__all__ = ["StbDevice"]


class StbDevice(Base):
    __tablename__ = "stb_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stbid: Mapped[str] = mapped_column(String(64), unique=True)
    mac: Mapped[str] = mapped_column(String(17), index=True)
    ca_serial: Mapped[str | None] = mapped_column(String(32))
    town_code: Mapped[str | None] = mapped_column(String(32))
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
