"""A tenant's tables: queues, hours, forms, scenarios, entries and agents (docs/configuration.md).

Each model checks its own table; names one table gives another (an entry's queue, an overflow, a
step's form) are checked in ``references.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from frontdesk.domain.config import (
    DEFAULT_INACTIVITY_TIMEOUT_MSG,
    DEFAULT_INACTIVITY_WARNING_MSG,
    PARAMETER_TYPES,
    ROLES,
    QueueConfig,
)
from frontdesk.domain.ids import is_password_hash
from frontdesk.settings.errors import field_error
from frontdesk.settings.fields import Between, Model, NonEmpty, NotNegative, OneOf, Skills
from frontdesk.settings.hours import HoursModel
from frontdesk.settings.origins import Origin
from frontdesk.settings.scenarios import ScenarioModel
from frontdesk.settings.vocabulary import (
    AGENT_LOST_GRACE_SECS,
    BUILTIN_FORMS,
    FORM_FIELD_TYPES,
    HANDLE_SECS,
    MAX_CHATS,
    MAX_WAIT_SECS,
    OFFER_TIMEOUT_SECS,
    QUEUE_PRIORITIES,
    UNAVAILABLE_VALUES,
)

_QUEUE = QueueConfig("", "")


class QueueModel(Model):
    id: NonEmpty
    name: str = ""
    skills: Annotated[Skills, Field(description="skill → minimum level an agent needs")] = Field(
        default_factory=dict)
    priority: Annotated[int, Between(*QUEUE_PRIORITIES)] = 0
    max_wait_secs: Annotated[int, Between(*MAX_WAIT_SECS), Field(description="0: no limit")] = 0
    overflow: str = ""
    max_wait_message: str = _QUEUE.max_wait_message
    offer_timeout_secs: Annotated[int, Between(*OFFER_TIMEOUT_SECS, also=0), Field(
        description="0: an offer never times out")] = _QUEUE.offer_timeout_secs
    default_handle_secs: Annotated[int, Between(*HANDLE_SECS)] = _QUEUE.default_handle_secs
    dispositions: list[str] = Field(default_factory=list)


class FormFieldModel(Model):
    name: NonEmpty
    label: str = ""
    type: Annotated[str, OneOf(FORM_FIELD_TYPES)] = "text"
    required: bool = False
    choices: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _choices(self) -> FormFieldModel:
        if self.type == "choice" and not self.choices:
            raise field_error("a choice field needs choices", ["choices"])
        if self.type != "choice" and self.choices:
            raise field_error("only a choice field has choices", ["choices"])
        return self


def _form_name(name: str) -> str:
    if name in BUILTIN_FORMS:
        raise field_error(f"'{name}' is reserved" if name else "must not be empty")
    return name


class FormModel(Model):
    name: Annotated[str, AfterValidator(_form_name), Field(description="not '' nor 'RequestLocation' (built in)")]
    title: str = ""
    fields: list[FormFieldModel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_fields(self) -> FormModel:
        seen: set[str] = set()
        for i, form_field in enumerate(self.fields):
            if form_field.name in seen:
                raise field_error(f"duplicate field '{form_field.name}'", ["fields", i, "name"])
            seen.add(form_field.name)
        return self


class ParameterModel(Model):
    name: str
    type: Annotated[str, OneOf(PARAMETER_TYPES)] = "TEXT"


class IceServerModel(Model):
    url: str
    username: str | None = None
    credential: str | None = None


class EntryModel(Model):
    app_id: str
    name: Annotated[str | None, Field(description="default: the app_id")] = None
    queue: str
    enabled: bool = True
    parameters: list[ParameterModel] = Field(default_factory=list)
    ice_servers: list[IceServerModel] = Field(default_factory=list)
    widget_configuration_file: str = ""
    widget_configuration: dict[str, Any] | None = None
    welcome_message: str = ""
    bot_name: str = "Assistant"
    inactivity_warning_secs: NotNegative = 120
    inactivity_timeout_secs: Annotated[NotNegative, Field(description="0 disables both")] = 180
    inactivity_warning_msg: str = DEFAULT_INACTIVITY_WARNING_MSG
    inactivity_timeout_msg: str = DEFAULT_INACTIVITY_TIMEOUT_MSG
    unavailable_value: Annotated[str, OneOf(UNAVAILABLE_VALUES)] = "notAvailable"
    push_enabled: bool = True
    chat_icon: str = ""
    scenario: str = ""
    survey: str = ""
    hours: str = ""
    allowed_origins: Annotated[list[Origin], Field(
        description="site origins allowed credentialed CORS")] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> EntryModel:
        if self.widget_configuration is not None and self.widget_configuration_file:
            raise field_error("give widget_configuration or widget_configuration_file, not both",
                              ["widget_configuration"])
        timeout, warning = self.inactivity_timeout_secs, self.inactivity_warning_secs
        if timeout and warning >= timeout:
            raise field_error("must be below inactivity_timeout_secs", ["inactivity_warning_secs"])
        return self


def _password_hash(text: str | None) -> str | None:
    if text is not None and not is_password_hash(text):
        raise field_error("not a password hash of frontdesk (`frontdesk hash-password` prints one: "
                          "scrypt$<32 hex digits>$<64 hex digits>)")
    return text


class AgentModel(Model):
    username: NonEmpty
    password: Annotated[str | None, Field(description="plain text, for tests and demos")] = None
    password_hash: Annotated[str | None, AfterValidator(_password_hash),
                             Field(description="from `frontdesk hash-password`")] = None
    first_name: Annotated[str | None, Field(description="default: the username")] = None
    last_name: str = ""
    display_name: Annotated[str | None, Field(description="default: the first name")] = None
    max_chats: Annotated[int, Between(*MAX_CHATS)] = 3
    photo: str = ""
    auto_accept: bool = False
    skills: Skills = Field(default_factory=dict)
    team: str = ""
    role: Annotated[str, OneOf(ROLES)] = "agent"

    @model_validator(mode="after")
    def _one_password(self) -> AgentModel:
        if self.password is not None and self.password_hash is not None:
            raise field_error("give exactly one of password or password_hash", ["password"])
        return self


class TenantModel(Model):
    name: Annotated[str, Field(description="matched against tenantUrl, then the Host header")]
    aliases: list[str] = Field(default_factory=list)
    max_stored_files: NotNegative = 1000
    agent_lost_grace_secs: Annotated[int, Between(*AGENT_LOST_GRACE_SECS)] = 60
    queues: list[QueueModel] = Field(default_factory=list)
    hours: list[HoursModel] = Field(default_factory=list)
    forms: list[FormModel] = Field(default_factory=list)
    scenarios: list[ScenarioModel] = Field(default_factory=list)
    entries: list[EntryModel] = Field(default_factory=list)
    agents: list[AgentModel] = Field(default_factory=list)


def _some_tenant(tenants: list[TenantModel]) -> list[TenantModel]:
    if not tenants:
        raise field_error("at least one tenant is required")
    return tenants


Tenants = Annotated[list[TenantModel], AfterValidator(_some_tenant), Field(json_schema_extra={"minItems": 1})]


class DocumentModel(Model):
    """The contact-center configuration as the admin API reads and writes it."""

    default_tenant: str = ""
    tenants: Tenants = Field(default_factory=list, validate_default=True)
