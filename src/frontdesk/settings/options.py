"""The server's own options: the ``[server]`` table of the file, environment variables
(``FRONTDESK_PORT`` …) and command-line flags. Precedence: flag > environment > file > default.

``ServerTable`` is the file's table (strict, like the rest of the file); ``ServerOverrides`` is what a
flag or an environment variable may set (text from the environment is converted: ``"8080"``,
``"false"``); ``EnvironmentOptions`` reads it from ``FRONTDESK_*`` variables with pydantic-settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from frontdesk.domain.access import DEFAULT_TOKEN_TTL_SECS
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.domain.ids import PASSWORD_COST
from frontdesk.settings.demo import demo_contact_center
from frontdesk.settings.errors import field_error
from frontdesk.settings.fields import Between, Model, OneOf
from frontdesk.settings.vocabulary import (
    BUS_RECHECK_SECS,
    DEFAULT_BUS_RECHECK_SECS,
    DEFAULT_HEADER_TIMEOUT_SECS,
    DEFAULT_KEEP_ALIVE_SECS,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_REDIS_PREFIX,
    DEFAULT_SHED_DELIVERY_LAG_SECS,
    DEFAULT_SHED_LOOP_LAG_SECS,
    DEFAULT_SHED_QUEUE_AGE_SECS,
    HEADER_TIMEOUT_SECS,
    KEEP_ALIVE_SECS,
    LOG_FORMAT_NAMES,
    LOG_LEVEL_NAMES,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_POLL_HOLD_SECS,
    MAX_REDIS_PREFIX_CHARS,
    PORTS,
    REDIS_SCHEMES,
    SHED_DELIVERY_LAG_SECS,
    SHED_LOOP_LAG_SECS,
    SHED_QUEUE_AGE_SECS,
    SQLITE_SYNCHRONOUS,
    TOKEN_TTL_SECS,
)

ENV_PREFIX = "FRONTDESK_"


def _poll_hold(value: float) -> float:
    if not 0 < value <= MAX_POLL_HOLD_SECS:
        raise field_error(f"must be above 0 and at most {MAX_POLL_HOLD_SECS}")
    return value


def _header_timeout(value: float) -> float:
    if not HEADER_TIMEOUT_SECS[0] <= value <= HEADER_TIMEOUT_SECS[1]:
        raise field_error(f"must be between {HEADER_TIMEOUT_SECS[0]:g} and {HEADER_TIMEOUT_SECS[1]:g}")
    return value


def _redis_url(value: str) -> str:
    if value and ("://" not in value or value.split("://", 1)[0] not in REDIS_SCHEMES):
        raise field_error(f"must be a URL of scheme {', '.join(REDIS_SCHEMES)} (redis://host:6379/0), or empty")
    return value


def _redis_prefix(value: str) -> str:
    if not 0 < len(value) <= MAX_REDIS_PREFIX_CHARS or any(c.isspace() for c in value):
        raise field_error(f"must be 1–{MAX_REDIS_PREFIX_CHARS} characters without spaces")
    return value


def _bus_recheck(value: float) -> float:
    if not BUS_RECHECK_SECS[0] <= value <= BUS_RECHECK_SECS[1]:
        raise field_error(f"must be between {BUS_RECHECK_SECS[0]:g} and {BUS_RECHECK_SECS[1]:g}")
    return value


def _between(bounds: tuple[float, float]) -> Callable[[float], float]:
    def check(value: float) -> float:
        if not bounds[0] <= value <= bounds[1]:
            raise field_error(f"must be between {bounds[0]:g} and {bounds[1]:g}")
        return value

    return check


DATABASE_URL_SCHEMES = ("postgresql://", "postgres://")


def _database_url(value: str) -> str:
    if value and not value.startswith(DATABASE_URL_SCHEMES):
        raise field_error("must be a postgresql:// URL, or empty for the embedded SQLite database in data_dir")
    return value


Port = Annotated[int, Between(*PORTS)]
RedisUrl = Annotated[str, AfterValidator(_redis_url), Field(
    description="Redis of a deployment of several processes (redis://host:6379/0); empty: one process")]
RedisPrefix = Annotated[str, AfterValidator(_redis_prefix), Field(
    description="prefix of every Redis key and channel of this deployment")]
BusRecheck = Annotated[float, AfterValidator(_bus_recheck), Field(
    json_schema_extra={"minimum": BUS_RECHECK_SECS[0], "maximum": BUS_RECHECK_SECS[1]},
    description="with Redis: readers re-check the log this often (the most a lost wake-up delays)")]


DatabaseUrl = Annotated[str, AfterValidator(_database_url), Field(
    json_schema_extra={"pattern": "^(postgres(ql)?://.*)?$"},
    description="PostgreSQL database shared by every node (postgresql://user:password@host:port/name); "
                "empty: the embedded SQLite database in data_dir")]
MaxConnections = Annotated[int, Between(*MAX_CONNECTIONS), Field(
    description="beyond this many open connections new ones are answered 503")]
HeaderTimeout = Annotated[float, AfterValidator(_header_timeout), Field(
    json_schema_extra={"minimum": HEADER_TIMEOUT_SECS[0], "maximum": HEADER_TIMEOUT_SECS[1]},
    description="a connection must deliver a request's headers within this time, else it is closed")]
KeepAlive = Annotated[int, Between(*KEEP_ALIVE_SECS), Field(
    description="an idle kept-alive connection is closed after this long (a held poll is not idle)")]
MaxHeaderBytes = Annotated[int, Between(*MAX_HEADER_BYTES), Field(
    description="longer request headers are answered 431")]
PollHold = Annotated[float, AfterValidator(_poll_hold), Field(
    json_schema_extra={"exclusiveMinimum": 0, "maximum": MAX_POLL_HOLD_SECS},
    description="long-poll hold (the web widget aborts polls at 13 s)")]
ShedLoopLag = Annotated[float, AfterValidator(_between(SHED_LOOP_LAG_SECS)), Field(
    json_schema_extra={"minimum": SHED_LOOP_LAG_SECS[0], "maximum": SHED_LOOP_LAG_SECS[1]},
    description="new chats and sends are refused (503) while the event loop lags this much")]
ShedQueueAge = Annotated[float, AfterValidator(_between(SHED_QUEUE_AGE_SECS)), Field(
    json_schema_extra={"minimum": SHED_QUEUE_AGE_SECS[0], "maximum": SHED_QUEUE_AGE_SECS[1]},
    description="new chats and sends are refused (503) while those in progress wait this long for their answer")]
ShedDeliveryLag = Annotated[float, AfterValidator(_between(SHED_DELIVERY_LAG_SECS)), Field(
    json_schema_extra={"minimum": SHED_DELIVERY_LAG_SECS[0], "maximum": SHED_DELIVERY_LAG_SECS[1]},
    description="new chats and sends are refused (503) while poll answers go out this long after their events "
                "were there")]
Synchronous = Annotated[str, OneOf(SQLITE_SYNCHRONOUS, transform=str.upper)]
LogFormat = Annotated[str, OneOf(LOG_FORMAT_NAMES, transform=str.lower), Field(
    description="log lines as text (key=value, for a terminal) or json (one object per line)")]
LogLevel = Annotated[str, OneOf(LOG_LEVEL_NAMES, transform=str.lower), Field(
    description="the least severe level logged; info includes the access log")]
TokenTtl = Annotated[int, Between(*TOKEN_TTL_SECS), Field(
    description="agent tokens and browser sessions expire after this long unused (sliding on use)")]


class ServerTable(Model):
    """``[server]``: read at start only (a reload validates it and ignores changes)."""

    host: Annotated[str, Field(description="listen address")] = "127.0.0.1"
    port: Port = 8080
    data_dir: Annotated[str, Field(description="SQLite database and uploaded files; relative to the file")] = "data"
    poll_hold_secs: PollHold = 10.0
    cookie_secure: Annotated[bool, Field(description="mark the WebChat visitor cookie Secure")] = True
    token_ttl_secs: TokenTtl = DEFAULT_TOKEN_TTL_SECS
    sqlite_synchronous: Synchronous = "NORMAL"
    database_url: DatabaseUrl = ""
    max_connections: MaxConnections = DEFAULT_MAX_CONNECTIONS
    header_timeout_secs: HeaderTimeout = DEFAULT_HEADER_TIMEOUT_SECS
    keep_alive_secs: KeepAlive = DEFAULT_KEEP_ALIVE_SECS
    max_header_bytes: MaxHeaderBytes = DEFAULT_MAX_HEADER_BYTES
    log_format: LogFormat = "text"
    log_level: LogLevel = "info"
    default_tenant: Annotated[str, Field(description="for requests that name no tenant; default: the first")] = ""
    files_dir: Annotated[str, Field(
        description="uploaded files (a directory every process shares); relative to the file; "
                    "default: <data_dir>/files")] = ""
    redis_url: RedisUrl = ""
    redis_prefix: RedisPrefix = DEFAULT_REDIS_PREFIX
    bus_recheck_secs: BusRecheck = DEFAULT_BUS_RECHECK_SECS
    shed_loop_lag_secs: ShedLoopLag = DEFAULT_SHED_LOOP_LAG_SECS
    shed_queue_age_secs: ShedQueueAge = DEFAULT_SHED_QUEUE_AGE_SECS
    shed_delivery_lag_secs: ShedDeliveryLag = DEFAULT_SHED_DELIVERY_LAG_SECS


class ServerOverrides(BaseModel):
    """What a flag or an environment variable may set; None: not given."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    config: Path | None = None
    host: str | None = None
    port: Port | None = None
    data_dir: Path | None = None
    poll_hold_secs: PollHold | None = None
    cookie_secure: bool | None = None
    token_ttl_secs: TokenTtl | None = None
    sqlite_synchronous: Synchronous | None = None
    database_url: DatabaseUrl | None = None
    max_connections: MaxConnections | None = None
    header_timeout_secs: HeaderTimeout | None = None
    keep_alive_secs: KeepAlive | None = None
    max_header_bytes: MaxHeaderBytes | None = None
    log_format: LogFormat | None = None
    log_level: LogLevel | None = None
    files_dir: Path | None = None
    redis_url: RedisUrl | None = None
    redis_prefix: RedisPrefix | None = None
    bus_recheck_secs: BusRecheck | None = None
    shed_loop_lag_secs: ShedLoopLag | None = None
    shed_queue_age_secs: ShedQueueAge | None = None
    shed_delivery_lag_secs: ShedDeliveryLag | None = None

    def given(self) -> dict[str, Any]:
        return {key: value for key, value in self.model_dump().items() if value is not None}


class EnvironmentOptions(ServerOverrides, BaseSettings):
    """``FRONTDESK_CONFIG``, ``FRONTDESK_HOST``, ``FRONTDESK_PORT``, … from the process environment."""

    # an empty variable is no value (FRONTDESK_CONFIG= runs the demo)
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False,
                                      env_ignore_empty=True, hide_input_in_errors=True)


def env_name(option: str) -> str:
    return ENV_PREFIX + option.upper()


def flag_name(option: str) -> str:
    return "--" + option.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    poll_hold_secs: float = 10.0
    cookie_secure: bool = True
    token_ttl_secs: int = DEFAULT_TOKEN_TTL_SECS  # agent tokens and browser sessions, sliding on use
    sqlite_synchronous: str = "NORMAL"
    # empty: the embedded SQLite database in data_dir; a postgresql:// URL: that database (it may
    # hold a password: never printed)
    database_url: str = field(default="", repr=False)
    timers_enabled: bool = True
    # connection bounds (frontdesk.connections, docs/operations.md)
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout_secs: float = DEFAULT_HEADER_TIMEOUT_SECS
    keep_alive_secs: int = DEFAULT_KEEP_ALIVE_SECS
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    log_format: str = "text"  # frontdesk.observability.logs
    log_level: str = "info"
    # several processes (docs/operations.md, "Running several processes")
    files_dir: Path | None = None  # None: data_dir / "files"
    redis_url: str = ""  # "": one process, the in-process bus
    redis_prefix: str = DEFAULT_REDIS_PREFIX
    bus_recheck_secs: float = DEFAULT_BUS_RECHECK_SECS
    # overload shedding (frontdesk.api.overload, docs/operations.md "Overload")
    shed_loop_lag_secs: float = DEFAULT_SHED_LOOP_LAG_SECS
    shed_queue_age_secs: float = DEFAULT_SHED_QUEUE_AGE_SECS
    shed_delivery_lag_secs: float = DEFAULT_SHED_DELIVERY_LAG_SECS
    contact_center: ContactCenterConfig = field(default_factory=demo_contact_center)
    is_demo: bool = True
    config_file: Path | None = None  # the TOML file the settings came from (re-read by a reload)
    # scrypt cost (log2 N) of the hash logins of unknown usernames are checked against; tests only
    # lower it (with the demo agent's: demo_contact_center(password_cost=…)); no file or flag sets it
    password_hash_cost: int = PASSWORD_COST
