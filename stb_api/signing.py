"""How a box signs its sign-in request; shared by the server (verification), the tests, the bench and the
reference for firmware writers.

The box sends ``POST /stb/v1/auth/token`` with these headers::

    X-STB-ID:        its STBID
    X-STB-Timestamp: Unix time in seconds (decimal)
    X-STB-Nonce:     16-64 characters [A-Za-z0-9_-], never reused
    X-STB-Signature: lower-case hex HMAC-SHA256(device_secret, canonical)

where ``canonical`` is the five lines ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))`` (PATH without
the query string; an empty body hashes as e3b0c442...). The device secret is the string shown at registration,
used as UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

__all__ = ["canonical_request", "sign", "signed_headers"]

TOKEN_PATH = "/stb/v1/auth/token"


def canonical_request(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join((method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest())).encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), canonical_request(method, path, timestamp, nonce, body),
                    hashlib.sha256).hexdigest()


def signed_headers(stbid: str, secret: str, *, body: bytes = b"", method: str = "POST", path: str = TOKEN_PATH,
                   timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """Headers for a signed request (what a box's firmware computes)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    return {"X-STB-ID": stbid, "X-STB-Timestamp": ts, "X-STB-Nonce": nonce,
            "X-STB-Signature": sign(secret, method, path, ts, nonce, body)}
