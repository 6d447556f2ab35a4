"""The words and bounds of the configuration file (docs/configuration.md), in one place."""

from __future__ import annotations

from frontdesk.observability.logs import LOG_FORMATS, LOG_LEVELS

SKILL_LEVELS = (1, 10)
QUEUE_PRIORITIES = (-100, 100)
MAX_WAIT_SECS = (0, 365 * 86400)
OFFER_TIMEOUT_SECS = (5, 3600)  # or 0: an offer never times out
HANDLE_SECS = (10, 86400)
AGENT_LOST_GRACE_SECS = (5, 3600)
FORM_TIMEOUT_SECS = (1, 86400)
EWT_ABOVE_SECS = (0, 86400)
MAX_CHATS = (1, 100)
PORTS = (0, 65535)  # 0: a free port, which the start-up banner names
TOKEN_TTL_SECS = (300, 30 * 86400)  # five minutes to thirty days
MAX_POLL_HOLD_SECS = 11.5  # the web widget aborts a poll after 13 s
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")
LOG_FORMAT_NAMES = LOG_FORMATS  # text (a terminal) or json (one object per line)
LOG_LEVEL_NAMES = LOG_LEVELS
# several processes (docs/operations.md, "Running several processes")
REDIS_SCHEMES = ("redis", "rediss", "unix")
BUS_RECHECK_SECS = (0.1, 10.0)
DEFAULT_BUS_RECHECK_SECS = 2.0  # a lost cross-process wake-up delays a reader by at most this
DEFAULT_REDIS_PREFIX = "frontdesk:"
MAX_REDIS_PREFIX_CHARS = 64
# connection bounds (frontdesk.connections, docs/operations.md): ranges and defaults
MAX_CONNECTIONS = (1, 1_000_000)
DEFAULT_MAX_CONNECTIONS = 16_000  # 10,000+ held long polls, their keep-alive spares, agents' sockets
HEADER_TIMEOUT_SECS = (0.1, 300.0)
DEFAULT_HEADER_TIMEOUT_SECS = 10.0  # to deliver a request's headers
KEEP_ALIVE_SECS = (1, 3600)
DEFAULT_KEEP_ALIVE_SECS = 30  # idle between requests; a held poll is not idle
MAX_HEADER_BYTES = (1024, 1024 * 1024)
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
# overload shedding (frontdesk.api.overload, docs/operations.md "Overload"): ranges and defaults
SHED_LOOP_LAG_SECS = (0.05, 30.0)
DEFAULT_SHED_LOOP_LAG_SECS = 0.25  # a healthy loop lags ms; 0.25 s on turn after turn: W3 no longer keeps up
SHED_QUEUE_AGE_SECS = (0.1, 120.0)
DEFAULT_SHED_QUEUE_AGE_SECS = 2.0  # new chats and sends waiting this long for their answer
SHED_DELIVERY_LAG_SECS = (0.05, 30.0)
# poll answers written this long after their events were there, half of them in the last second: a healthy
# process answers in milliseconds; W3 beyond what one process delivers answers in seconds
DEFAULT_SHED_DELIVERY_LAG_SECS = 0.5
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORM_FIELD_TYPES = ("text", "email", "phone", "number", "choice", "rating")
UNAVAILABLE_VALUES = ("notAvailable", "unavailable")
BUILTIN_FORMS = ("", "RequestLocation")  # what `form` and `leave_message` may name besides tenant forms
REQUEST_LOCATION_FIELDS = ("location_lat", "location_lon", "location_url")
# the settings of each scenario action (the action's own key first)
STEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "say": ("say",),
    "form": ("form", "timeout_secs", "on_timeout"),
    "branch": ("branch", "otherwise"),
    "set_case": ("set_case",),
    "route": ("route", "priority", "skills", "if_no_agents", "if_closed", "on_ewt_above", "ewt_above_secs"),
    "leave_message": ("leave_message", "timeout_secs", "say_after"),
    "fail": ("fail",),
    "end": ("end",),
    "goto": ("goto",),
}
STEP_LABEL_SETTINGS = ("goto", "on_timeout", "otherwise", "if_no_agents", "if_closed", "on_ewt_above")
TEMPLATE_SETTINGS = ("say", "end", "fail", "say_after", "set_case")  # the settings templates are filled into
BRANCH_CONDITIONS = ("equals", "not_equals", "in", "above", "below", "present")
