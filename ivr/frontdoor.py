"""The SIP front door: Kamailio in front of the pjsua2 call workers.

Kamailio (Debian package ``kamailio``, 5.6) owns the public SIP address. This module writes its configuration from
:class:`~tickets.config.Settings` into ``settings.paths.run_dir`` (``kamailio.cfg``, ``dispatcher.list``,
``address.list``), checks it with ``kamailio -c``, and runs Kamailio in the foreground as a child process.

What the rendered configuration does, in order, for every request:

1. floods: ``pike`` drops requests from a source sending more than ``sip.kamailio.pike_requests_per_2s``
   (workers and trunks are exempt);
2. malformed messages: ``maxfwd`` (483) and ``sanity`` (400 and friends);
3. access: only ``sip.allowed_networks`` and trunk networks (``permissions`` address file, group 1) may send
   requests; others get 403. Workers (the dispatcher list) may only send in-dialog requests;
4. identity: P-Asserted-Identity (and P-Preferred-Identity, Remote-Party-ID) survive only from trunks with
   ``trusts_identity`` (group 2); Kamailio adds ``X-Hotline-Source: ip:port;transport=udp`` (the real source) and,
   for such a trunk, ``X-Hotline-Trunk: <trunk name>``. Both are removed first if a caller sent them;
5. new INVITEs are record-routed and spread round-robin over the workers with ``dispatcher``; a worker answering
   486/503 or not answering at all (no provisional reply in 2 s) makes Kamailio try the next one
   (``failure_route`` + ``ds_next_dst``); when none has room the caller gets 503 with ``Retry-After``;
6. in-dialog requests follow the Record-Route (``loose_route``) so a BYE reaches the worker that has the call;
   a caller's SIP INFO must carry a key (``application/dtmf-relay``, ``Signal=<0-9*#A-D>``): 415 for another
   body type, 413 above 256 bytes, 400 without a key; a key goes on in a canonical body of Kamailio's own
   (pjsua 2.15 aborts the worker on a body that ends right after the key, without CRLF). A caller's REFER gets
   403 (the hotline never dials where a caller says: toll fraud), and so does an INVITE with Replaces or Join;
   an OPTIONS inside a call (a keep-alive) gets 200 and SUBSCRIBE, PUBLISH or MESSAGE 405 from Kamailio itself.

Workers are health-checked with OPTIONS every ``sip.kamailio.options_interval_s`` seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import ipaddress
import logging
import os
import re
import secrets
import signal
from collections.abc import Sequence
from pathlib import Path

from tickets.config import Settings

__all__ = [
    "IDENTITY_HEADERS",
    "SOURCE_HEADER",
    "TRUNK_HEADER",
    "ChildProcess",
    "FrontDoorError",
    "KamailioFiles",
    "ProcessState",
    "SipStatusLine",
    "WorkerAddress",
    "check_kamailio_config",
    "kamailio_argv",
    "kamailio_wanted",
    "probe_sip",
    "render_address_list",
    "render_dispatcher_list",
    "render_kamailio_cfg",
    "write_kamailio_config",
]

LOG = logging.getLogger(__name__)

SOURCE_HEADER = "X-Hotline-Source"
"""Added by Kamailio to every INVITE it sends a worker: ``ip:port;transport=udp|tcp|tls`` of the real caller."""
TRUNK_HEADER = "X-Hotline-Trunk"
"""Added by Kamailio when the caller is a trunk trusted for identity: the trunk's name from ``sip.trunks``."""
IDENTITY_HEADERS = ("P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID")
"""Headers Kamailio removes unless the request comes from a trunk trusted for identity."""

TLS_PACKAGE_HINT = "install the Debian package kamailio-tls-modules for TLS"

# Permission groups in address.list.
_GROUP_ALLOWED = 1
_GROUP_TRUSTED_IDENTITY = 2
_GROUP_TRUNK = 3
_DISPATCHER_SET = 1
# Sanity checks: ruri version(1) + ruri scheme(2) + required headers(4) + cseq method(32) + cseq value(64)
# + content length(128) + expires(256) + proxy require(512) + parse uris(1024) + duplicated tags(4096)
# + first via(16384). Digest checks are left out: nobody authenticates here.
_SANITY_CHECKS = 22503
_NO_PROVISIONAL_TIMEOUT_MS = 2000
_RINGING_TIMEOUT_MS = 60000
_DRAIN_TIMEOUT_S = 5.0
# A child's output line is logged at the level it names (Kamailio: " 1(6801) WARNING: ...", Python: "... ERROR ...").
_LEVEL_RE = re.compile(r"\b(CRITICAL|ALERT|BUG|ERROR|WARNING|Traceback)\b")
_LEVELS = {"CRITICAL": logging.ERROR, "ALERT": logging.ERROR, "BUG": logging.ERROR, "ERROR": logging.ERROR,
           "WARNING": logging.WARNING, "Traceback": logging.ERROR}


class FrontDoorError(RuntimeError):
    """Kamailio cannot be configured or run; the message says why and what to install or change."""


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerAddress:
    """Where one call worker listens for SIP (Kamailio talks UDP to it unless the settings have no UDP)."""

    host: str
    port: int
    transport: str = "udp"

    @property
    def uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"sip:{host}:{self.port}{suffix}"


@dataclasses.dataclass(frozen=True, slots=True)
class KamailioFiles:
    """The files :func:`write_kamailio_config` wrote."""

    cfg: Path
    dispatcher_list: Path
    address_list: Path
    tls_cfg: Path | None = None


def _kamailio_str(value: str) -> str:
    """A value for a double-quoted Kamailio config string."""
    if any(c in value for c in '"\\\r\n'):
        raise FrontDoorError(f"value {value!r} cannot go into kamailio.cfg (quote, backslash or newline)")
    return value


def render_dispatcher_list(workers: Sequence[WorkerAddress]) -> str:
    """The dispatcher destination set: one line per worker, set 1, with a stable ``duid``."""
    lines = ["# Written by ivr.frontdoor: the call workers (setid destination flags priority attrs)."]
    for i, worker in enumerate(workers):
        lines.append(f"{_DISPATCHER_SET} {worker.uri} 0 0 duid=worker{i}")
    return "\n".join(lines) + "\n"


def render_address_list(settings: Settings) -> str:
    """The permissions address file: group 1 may call, group 2 is trusted for identity, group 3 are trunks."""
    sip = settings.sip
    lines = ["# Written by ivr.frontdoor: groupid address netmask port tag"]

    def add(group: int, network: str, tag: str | None = None) -> None:
        net = ipaddress.ip_network(network, strict=False)
        suffix = f" {tag}" if tag else ""
        lines.append(f"{group} {net.network_address} {net.prefixlen} 0{suffix}")

    for network in sip.allowed_networks:
        add(_GROUP_ALLOWED, network)
    for trunk in sip.trunks:
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", trunk.name) or "trunk"
        add(_GROUP_ALLOWED, trunk.network, tag)
        add(_GROUP_TRUNK, trunk.network, tag)
        if trunk.trusts_identity:
            add(_GROUP_TRUSTED_IDENTITY, trunk.network, tag)
    return "\n".join(lines) + "\n"


def _render_tls_cfg(settings: Settings) -> str:
    tls = settings.sip.tls
    if tls.cert_file is None or tls.key_file is None:
        raise FrontDoorError("sip.tls.enabled needs sip.tls.cert_file and sip.tls.key_file")
    return (
        "# Written by ivr.frontdoor.\n"
        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
        f"private_key = {tls.key_file}\ncertificate = {tls.cert_file}\n\n"
        "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
    )


_KAMAILIO_LOG_LEVEL = {"DEBUG": 3, "INFO": 1, "WARNING": 0, "ERROR": -1}

_CFG_TEMPLATE = Path(__file__).with_name("kamailio.cfg.tmpl")


def _listen_lines(settings: Settings) -> tuple[list[str], list[str]]:
    sip = settings.sip
    host = sip.host
    wildcard = host in ("0.0.0.0", "::")
    shown = f"[{host}]" if ":" in host else host
    listen: list[str] = []
    aliases = [f'alias="{_kamailio_str(sip.public_address)}:{sip.port}"']
    protos: list[tuple[str, int]] = [(proto, sip.port) for proto in sip.transports]
    if sip.tls.enabled:
        protos.append(("tls", sip.tls.port))
        aliases.append(f'alias="tls:{_kamailio_str(sip.public_address)}:{sip.tls.port}"')
    for proto, port in protos:
        line = f"listen={proto}:{shown}:{port}"
        if wildcard:
            line += f" advertise {sip.public_address}:{port}"
        listen.append(line)
    return listen, aliases


def render_kamailio_cfg(settings: Settings, files: KamailioFiles) -> str:
    """The Kamailio configuration for these settings, referring to the other files by absolute path."""
    sip = settings.sip
    if not sip.transports and not sip.tls.enabled:
        raise FrontDoorError("sip.transports: expected at least one of udp, tcp (or sip.tls.enabled)")
    listen, aliases = _listen_lines(settings)
    defines = []
    if sip.tls.enabled:
        defines.append("#!define WITH_TLS")
        defines.append("enable_tls=yes")
    remove_identity = "\n".join(f'\t\tremove_hf("{h}");' for h in IDENTITY_HEADERS)
    values = {
        "DEFINES": "\n".join(defines),
        "DEBUG": str(_KAMAILIO_LOG_LEVEL.get(settings.logging.level, 1)),
        "CHILDREN": str(max(2, min(8, os.cpu_count() or 2))),
        "DISABLE_TCP": "no" if ("tcp" in sip.transports or sip.tls.enabled) else "yes",
        "LISTEN": "\n".join(listen),
        "ALIASES": "\n".join(aliases),
        "TLS_CFG": str(files.tls_cfg or ""),
        "FR_TIMER_MS": str(_NO_PROVISIONAL_TIMEOUT_MS),
        "FR_INV_TIMER_MS": str(_RINGING_TIMEOUT_MS),
        "PIKE_REQS": str(sip.kamailio.pike_requests_per_2s),
        "ADDRESS_LIST": _kamailio_str(str(files.address_list)),
        "DISPATCHER_LIST": _kamailio_str(str(files.dispatcher_list)),
        "PUBLIC": _kamailio_str(sip.public_address),
        "PING_INTERVAL_S": str(max(1, sip.kamailio.options_interval_s)),
        "GROUP_ALLOWED": str(_GROUP_ALLOWED),
        "GROUP_TRUSTED_IDENTITY": str(_GROUP_TRUSTED_IDENTITY),
        "GROUP_TRUNK": str(_GROUP_TRUNK),
        "SANITY_CHECKS": str(_SANITY_CHECKS),
        "SOURCE_HEADER": SOURCE_HEADER,
        "TRUNK_HEADER": TRUNK_HEADER,
        "REMOVE_IDENTITY": remove_identity,
        "DISPATCHER_SET": str(_DISPATCHER_SET),
        "RETRY_AFTER_S": str(sip.retry_after_s),
    }

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"@@([A-Z_]+)@@", substitute, _CFG_TEMPLATE.read_text(encoding="utf-8"))


def write_kamailio_config(settings: Settings, workers: Sequence[WorkerAddress]) -> KamailioFiles:
    """Write kamailio.cfg, dispatcher.list, address.list (and tls.cfg) into ``settings.paths.run_dir``."""
    if not workers:
        raise FrontDoorError("Kamailio needs at least one worker to dispatch to")
    run_dir = Path(settings.paths.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    files = KamailioFiles(
        cfg=run_dir / "kamailio.cfg",
        dispatcher_list=run_dir / "dispatcher.list",
        address_list=run_dir / "address.list",
        tls_cfg=run_dir / "tls.cfg" if settings.sip.tls.enabled else None,
    )
    contents = {
        files.dispatcher_list: render_dispatcher_list(workers),
        files.address_list: render_address_list(settings),
        files.cfg: render_kamailio_cfg(settings, files),
    }
    if files.tls_cfg is not None:
        contents[files.tls_cfg] = _render_tls_cfg(settings)
    for path, text in contents.items():
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    LOG.info("wrote Kamailio configuration %s for %d workers", files.cfg, len(workers))
    return files


def kamailio_wanted(settings: Settings) -> bool:
    """Whether to run Kamailio: ``yes`` (and it must exist), ``no``, or ``auto`` (when the binary exists)."""
    mode = settings.sip.kamailio.enabled
    binary = settings.sip.kamailio.binary
    exists = binary.is_file() and os.access(binary, os.X_OK)
    if mode == "no":
        return False
    if mode == "yes" and not exists:
        raise FrontDoorError(f"sip.kamailio.enabled is yes but {binary} does not exist: install the Debian "
                             "package kamailio or set sip.kamailio.binary")
    return exists


def kamailio_argv(settings: Settings, files: KamailioFiles, *, check_only: bool = False) -> list[str]:
    """The command line that runs Kamailio in the foreground, logging to stderr."""
    kam = settings.sip.kamailio
    argv = [str(kam.binary), "-f", str(files.cfg), "-m", str(kam.shm_mb), "-M", str(kam.pkg_mb),
            "-Y", str(files.cfg.parent), "-w", str(files.cfg.parent)]
    return argv + (["-c"] if check_only else ["-DD", "-E"])


async def check_kamailio_config(settings: Settings, files: KamailioFiles) -> str:
    """Run ``kamailio -c`` on the written configuration; raise :class:`FrontDoorError` with its output if bad."""
    proc = await asyncio.create_subprocess_exec(
        *kamailio_argv(settings, files, check_only=True),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )
    out, _ = await proc.communicate()
    text = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        hint = f" ({TLS_PACKAGE_HINT})" if "tls" in text and settings.sip.tls.enabled else ""
        raise FrontDoorError(f"kamailio -c rejected {files.cfg}{hint}:\n{text.strip()}")
    return text


@dataclasses.dataclass(frozen=True, slots=True)
class SipStatusLine:
    """The first line of a SIP response: ``SIP/2.0 200 OK``."""

    code: int
    reason: str

    @classmethod
    def parse(cls, data: bytes) -> SipStatusLine:
        line = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] != "SIP/2.0" or not parts[1].isdigit() or len(parts[1]) != 3:
            raise ValueError(f"not a SIP status line: {line[:80]!r}")
        return cls(int(parts[1]), parts[2] if len(parts) > 2 else "")

    def __bytes__(self) -> bytes:
        return f"SIP/2.0 {self.code} {self.reason}".encode()


def _options_request(host: str, port: int, local: tuple[str, int]) -> bytes:
    tag, branch, call_id = secrets.token_hex(6), secrets.token_hex(8), secrets.token_hex(12)
    target = f"[{host}]" if ":" in host else host
    lhost = f"[{local[0]}]" if ":" in local[0] else local[0]
    return (
        f"OPTIONS sip:{target}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {lhost}:{local[1]};branch=z9hG4bK{branch};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:probe@{lhost}>;tag={tag}\r\nTo: <sip:{target}:{port}>\r\n"
        f"Call-ID: {call_id}@{lhost}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


class _ProbeProtocol(asyncio.DatagramProtocol):
    def __init__(self, answer: asyncio.Future[SipStatusLine]) -> None:
        self._answer = answer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            status = SipStatusLine.parse(data)
        except ValueError:
            LOG.debug("probe: ignored a non-response from %s", addr)
            return
        if not self._answer.done():
            self._answer.set_result(status)

    def error_received(self, exc: Exception) -> None:
        LOG.debug("probe: %s", exc)


async def probe_sip(host: str, port: int, timeout_s: float = 0.5) -> SipStatusLine | None:
    """Send one OPTIONS over UDP and return the response's status line, or None when nothing answered."""
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[SipStatusLine] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(lambda: _ProbeProtocol(answer), remote_addr=(host, port))
    try:
        local = transport.get_extra_info("sockname")[:2]
        transport.sendto(_options_request(host, port, local))
        return await asyncio.wait_for(answer, timeout_s)
    except TimeoutError:
        return None
    finally:
        transport.close()


class ProcessState(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    EXITED = "exited"


class ChildProcess:
    """One child process in its own session: started with asyncio, output forwarded to logging line by line,
    stopped with SIGTERM then SIGKILL to its whole process group, always reaped."""

    def __init__(self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self._env = env
        self._cwd = cwd
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lines: asyncio.Queue[str] | None = None
        self._exited: asyncio.Future[None] | None = None
        self.state = ProcessState.NEW
        self._log = logging.getLogger(f"{__name__}.{name}")

    def _set_state(self, new: ProcessState) -> None:
        if new is not self.state:
            LOG.debug("%s: %s -> %s", self.name, self.state.value, new.value)
            self.state = new

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    async def start(self, *, capture_lines: bool = False) -> None:
        """Start the process. With ``capture_lines`` its output lines are also queued for :meth:`next_line`."""
        self._set_state(ProcessState.STARTING)
        self._lines = asyncio.Queue() if capture_lines else None
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=self._env, cwd=self._cwd, start_new_session=True,
            )
        except OSError as exc:
            self._set_state(ProcessState.EXITED)
            raise FrontDoorError(f"{self.name}: cannot start {self.argv[0]}: {exc}") from exc
        self._reader = asyncio.create_task(self._read_output(), name=f"{self.name}-output")
        self._watch_exit(self._proc.pid)
        self._set_state(ProcessState.RUNNING)

    def _watch_exit(self, pid: int) -> None:
        """Resolve ``_exited`` when the process ends. asyncio's ``Process.wait()`` also waits for the output pipe
        to close, which never happens while Kamailio's orphaned children hold it; a pidfd does not."""
        loop = asyncio.get_running_loop()
        self._exited = loop.create_future()
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._exited.set_result(None)
            return

        def on_exit() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            if not self._exited.done():
                self._exited.set_result(None)

        loop.add_reader(fd, on_exit)

    async def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line_bytes := await self._proc.stdout.readline():
            line = line_bytes.decode("utf-8", "replace").rstrip()
            if self._lines is not None:
                self._lines.put_nowait(line)
            if not line.strip():
                continue
            named = _LEVEL_RE.search(line[:120])
            level = _LEVELS[named.group(1)] if named else logging.INFO
            if self.state is ProcessState.STOPPING:
                # after SIGTERM a child's processes end in any order and report each other's sockets closing
                # (Kamailio: "CRITICAL: ... receive_fd(): EOF"): worth a warning at most
                level = min(level, logging.WARNING)
            self._log.log(level, "%s", line)

    async def next_line(self, timeout_s: float) -> str | None:
        """The next output line (needs ``capture_lines``); None at end of output or after the timeout."""
        assert self._lines is not None, "start(capture_lines=True) first"
        get = asyncio.ensure_future(self._lines.get())
        ended = asyncio.ensure_future(asyncio.shield(self._reader)) if self._reader else None
        waits = {get} | ({ended} if ended else set())
        done, _ = await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if ended is not None:
            ended.cancel()
        if get in done:
            return get.result()
        get.cancel()
        if not self._lines.empty():
            return self._lines.get_nowait()
        return None

    def stop_capturing(self) -> None:
        self._lines = None

    def send_signal(self, sig: int) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(sig)

    async def wait(self) -> int:
        """Wait until the process ends, kill what it left in its process group, reap it; its exit code."""
        assert self._proc is not None and self._exited is not None
        await asyncio.shield(self._exited)
        self._kill_group()  # Kamailio's orphaned children would otherwise live on and hold the output pipe
        try:
            await asyncio.wait_for(asyncio.shield(self._proc.wait()), _DRAIN_TIMEOUT_S)
            if self._reader is not None:
                await asyncio.wait_for(asyncio.shield(self._reader), _DRAIN_TIMEOUT_S)
        except TimeoutError:
            self._log.warning("%s: output still open %.0f s after exit; not read further", self.name,
                              _DRAIN_TIMEOUT_S)
            if self._reader is not None:
                self._reader.cancel()
        self._set_state(ProcessState.EXITED)
        return self._proc.returncode if self._proc.returncode is not None else -1

    def _kill_group(self) -> None:
        """Kill whatever the child left behind in its session (Kamailio forks its own workers)."""
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    async def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL to the process group after ``grace_s``; returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            self._set_state(ProcessState.STOPPING)
            self.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), grace_s)
            except TimeoutError:
                self._log.warning("%s (pid %d) did not stop within %.1f s: SIGKILL", self.name, self._proc.pid,
                                  grace_s)
                self._kill_group()
        return await self.wait()
