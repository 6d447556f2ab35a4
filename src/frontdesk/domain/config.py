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
    """A configuration document Bright Pattern's web widget (v4) accepts (docs/protocol-notes.md)."""
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
    """A queue: the skills an agent needs (name → minimum level), its priority against other
    queues, how long a chat may wait before it overflows, and the routing timings."""

    queue_id: str
    name: str
    skills: dict[str, int] = field(default_factory=dict)
    priority: int = 0
    max_wait_secs: int = 0  # 0: no limit
    overflow_queue: str = ""  # "" with max_wait_secs: the chat fails with max_wait_message
    max_wait_message: str = "Sorry, no agent could take your chat in time. Please try again later."
    offer_timeout_secs: int = 30
    default_handle_secs: int = 300  # the EWT's prior until handle times have been observed
    dispositions: tuple[str, ...] = ()  # wrap-up choices; empty: free text


@dataclass(frozen=True, slots=True)
class HoursConfig:
    """Hours of operation in a time zone: per weekday (0 = Monday) a list of (start, end) minutes
    after midnight, plus holidays (ISO dates) on which the entry is closed all day."""

    hours_id: str
    timezone: str = "UTC"
    weekly: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7
    holidays: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str = ""
    type: str = "text"  # text | email | phone | number | choice | rating
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FormConfig:
    """A named form (the ``form_name`` of ``chat_session_form_show``); its fields validate answers."""

    name: str
    title: str = ""
    fields: tuple[FormField, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """One scenario step: ``action`` names what it does, ``args`` its settings (docs/scenarios.md)."""

    action: str
    args: dict[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    name: str
    steps: tuple[Step, ...] = ()


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
    scenario: str = ""  # "" runs the default: say welcome_message, route to queue_id
    survey: str = ""  # a scenario run after the customer's chat_session_disconnect
    hours: str = ""  # "" is always open
    # site origins whose pages may call with the visitor cookie (credentialed CORS); the server's
    # own origin always may. Patterns and matching: frontdesk.protocol.origins
    allowed_origins: tuple[str, ...] = ()


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
    skills: dict[str, int] = field(default_factory=dict)
    team: str = ""
    role: str = "agent"  # agent | supervisor | admin (an admin is also a supervisor)


ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True, slots=True)
class TenantConfig:
    name: str
    aliases: tuple[str, ...] = ()
    entries: dict[str, EntryConfig] = field(default_factory=dict)
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    agents: tuple[AgentConfig, ...] = ()
    max_stored_files: int = 1000
    hours: dict[str, HoursConfig] = field(default_factory=dict)
    forms: dict[str, FormConfig] = field(default_factory=dict)
    scenarios: dict[str, ScenarioConfig] = field(default_factory=dict)
    agent_lost_grace_secs: int = 60  # an agent whose desktop vanished this long gives its chats back


@dataclass(frozen=True, slots=True)
class ContactCenterConfig:
    tenants: dict[str, TenantConfig]
    default_tenant: str

    def entry(self, tenant: str, app_id: str) -> EntryConfig | None:
        """A tenant's scenario entry (None when either is not configured, e.g. after a reload)."""
        found = self.tenants.get(tenant)
        return found.entries.get(app_id) if found else None

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


class LiveConfig:
    """The running configuration. Services read ``current`` on every action, so a reload (a new,
    fully validated ``ContactCenterConfig`` swapped in at once) applies to the next action while
    live chats carry on."""

    def __init__(self, config: ContactCenterConfig) -> None:
        self.current = config

    def replace(self, config: ContactCenterConfig) -> None:
        self.current = config
