"""The contact-center configuration the engine runs with: tenants, entries, queues, agents.

Built and validated by ``frontdesk.settings`` from a TOML file (or the embedded demo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_INACTIVITY_WARNING_MSG = "Are you still there? This chat will close soon if there is no reply."
DEFAULT_INACTIVITY_TIMEOUT_MSG = "This chat was closed because there was no reply."
PARAMETER_TYPES = ("PHONE", "TEXT", "EMAIL", "FIRST_NAME", "LAST_NAME", "ACCOUNT", "COMPANY")


def default_widget_configuration() -> dict[str, Any]:
    """A configuration document Bright Pattern's web widget (v4) accepts (client-compat.md §2.6)."""
    return {
        "definition": {
            "chatInitiations": [{
                "id": "ci1", "urls": {"0": "/"},
                "contactTab": {"enabled": True, "location": "bottom_right", "agentsAvailableMsg": "Chat with us",
                               "outOfHoursMsg": "Offline", "iconUrl": ""},
                "preChat": {"enabled": False}, "leaveMessage": {"enabled": False},
            }],
            "proactiveOffers": [], "forms": [],
            "chatWidgetStyling": {"tabStyle": "default", "width": 350, "height": 520, "color": "2db2dd",
                                  "textColor": "ffffff", "fileUploadEnabled": True, "emojiSelector": False,
                                  "videoCallEnabled": False, "showAgentPic": "left"},
        },
        "styles": {"default": {}},
        "cobrowsing": None,
    }


@dataclass(frozen=True, slots=True)
class QueueConfig:
    queue_id: str
    name: str


@dataclass(frozen=True, slots=True)
class EntryConfig:
    """A scenario entry (the ``appId`` of the Mobile/Web API)."""

    app_id: str
    name: str
    queue_id: str
    enabled: bool = True
    parameters: tuple[tuple[str, str], ...] = ()
    widget_configuration: dict[str, Any] = field(default_factory=default_widget_configuration)
    ice_servers: tuple[dict[str, str], ...] = ()
    welcome_message: str = ""
    bot_name: str = "Assistant"
    inactivity_warning_secs: int = 120
    inactivity_timeout_secs: int = 180
    inactivity_warning_msg: str = DEFAULT_INACTIVITY_WARNING_MSG
    inactivity_timeout_msg: str = DEFAULT_INACTIVITY_TIMEOUT_MSG
    unavailable_value: str = "notAvailable"
    push_enabled: bool = True
    chat_icon_path: str = ""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    username: str
    password_hash: str
    first_name: str
    last_name: str
    display_name: str
    max_chats: int = 3
    photo_path: str = ""
    auto_accept: bool = False


@dataclass(frozen=True, slots=True)
class TenantConfig:
    name: str
    aliases: tuple[str, ...] = ()
    entries: dict[str, EntryConfig] = field(default_factory=dict)
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    agents: tuple[AgentConfig, ...] = ()
    max_stored_files: int = 1000


@dataclass(frozen=True, slots=True)
class ContactCenterConfig:
    tenants: dict[str, TenantConfig]
    default_tenant: str

    def resolve_tenant(self, tenant_url: str, host: str) -> TenantConfig | None:
        """Find the tenant named by a normalised ``tenantUrl``, else by the Host, else the default.

        An explicit ``tenantUrl`` that names no tenant resolves to nothing (error 1000); a short
        name (``demo`` for ``demo.local``) is accepted as the docs' examples use one.
        """
        if tenant_url:
            return self._lookup(tenant_url)
        return self._lookup(host) or self.tenants.get(self.default_tenant)

    def _lookup(self, name: str) -> TenantConfig | None:
        if not name:
            return None
        for tenant in self.tenants.values():
            if name == tenant.name or name in tenant.aliases:
                return tenant
        for tenant in self.tenants.values():
            if tenant.name.split(".", 1)[0] == name:
                return tenant
        return None
