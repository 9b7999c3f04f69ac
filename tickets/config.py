"""Typed, validated, frozen settings for every part of the product.

This is the only module that reads configuration files and the environment. Everything else receives a
:class:`Settings` (or one of its sections) as an argument.

Resolution order for the file: the ``--config`` argument, then ``HOTLINE_CONFIG``, then ``config.yaml`` in the
working directory. Relative paths in the file are relative to the file's folder. ``HOTLINE_DB_URL`` overrides
``database.url``; ``HOTLINE_SECRET_KEY`` overrides ``security.secret_key``; ``HOTLINE_ADMIN_TOKEN`` overrides
``security.admin_token``. With no secret key set anywhere, one is generated into ``<data_dir>/secret.key``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

__all__ = [
    "ConfigError",
    "Settings",
    "load_settings",
    "settings_from_mapping",
]


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key and what was expected."""


@dataclasses.dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = "sqlite+aiosqlite:///var/hotline.db"
    echo: bool = False
    busy_timeout_ms: int = 5000
    pool_size: int = 10


@dataclasses.dataclass(frozen=True, slots=True)
class WebSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    max_body_bytes: int = 16384


@dataclasses.dataclass(frozen=True, slots=True)
class PathSettings:
    data_dir: Path = Path("var")
    recordings_dir: Path = Path("var/recordings")
    prompt_cache_dir: Path = Path("var/prompts")
    run_dir: Path = Path("var/run")
    district_file: Path = Path("tickets/data/district.yaml")
    sample_catalog: Path = Path("tickets/data/guides.yaml")


@dataclasses.dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    network: str
    trusts_identity: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class TlsSettings:
    enabled: bool = False
    port: int = 5061
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class KamailioSettings:
    enabled: Literal["auto", "yes", "no"] = "auto"
    binary: Path = Path("/usr/sbin/kamailio")
    shm_mb: int = 64
    pkg_mb: int = 8
    pike_requests_per_2s: int = 30
    options_interval_s: int = 2


@dataclasses.dataclass(frozen=True, slots=True)
class SipSettings:
    host: str = "0.0.0.0"
    port: int = 5060
    public_address: str = "127.0.0.1"
    transports: tuple[Literal["udp", "tcp"], ...] = ("udp", "tcp")
    tls: TlsSettings = TlsSettings()
    trunks: tuple[Trunk, ...] = (Trunk(name="loopback", network="127.0.0.0/8"),)
    allowed_networks: tuple[str, ...] = ("127.0.0.0/8",)
    workers: int = 0
    worker_base_port: int = 5070
    worker_host: str = "127.0.0.1"
    rtp_port_start: int = 20000
    rtp_ports_per_worker: int = 400
    codecs: tuple[Literal["PCMA", "PCMU", "G722"], ...] = ("PCMA", "PCMU", "G722")
    max_calls_per_worker: int = 0
    target_concurrent_calls: int = 200  # with workers: 0, start enough workers for this many calls
    accept_calls_per_s: float = 20.0
    retry_after_s: int = 30
    worker_ready_timeout_s: float = 60.0
    kamailio: KamailioSettings = KamailioSettings()


@dataclasses.dataclass(frozen=True, slots=True)
class IvrSettings:
    menu_file: Path = Path("menus/main.yaml")
    prompts_dir: Path = Path("menus/prompts/zh")
    tts_voice: str = "cmn"
    no_input_timeout_s: float = 6.0
    inter_digit_timeout_s: float = 4.0
    max_retries: int = 3
    recording_max_s: float = 120.0
    recording_silence_s: float = 5.0
    top_guides: int = 5


@dataclasses.dataclass(frozen=True, slots=True)
class AgentSettings:
    group_uri: str = "sip:agents@127.0.0.1:5090"
    transfer_mode: Literal["refer", "bridge"] = "bridge"
    no_answer_timeout_s: float = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class TicketSettings:
    timezone: str = "Asia/Shanghai"
    duplicate_window_h: float = 72.0
    query_max_failures: int = 3
    query_lock_minutes: float = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class StbSettings:
    token_ttl_s: int = 900
    clock_skew_s: int = 300
    nonce_ttl_s: int = 600
    rate_limit_per_device_per_min: int = 240
    rate_limit_per_address_per_min: int = 1200
    catalog_max_age_s: int = 300
    # Added by the STB API (additive): how often a process re-reads a device row and the catalog revision,
    # where nonces live (memory per process, or a shared Redis), and the notices the TV home page shows.
    device_cache_s: float = 5.0
    catalog_check_s: float = 2.0
    nonce_store: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    notices: tuple[str, ...] = (
        "96536政务服务热线24小时为您服务，也可以在电视上查询办事指南和工单进度。",
        "八成以上事项“最多跑一次”，部分事项可网上办理、零跑路。",
    )


@dataclasses.dataclass(frozen=True, slots=True)
class AsrSettings:
    model_path: Path = Path("models/vosk-model-small-cn-0.22")
    sample_rate_hz: int = 8000
    grammar_min_confidence: float = 0.6


@dataclasses.dataclass(frozen=True, slots=True)
class SecuritySettings:
    secret_key: str = ""
    admin_token: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    paths: PathSettings = PathSettings()
    sip: SipSettings = SipSettings()
    ivr: IvrSettings = IvrSettings()
    agents: AgentSettings = AgentSettings()
    tickets: TicketSettings = TicketSettings()
    stb: StbSettings = StbSettings()
    asr: AsrSettings = AsrSettings()
    security: SecuritySettings = SecuritySettings()
    logging: LoggingSettings = LoggingSettings()
    source: Path | None = None

    def replace(self, **changes: Any) -> Settings:
        """A copy with whole sections replaced (tests use this)."""
        return dataclasses.replace(self, **changes)


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin is tuple:
        return f"a list of {_describe(get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", Path: "a path"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(tp: Any, value: Any, key: str, base: Path) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None
        inner = [a for a in get_args(tp) if a is not type(None)]
        return _convert(inner[0], value, key, base)
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
        return tuple(_convert(get_args(tp)[0], v, f"{key}[{i}]", base) for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _build(tp, value, key, base)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{key}: expected a path, got {value!r}")
        path = Path(value)
        return path if path.is_absolute() else (base / path)
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover - a programming error


def _build(cls: type, data: Mapping[str, Any], prefix: str, base: Path) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names - {"source"})
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"{where}: unknown key (expected one of {', '.join(sorted(names - {'source'}))})")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], key, base)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: missing (expected {_describe(hints[f.name])})")
        else:
            default = f.default
            if isinstance(default, Path) and not default.is_absolute():
                default = base / default
            elif dataclasses.is_dataclass(default) and not isinstance(default, type):
                default = _build(type(default), {}, key, base)
            kwargs[f.name] = default
    return cls(**kwargs)


def _resolve_sqlite_url(url: str, base: Path) -> str:
    """Make a relative SQLite file path relative to the config file's folder."""
    for scheme in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(scheme):
            rest = url[len(scheme) :]
            if rest and rest != ":memory:" and not rest.startswith("/"):
                return scheme + str((base / rest).resolve())
    return url


def _validate(settings: Settings) -> None:
    for i, net in enumerate(settings.sip.allowed_networks):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError as exc:
            raise ConfigError(f"sip.allowed_networks[{i}]: expected a network like 10.0.0.0/8, got {net!r}") from exc
    for i, trunk in enumerate(settings.sip.trunks):
        try:
            ipaddress.ip_network(trunk.network, strict=False)
        except ValueError as exc:
            raise ConfigError(f"sip.trunks[{i}].network: expected a network, got {trunk.network!r}") from exc
    for key, port in (("web.port", settings.web.port), ("sip.port", settings.sip.port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"{key}: expected a port 0-65535, got {port}")
    if settings.sip.workers < 0:
        raise ConfigError(f"sip.workers: expected 0 (automatic) or a positive integer, got {settings.sip.workers}")
    if settings.sip.rtp_ports_per_worker < 8:
        raise ConfigError(f"sip.rtp_ports_per_worker: expected at least 8, got {settings.sip.rtp_ports_per_worker}")
    if not settings.sip.codecs:
        raise ConfigError("sip.codecs: expected at least one codec")
    if not settings.database.url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise ConfigError(f"database.url: expected a sqlite+aiosqlite:// or postgresql+asyncpg:// URL, got "
                          f"{settings.database.url!r}")
    if settings.ivr.max_retries < 1:
        raise ConfigError(f"ivr.max_retries: expected at least 1, got {settings.ivr.max_retries}")


def settings_from_mapping(
    data: Mapping[str, Any] | None, base: Path, env: Mapping[str, str] | None = None, source: Path | None = None
) -> Settings:
    """Build settings from an already parsed mapping; ``base`` anchors relative paths."""
    data = dict(data or {})
    env = dict(env or {})
    settings: Settings = _build(Settings, data, "", base)
    database = settings.database
    url = env.get("HOTLINE_DB_URL") or database.url
    database = dataclasses.replace(database, url=_resolve_sqlite_url(url, base))
    security = settings.security
    if env.get("HOTLINE_SECRET_KEY"):
        security = dataclasses.replace(security, secret_key=env["HOTLINE_SECRET_KEY"])
    if env.get("HOTLINE_ADMIN_TOKEN"):
        security = dataclasses.replace(security, admin_token=env["HOTLINE_ADMIN_TOKEN"])
    settings = dataclasses.replace(settings, database=database, security=security, source=source)
    _validate(settings)
    return settings


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load the configuration file (see the module docstring for which one) into :class:`Settings`."""
    env = os.environ if env is None else env
    chosen = Path(path) if path else Path(env["HOTLINE_CONFIG"]) if env.get("HOTLINE_CONFIG") else Path("config.yaml")
    chosen = chosen.resolve()
    if not chosen.is_file():
        raise ConfigError(f"configuration file {chosen} does not exist")
    try:
        data = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{chosen}: not valid YAML: {exc}") from exc
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{chosen}: expected a mapping at the top level")
    settings = settings_from_mapping(data, chosen.parent, env, source=chosen)
    if not settings.security.secret_key:
        key = _secret_key_file(settings.paths.data_dir / "secret.key")
        settings = dataclasses.replace(settings, security=dataclasses.replace(settings.security, secret_key=key))
    return settings


def _secret_key_file(path: Path) -> str:
    """The secret key kept beside the data (created with 256 random bits, mode 0600, on first start) when neither
    the file nor HOTLINE_SECRET_KEY sets one."""
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = ""
    except OSError as exc:
        raise ConfigError(f"security.secret_key: cannot read {path}: {exc}") from exc
    if key:
        return key
    key = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise ConfigError(f"security.secret_key: cannot create {path}: {exc}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
