"""How many calls one pjsua2 process can really hold, read from the running library.

The ``pjsua2-python`` wheel is compiled with ``PJSUA_MAX_CALLS = 4``. ``pjsua_init`` silently clamps
``ua_cfg.max_calls`` to that value, and pjsua2's ``EpConfig.uaConfig.maxCalls`` still reads what the
application asked for, so the Python API cannot tell. The C library exports ``pjsua_call_get_max_count()``,
which returns the clamped ``pjsua_var.ua_cfg.max_calls``; after ``libInit`` we read it through ctypes from the
very shared object Python has loaded (same process, same ``pjsua_var``). Measured with the 2.15.1 wheel:
asking for 64 gives 4, asking for 2 gives 2. The worker tests confirm it with real calls (the next INVITE
after the cap is refused).

The worker answers at most ``answer_capacity()`` calls. One pjsua call slot is kept free so that an INVITE
arriving while the worker is full still reaches Python and is refused with 503 + Retry-After (a 486 from
pjsua's own limiter would not make a dispatcher fail over); the free slot also carries a bridged transfer's
outgoing leg.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

__all__ = [
    "CapacityError",
    "answer_capacity",
    "library_call_cap",
]

log = logging.getLogger(__name__)

#: Slots kept free for refusing calls with 503 (see the module docstring).
RESERVED_SLOTS = 1


class CapacityError(RuntimeError):
    """The library's call cap could not be read."""


def _library_path() -> Path:
    import pjsua2  # noqa: PLC0415 - imported lazily: only a worker process loads pjsua2

    folder = Path(pjsua2.__file__).resolve().parent
    candidates = sorted(folder.glob("_pjsua2*.so"))
    if not candidates:
        raise CapacityError(f"no _pjsua2 shared object in {folder}")
    return candidates[0]


def library_call_cap() -> int:
    """The clamped ``max_calls`` of the initialised pjsua library (call after ``Endpoint.libInit``)."""
    path = _library_path()
    try:
        lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        func = lib.pjsua_call_get_max_count
    except (OSError, AttributeError) as exc:
        raise CapacityError(f"cannot read pjsua_call_get_max_count from {path}: {exc}") from exc
    func.restype = ctypes.c_uint
    func.argtypes = []
    cap = int(func())
    if cap <= 0:
        raise CapacityError(f"pjsua reports a call cap of {cap}; is the library initialised?")
    return cap


def answer_capacity(library_cap: int, max_calls_per_worker: int) -> int:
    """Calls a worker answers at once: the library cap minus the reserved slot, lowered by the setting
    ``sip.max_calls_per_worker`` (0 = no extra limit). Always at least 1."""
    capacity = max(1, library_cap - RESERVED_SLOTS)
    if max_calls_per_worker > 0:
        capacity = min(capacity, max_calls_per_worker)
    return capacity
