"""Small SIP helpers for the call worker: header lookup in a raw request, the user part of a URI, the
caller ID policy (P-Asserted-Identity only from trusted trunks) and phone-number masking for logs.

pjsua2 hands an incoming INVITE to Python as text (``SipRxData.wholeMsg``) plus the source address; these
helpers read what the worker needs from it without a full SIP parser.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence

from ivr.channel import CallerId
from tickets.config import Trunk
from tickets.numbers import mask_phone

__all__ = [
    "SipHeaders",
    "caller_id",
    "mask_number",
    "parse_source_host",
    "uri_user",
]

# RFC 3261 compact header forms the worker may meet.
_COMPACT = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "v": "via", "l": "content-length",
            "c": "content-type"}
_URI_RE = re.compile(r"<?\s*(?:sips?|tel):([^@;>\s]*)", re.IGNORECASE)
_NUMBER_RE = re.compile(r"^\+?[0-9*#]{1,32}$")


@dataclasses.dataclass(frozen=True, slots=True)
class SipHeaders:
    """The header section of one SIP message: name (lower case, long form) -> values in order."""

    start_line: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> SipHeaders:
        head = text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
        lines = head.replace("\r\n", "\n").split("\n")
        if not lines or not lines[0].strip():
            raise ValueError("empty SIP message")
        unfolded: list[str] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and unfolded:
                unfolded[-1] += " " + line.strip()
            elif line.strip():
                unfolded.append(line)
        pairs: list[tuple[str, str]] = []
        for line in unfolded:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"SIP header line without a colon: {line[:40]!r}")
            key = name.strip().lower()
            pairs.append((_COMPACT.get(key, key), value.strip()))
        return cls(start_line=lines[0].strip(), headers=tuple(pairs))

    def get(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def __bytes__(self) -> bytes:
        lines = [self.start_line, *(f"{k}: {v}" for k, v in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def uri_user(value: str | None) -> str | None:
    """The user part of the first SIP/tel URI in a header value, or None."""
    if not value:
        return None
    match = _URI_RE.search(value)
    if not match or not match.group(1):
        return None
    user = match.group(1).split(";", 1)[0]
    return user or None


def parse_source_host(src_address: str) -> str:
    """The host of pjsua2's ``srcAddress`` (``1.2.3.4:5060`` or ``[::1]:5060``)."""
    if src_address.startswith("["):
        return src_address[1:].split("]", 1)[0]
    return src_address.rsplit(":", 1)[0] if src_address.count(":") == 1 else src_address


def caller_id(message: str, src_address: str, trunks: Sequence[Trunk], *,
              front_door_hosts: Sequence[str] = ()) -> CallerId:
    """P-Asserted-Identity when the INVITE came from a trunk that asserts identities, else the From user
    (untrusted). A number that is not all digits is reported as None.

    Behind Kamailio (``front_door_hosts`` names its addresses) the packet's source is the front door, which has
    already removed P-Asserted-Identity from every source that is not a trunk trusted for identity: an INVITE
    from the front door is trusted when it carries the header; one from anywhere else never is."""
    try:
        headers = SipHeaders.parse(message)
    except ValueError:
        return CallerId(number=None, trusted=False)
    host = parse_source_host(src_address)
    trusted_source = False
    try:
        address = ipaddress.ip_address(host)
        if front_door_hosts:
            trusted_source = any(address == ipaddress.ip_address(h) for h in front_door_hosts)
        else:
            trusted_source = any(
                t.trusts_identity and address in ipaddress.ip_network(t.network, strict=False) for t in trunks
            )
    except ValueError:
        trusted_source = False
    if trusted_source:
        asserted = uri_user(headers.get("p-asserted-identity"))
        if asserted and _NUMBER_RE.match(asserted):
            return CallerId(number=asserted, trusted=True)
    user = uri_user(headers.get("from"))
    return CallerId(number=user if user and _NUMBER_RE.match(user) else None, trusted=False)


def mask_number(number: str | None) -> str:
    """A number as logs may show it (138****5678), or ``anonymous``."""
    return mask_phone(number) or "anonymous"
