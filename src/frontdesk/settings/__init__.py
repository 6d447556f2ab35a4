"""Settings: the server options and the contact-center configuration, from a TOML file (or the
embedded demo), the environment and flags. The file format is docs/configuration.md; its JSON Schema,
generated from these models, is docs/config.schema.json.

The contact-center part can also be given as a document (the JSON shape of the file without
``[server]``: ``{"default_tenant": …, "tenants": […]}``), which the admin API reads and writes:
``contact_center_from_document`` and ``contact_center_to_document``.
"""

from frontdesk.settings.demo import (
    DEMO_AGENT_PASSWORD,
    DEMO_AGENT_USERNAME,
    DEMO_ALLOWED_ORIGINS,
    DEMO_APP_ID,
    DEMO_TENANT,
    demo_contact_center,
)
from frontdesk.settings.document import contact_center_to_document
from frontdesk.settings.errors import ConfigError
from frontdesk.settings.hours import format_day
from frontdesk.settings.load import (
    contact_center_from_document,
    describe,
    load_settings,
    parse_settings,
    read_environment,
)
from frontdesk.settings.options import Settings
from frontdesk.settings.vocabulary import MAX_POLL_HOLD_SECS

__all__ = [
    "DEMO_AGENT_PASSWORD",
    "DEMO_AGENT_USERNAME",
    "DEMO_ALLOWED_ORIGINS",
    "DEMO_APP_ID",
    "DEMO_TENANT",
    "MAX_POLL_HOLD_SECS",
    "ConfigError",
    "Settings",
    "contact_center_from_document",
    "contact_center_to_document",
    "demo_contact_center",
    "describe",
    "format_day",
    "load_settings",
    "parse_settings",
    "read_environment",
]
