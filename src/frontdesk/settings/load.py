"""Reading a configuration: the TOML file (or the embedded demo), the environment and flags into
``Settings``; the admin API's document into a ``ContactCenterConfig``.

Three passes, each reporting every problem as ``<field path>: <message>``: the models check each
table on its own (types, bounds, unknown keys), ``references`` checks what tables name of each other,
``convert`` builds the engine's dataclasses (and checks files next to the configuration).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError

from frontdesk.domain.config import ContactCenterConfig
from frontdesk.settings.convert import contact_center
from frontdesk.settings.errors import ConfigError, messages_of, type_name
from frontdesk.settings.fields import Model
from frontdesk.settings.options import (
    EnvironmentOptions,
    ServerOverrides,
    ServerTable,
    Settings,
    env_name,
    flag_name,
)
from frontdesk.settings.tenant import DocumentModel, Tenants

M = TypeVar("M", bound=Model)


class FileModel(Model):
    """The configuration file: ``[server]`` and ``[[tenants]]``."""

    server: ServerTable = Field(default_factory=ServerTable)
    tenants: Tenants = Field(default_factory=list, validate_default=True)

    def document(self) -> DocumentModel:
        return DocumentModel.model_construct(default_tenant=self.server.default_tenant, tenants=self.tenants)


def validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(messages_of(exc)) from None


def read_environment() -> ServerOverrides:
    """The ``FRONTDESK_*`` variables of this process (``FRONTDESK_PORT`` …)."""
    try:
        return EnvironmentOptions()
    except ValidationError as exc:
        raise ConfigError(messages_of(exc, names=_names(env_name))) from None


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None,
                  env: ServerOverrides | None = None) -> Settings:
    """Settings from flags (``overrides``, and ``config_file``), then the environment (``env``,
    see ``read_environment``), then the TOML file, then the defaults. Without a file: the demo."""
    try:
        flags = ServerOverrides.model_validate({k: v for k, v in (overrides or {}).items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(messages_of(exc, names=_names(flag_name))) from None
    given = {**(env.given() if env else {}), **flags.given()}
    path = config_file or given.pop("config", None)
    given.pop("config", None)
    if path is None:
        return Settings(**given)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return replace(parse_settings(raw, path.parent, given), config_file=path)


def parse_settings(raw: dict[str, Any], base_dir: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from a parsed file (relative paths relative to ``base_dir``) and typed overrides."""
    file = validated(FileModel, raw)
    server = file.server
    values: dict[str, Any] = {
        "host": server.host, "port": server.port, "data_dir": base_dir / server.data_dir,
        "poll_hold_secs": server.poll_hold_secs, "cookie_secure": server.cookie_secure,
        "token_ttl_secs": server.token_ttl_secs, "sqlite_synchronous": server.sqlite_synchronous,
        "database_url": server.database_url,
        "max_connections": server.max_connections, "header_timeout_secs": server.header_timeout_secs,
        "keep_alive_secs": server.keep_alive_secs, "max_header_bytes": server.max_header_bytes,
        "log_format": server.log_format, "log_level": server.log_level,
        "files_dir": base_dir / server.files_dir if server.files_dir else None, "redis_url": server.redis_url,
        "redis_prefix": server.redis_prefix, "bus_recheck_secs": server.bus_recheck_secs,
        "shed_loop_lag_secs": server.shed_loop_lag_secs, "shed_queue_age_secs": server.shed_queue_age_secs,
        "shed_delivery_lag_secs": server.shed_delivery_lag_secs,
        **(overrides or {})}
    config = contact_center(file.document(), base_dir, None, "server.default_tenant")
    return Settings(contact_center=config, is_demo=False, **values)


def contact_center_from_document(doc: dict[str, Any], base_dir: Path, *,
                                 current: ContactCenterConfig | None = None) -> ContactCenterConfig:
    """The configuration a document describes (the JSON shape of the file's tenants), validated
    exactly like the file; relative paths are relative to ``base_dir``.

    An agent given neither ``password`` nor ``password_hash`` keeps the password hash it has in
    ``current`` (the running configuration): ``contact_center_to_document`` never emits hashes, so a
    document read from the admin API can be edited and written back as it is.
    """
    if not isinstance(doc, dict):
        raise ConfigError(f"document: expected an object, got {type_name(doc)}")
    return contact_center(validated(DocumentModel, doc), base_dir, current, "default_tenant")


def describe(settings: Settings) -> list[str]:
    """One line per tenant: what the configuration holds (``frontdesk check-config``)."""
    lines = []
    for tenant in settings.contact_center.tenants.values():
        counts = [(len(tenant.queues), "queue"), (len(tenant.hours), "hours"), (len(tenant.forms), "form"),
                  (len(tenant.scenarios), "scenario"), (len(tenant.entries), "entry"), (len(tenant.agents), "agent")]
        parts = ", ".join(f"{n} {_plural(word, n)}" for n, word in counts)
        lines.append(f"tenant {tenant.name}: {parts}")
    return lines


def _plural(word: str, n: int) -> str:
    if n == 1 or word == "hours":
        return word
    return "entries" if word == "entry" else word + "s"


def _names(style: Callable[[str], str]) -> dict[str, str]:
    return {option: style(option) for option in ServerOverrides.model_fields}
