"""The engine's configuration: queues, hours, forms, scenarios, entry/agent/tenant settings, from TOML
and from the admin API's document; every error names its field; documents round-trip."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from frontdesk.domain.config import (
    ContactCenterConfig,
    FormConfig,
    FormField,
    HoursConfig,
    QueueConfig,
    ScenarioConfig,
    Step,
)
from frontdesk.domain.ids import hash_password, verify_password
from frontdesk.settings import (
    DEMO_AGENT_PASSWORD,
    DEMO_AGENT_USERNAME,
    DEMO_TENANT,
    ConfigError,
    contact_center_from_document,
    contact_center_to_document,
    demo_contact_center,
    format_day,
    load_settings,
    parse_settings,
)

BASE_DIR = Path("/nonexistent-base")
TENANT = '[[tenants]]\nname = "t.example"\n'
GENERAL = '[[tenants.queues]]\nid = "general"\n'
ENTRY = '[[tenants.entries]]\napp_id = "web"\nqueue = "general"\n'
HASH = hash_password("pw", salt=bytes(16))

FULL = """
[server]
default_tenant = "support.example.com"

[[tenants]]
name = "support.example.com"
agent_lost_grace_secs = 120

[[tenants.queues]]
id = "general"
name = "General"

[[tenants.queues]]
id = "billing"
name = "Billing"
skills = { billing = 2, english = 5 }
priority = 10
max_wait_secs = 300
overflow = "general"
max_wait_message = "Moving you to the general queue."
offer_timeout_secs = 0
default_handle_secs = 600
dispositions = ["resolved", "refund", "escalated"]

[[tenants.hours]]
id = "office"
timezone = "Europe/Berlin"
weekly = { mon = "09:00-17:00", tue = "09:00-12:00,13:00-17:00", wed = "24h", thu = "00:00-24:00", sat = "closed" }
holidays = ["2026-12-25", "2026-12-26"]

[[tenants.forms]]
name = "contact"
title = "How can we reach you?"
fields = [
  { name = "email", label = "E-mail", type = "email", required = true },
  { name = "topic", type = "choice", choices = ["billing", "other"] },
  { name = "score", type = "rating" },
]

[[tenants.scenarios]]
name = "main"

[[tenants.scenarios.steps]]
say = "Hello {param.first_name}!"

[[tenants.scenarios.steps]]
id = "ask"
form = "contact"
timeout_secs = 120
on_timeout = "bye"

[[tenants.scenarios.steps]]
set_case = "{form.contact.email}"

[[tenants.scenarios.steps]]
branch = [
  { field = "form.contact.topic", equals = "billing", goto = "billing" },
  { field = "form.contact.score", above = 3, goto = "general" },
  { field = "form.contact.email", present = false, goto = "ask" },
  { field = "form.contact.topic", in = ["a", "b"], goto = "general" },
]
otherwise = "general"

[[tenants.scenarios.steps]]
id = "billing"
route = "billing"
priority = 5
skills = { billing = 3 }
if_no_agents = "message"
if_closed = "message"
on_ewt_above = "message"
ewt_above_secs = 600

[[tenants.scenarios.steps]]
id = "general"
route = "general"

[[tenants.scenarios.steps]]
goto = "bye"

[[tenants.scenarios.steps]]
id = "message"
leave_message = "contact"
timeout_secs = 600
say_after = "Thanks, we will write back."

[[tenants.scenarios.steps]]
id = "bye"
end = "Goodbye!"

[[tenants.scenarios.steps]]
fail = ""

[[tenants.scenarios.steps]]
form = "RequestLocation"

[[tenants.scenarios]]
name = "survey"
steps = [ { form = "" }, { end = "" } ]

[[tenants.entries]]
app_id = "web"
queue = "general"
scenario = "main"
survey = "survey"
hours = "office"
widget_configuration = { definition = { forms = [] }, styles = {} }

[[tenants.agents]]
username = "sam"
password = "pw-sam"
skills = { billing = 4, english = 9 }
team = "Billing"
role = "supervisor"

[[tenants.agents]]
username = "root"
password = "pw-root"
role = "admin"
"""


def parse(text: str, base_dir: Path = BASE_DIR) -> ContactCenterConfig:
    return parse_settings(tomllib.loads(text), base_dir).contact_center


def test_every_new_setting_is_read() -> None:
    config = parse(FULL)
    assert config.default_tenant == "support.example.com"
    tenant = config.tenants["support.example.com"]
    assert tenant.agent_lost_grace_secs == 120
    assert tenant.queues["general"] == QueueConfig("general", "General")
    assert tenant.queues["billing"] == QueueConfig(
        "billing", "Billing", skills={"billing": 2, "english": 5}, priority=10, max_wait_secs=300,
        overflow_queue="general", max_wait_message="Moving you to the general queue.", offer_timeout_secs=0,
        default_handle_secs=600, dispositions=("resolved", "refund", "escalated"))
    day = ((9 * 60, 17 * 60),)
    assert tenant.hours["office"] == HoursConfig(
        "office", "Europe/Berlin",
        (day, ((540, 720), (780, 1020)), ((0, 1440),), ((0, 1440),), (), (), ()), ("2026-12-25", "2026-12-26"))
    assert tenant.forms["contact"] == FormConfig("contact", "How can we reach you?", (
        FormField("email", "E-mail", "email", True), FormField("topic", "", "choice", False, ("billing", "other")),
        FormField("score", "", "rating")))
    main = tenant.scenarios["main"]
    assert main.steps[0] == Step("say", {"say": "Hello {param.first_name}!"})
    assert main.steps[1] == Step("form", {"form": "contact", "timeout_secs": 120, "on_timeout": "bye"}, "ask")
    assert main.steps[3].action == "branch"
    assert main.steps[3].args["otherwise"] == "general"
    assert main.steps[3].args["branch"][0] == {"field": "form.contact.topic", "equals": "billing", "goto": "billing"}
    assert main.steps[4] == Step("route", {"route": "billing", "priority": 5, "skills": {"billing": 3},
                                           "if_no_agents": "message", "if_closed": "message",
                                           "on_ewt_above": "message", "ewt_above_secs": 600}, "billing")
    assert [s.action for s in main.steps] == ["say", "form", "set_case", "branch", "route", "route", "goto",
                                              "leave_message", "end", "fail", "form"]
    survey = ScenarioConfig("survey", (Step("form", {"form": ""}), Step("end", {"end": ""})))
    assert tenant.scenarios["survey"] == survey
    entry = tenant.entries["web"]
    assert (entry.scenario, entry.survey, entry.hours) == ("main", "survey", "office")
    assert entry.widget_configuration == {"definition": {"forms": []}, "styles": {}}
    sam, root = tenant.agents
    assert (sam.skills, sam.team, sam.role) == ({"billing": 4, "english": 9}, "Billing", "supervisor")
    assert verify_password("pw-sam", sam.password_hash)
    assert (root.skills, root.team, root.role) == ({}, "", "admin")


def test_defaults() -> None:
    tenant = parse(TENANT + GENERAL + ENTRY + '[[tenants.agents]]\nusername = "a"\npassword = "p"\n'
                   '[[tenants.hours]]\nid = "h"\n').tenants["t.example"]
    assert tenant.agent_lost_grace_secs == 60
    assert tenant.queues["general"] == QueueConfig("general", "")
    queue = tenant.queues["general"]
    assert (queue.offer_timeout_secs, queue.default_handle_secs, queue.max_wait_secs) == (30, 300, 0)
    assert tenant.hours["h"] == HoursConfig("h", "UTC", ((),) * 7, ())
    entry = tenant.entries["web"]
    assert (entry.scenario, entry.survey, entry.hours) == ("", "", "")
    agent = tenant.agents[0]
    assert (agent.skills, agent.team, agent.role) == ({}, "", "agent")
    assert (tenant.forms, tenant.scenarios) == ({}, {})


def test_the_demo_is_a_showcase_of_roles_and_skills() -> None:
    demo = demo_contact_center()
    tenant = demo.tenants[DEMO_TENANT]
    (anna,) = tenant.agents
    assert (anna.username, anna.role, anna.skills) == (DEMO_AGENT_USERNAME, "admin", {"general": 5})
    assert verify_password(DEMO_AGENT_PASSWORD, anna.password_hash)
    assert tenant.queues == {"general": QueueConfig("general", "General")}
    assert tenant.entries["demo"].hours == ""  # always open


def test_load_settings_remembers_its_file(tmp_path: Path) -> None:
    path = tmp_path / "frontdesk.toml"
    path.write_text(TENANT + GENERAL)
    assert load_settings(path).config_file == path
    assert load_settings(None).config_file is None


@pytest.mark.parametrize(("day", "ranges"), [
    ("closed", ()), ("24h", ((0, 1440),)), ("00:00-24:00", ((0, 1440),)), ("08:30-12:00", ((510, 720),)),
    ("09:00-12:00, 12:00-18:00", ((540, 720), (720, 1080))), ("22:00-24:00", ((1320, 1440),)),
])
def test_weekday_formats(day: str, ranges: tuple[tuple[int, int], ...]) -> None:
    hours = parse(TENANT + GENERAL + f'[[tenants.hours]]\nid = "h"\nweekly = {{ fri = "{day}" }}\n')
    assert hours.tenants["t.example"].hours["h"].weekly[4] == ranges
    assert format_day(ranges) in (day.replace(" ", ""), "24h")


Q = TENANT + GENERAL + '[[tenants.queues]]\nid = "b"\n'
H = TENANT + GENERAL + '[[tenants.hours]]\nid = "h"\n'
F = TENANT + GENERAL + '[[tenants.forms]]\nname = "f"\n'
S = TENANT + GENERAL + '[[tenants.forms]]\nname = "contact"\n[[tenants.scenarios]]\nname = "s"\n'


def steps(*items: str) -> str:
    return S + "steps = [" + ", ".join(items) + "]\n"


ERRORS: list[tuple[str, str]] = [
    # tenant
    (TENANT + "agent_lost_grace_secs = 1\n", "tenants[0].agent_lost_grace_secs: must be between 5 and 3600"),
    (TENANT + "agent_lost_grace_secs = 4000\n", "tenants[0].agent_lost_grace_secs: must be between 5 and 3600"),
    # queues
    (Q + "skills = { billing = 11 }\n", "tenants[0].queues[1].skills.billing: a skill level must be between 1 and 10"),
    (Q + "skills = { billing = 0 }\n", "tenants[0].queues[1].skills.billing: a skill level must be between 1 and 10"),
    (Q + 'skills = { billing = "high" }\n', "tenants[0].queues[1].skills.billing: expected int, got str"),
    (Q + "skills = { billing = true }\n", "tenants[0].queues[1].skills.billing: expected a number, got a boolean"),
    (Q + 'skills = ["billing"]\n', "tenants[0].queues[1].skills: expected dict, got list"),
    (Q + "priority = 101\n", "tenants[0].queues[1].priority: must be between -100 and 100"),
    (Q + "priority = -101\n", "tenants[0].queues[1].priority: must be between -100 and 100"),
    (Q + "max_wait_secs = -1\n", "tenants[0].queues[1].max_wait_secs: must be between 0 and"),
    (Q + 'overflow = "x"\n', "tenants[0].queues[1].overflow: unknown queue 'x'"),
    (Q + 'overflow = "b"\n', "tenants[0].queues[1].overflow: a queue cannot overflow to itself"),
    (TENANT + '[[tenants.queues]]\nid = "a"\noverflow = "b"\n[[tenants.queues]]\nid = "b"\noverflow = "c"\n'
     '[[tenants.queues]]\nid = "c"\noverflow = "a"\n', "tenants[0].queues[0].overflow: overflow loop a → b → c → a"),
    (Q + "max_wait_message = 5\n", "tenants[0].queues[1].max_wait_message: expected str, got int"),
    (Q + "offer_timeout_secs = 4\n", "tenants[0].queues[1].offer_timeout_secs: must be between 5 and 3600 (or 0)"),
    (Q + "offer_timeout_secs = 3601\n", "tenants[0].queues[1].offer_timeout_secs: must be between 5 and 3600"),
    (Q + "default_handle_secs = 9\n", "tenants[0].queues[1].default_handle_secs: must be between 10 and 86400"),
    (Q + "default_handle_secs = 86401\n", "tenants[0].queues[1].default_handle_secs: must be between 10 and 86400"),
    (Q + 'dispositions = ["ok", 2]\n', "tenants[0].queues[1].dispositions[1]: expected str, got int"),
    (Q + 'dispositions = "ok"\n', "tenants[0].queues[1].dispositions: expected list, got str"),
    (Q + 'colour = "red"\n', "tenants[0].queues[1].colour: unknown setting"),
    (TENANT + GENERAL + GENERAL, "tenants[0].queues[1].id: duplicate queue 'general'"),
    # hours
    (H + 'timezone = "Mars/Olympus_Mons"\n', "tenants[0].hours[0].timezone: unknown time zone 'Mars/Olympus_Mons'"),
    (H + 'timezone = "../etc/passwd"\n', "tenants[0].hours[0].timezone: unknown time zone"),
    (H + 'weekly = { mon = "9-17" }\n', "tenants[0].hours[0].weekly.mon: expected 'HH:MM-HH:MM' ranges"),
    (H + 'weekly = { tue = "09:00" }\n', "tenants[0].hours[0].weekly.tue: expected 'HH:MM-HH:MM' ranges"),
    (H + 'weekly = { wed = "25:00-26:00" }\n', "tenants[0].hours[0].weekly.wed: expected 'HH:MM-HH:MM' ranges"),
    (H + 'weekly = { thu = "09:60-10:00" }\n', "tenants[0].hours[0].weekly.thu: expected 'HH:MM-HH:MM' ranges"),
    (H + 'weekly = { fri = "24:00-24:00" }\n', "tenants[0].hours[0].weekly.fri: expected 'HH:MM-HH:MM' ranges"),
    (H + 'weekly = { sat = "17:00-09:00" }\n',
     "tenants[0].hours[0].weekly.sat: '17:00-09:00' must end after it starts"),
    (H + 'weekly = { sun = "10:00-10:00" }\n', "tenants[0].hours[0].weekly.sun: '10:00-10:00' must end after"),
    (H + 'weekly = { mon = "09:00-12:00,11:00-13:00" }\n',
     "tenants[0].hours[0].weekly.mon: ranges must be in order and must not overlap"),
    (H + 'weekly = { mon = "13:00-14:00,09:00-10:00" }\n', "tenants[0].hours[0].weekly.mon: ranges must be in order"),
    (H + 'weekly = { mon = "open" }\n', "tenants[0].hours[0].weekly.mon: expected 'HH:MM-HH:MM' ranges, '24h' or"),
    (H + 'weekly = { funday = "24h" }\n', "tenants[0].hours[0].weekly.funday: unknown setting"),
    (H + "weekly = { mon = 9 }\n", "tenants[0].hours[0].weekly.mon: expected str, got int"),
    (H + 'weekly = "24h"\n', "tenants[0].hours[0].weekly: expected a table, got str"),
    (H + 'holidays = ["2026-13-01"]\n',
     "tenants[0].hours[0].holidays[0]: expected a date YYYY-MM-DD, got '2026-13-01'"),
    (H + 'holidays = ["2026-12-25", "20261226"]\n', "tenants[0].hours[0].holidays[1]: expected a date YYYY-MM-DD"),
    (H + "holidays = [2026-12-25]\n", "tenants[0].hours[0].holidays[0]: expected str, got date"),
    (TENANT + '[[tenants.hours]]\ntimezone = "UTC"\n', "tenants[0].hours[0].id: required"),
    (H + '[[tenants.hours]]\nid = "h"\n', "tenants[0].hours[1].id: duplicate hours 'h'"),
    (H + 'days = "all"\n', "tenants[0].hours[0].days: unknown setting"),
    # forms
    (F + 'fields = [{ name = "x", type = "colour" }]\n',
     "tenants[0].forms[0].fields[0].type: must be one of text, email, phone, number, choice, rating"),
    (F + 'fields = [{ name = "x", type = "choice" }]\n', "tenants[0].forms[0].fields[0].choices: a choice field needs"),
    (F + 'fields = [{ name = "x", choices = ["a"] }]\n', "tenants[0].forms[0].fields[0].choices: only a choice field"),
    (F + 'fields = [{ name = "x" }, { name = "x" }]\n', "tenants[0].forms[0].fields[1].name: duplicate field 'x'"),
    (F + 'fields = [{ label = "X" }]\n', "tenants[0].forms[0].fields[0].name: required"),
    (F + 'fields = [{ name = "x", required = "yes" }]\n', "tenants[0].forms[0].fields[0].required: expected bool"),
    (F + 'fields = [{ name = "x", hint = "?" }]\n', "tenants[0].forms[0].fields[0].hint: unknown setting"),
    (F + 'fields = ["x"]\n', "tenants[0].forms[0].fields[0]: expected a table"),
    (F + "title = 3\n", "tenants[0].forms[0].title: expected str, got int"),
    (TENANT + '[[tenants.forms]]\nname = "RequestLocation"\n',
     "tenants[0].forms[0].name: 'RequestLocation' is reserved"),
    (TENANT + '[[tenants.forms]]\nname = ""\n', "tenants[0].forms[0].name: must not be empty"),
    (F + '[[tenants.forms]]\nname = "f"\n', "tenants[0].forms[1].name: duplicate form 'f'"),
    # scenarios: actions and their settings
    (steps("{}"), "tenants[0].scenarios[0].steps[0]: a step needs exactly one action of say, form, branch, "
                  "set_case, route, leave_message, fail, end, goto; got none"),
    (steps('{ dance = "x" }'), "tenants[0].scenarios[0].steps[0]: a step needs exactly one action"),
    (steps('{ say = "a", end = "" }'),
     "tenants[0].scenarios[0].steps[0]: a step needs exactly one action of say, "
     "form, branch, set_case, route, leave_message, fail, end, goto; got say and end"),
    (steps('"say"'), "tenants[0].scenarios[0].steps[0]: expected a table"),
    (steps('{ say = "a", timeout_secs = 3 }'),
     "tenants[0].scenarios[0].steps[0].timeout_secs: not a setting of a say step (it takes say)"),
    (steps('{ say = "a" }', '{ end = "", colour = "red" }'),
     "tenants[0].scenarios[0].steps[1].colour: not a setting of an end step (it takes end)"),
    (steps("{ say = 1 }"), "tenants[0].scenarios[0].steps[0].say: expected str, got int"),
    (steps("{ set_case = true }"), "tenants[0].scenarios[0].steps[0].set_case: expected str, got bool"),
    (steps("{ fail = 0 }"), "tenants[0].scenarios[0].steps[0].fail: expected str, got int"),
    (steps("{ end = [] }"), "tenants[0].scenarios[0].steps[0].end: expected str, got list"),
    (steps('{ form = "nope" }'), "tenants[0].scenarios[0].steps[0].form: unknown form 'nope'"),
    (steps('{ form = "contact", timeout_secs = 0 }'),
     "tenants[0].scenarios[0].steps[0].timeout_secs: must be between 1 and 86400"),
    (steps('{ form = "contact", timeout_secs = 86401 }'), "tenants[0].scenarios[0].steps[0].timeout_secs: must be"),
    (steps('{ form = "contact", on_timeout = "later" }'),
     "tenants[0].scenarios[0].steps[0].on_timeout: unknown step id 'later'"),
    (steps('{ leave_message = "nope" }'), "tenants[0].scenarios[0].steps[0].leave_message: unknown form 'nope'"),
    (steps('{ leave_message = "contact", timeout_secs = -1 }'),
     "tenants[0].scenarios[0].steps[0].timeout_secs: must be between 1 and 86400"),
    (steps('{ leave_message = "contact", say_after = 1 }'), "tenants[0].scenarios[0].steps[0].say_after: expected str"),
    (steps('{ route = "nope" }'), "tenants[0].scenarios[0].steps[0].route: unknown queue 'nope'"),
    (steps('{ route = "general", priority = 500 }'),
     "tenants[0].scenarios[0].steps[0].priority: must be between -100 and 100"),
    (steps('{ route = "general", skills = { a = 0 } }'),
     "tenants[0].scenarios[0].steps[0].skills.a: a skill level must be between 1 and 10"),
    (steps('{ route = "general", if_no_agents = "x" }'),
     "tenants[0].scenarios[0].steps[0].if_no_agents: unknown step id 'x'"),
    (steps('{ route = "general", if_closed = "x" }'),
     "tenants[0].scenarios[0].steps[0].if_closed: unknown step id 'x'"),
    (steps('{ route = "general", on_ewt_above = "x", ewt_above_secs = 60 }'),
     "tenants[0].scenarios[0].steps[0].on_ewt_above: unknown step id 'x'"),
    (steps('{ id = "x", route = "general", on_ewt_above = "x" }'),
     "tenants[0].scenarios[0].steps[0].ewt_above_secs: required with on_ewt_above"),
    (steps('{ route = "general", ewt_above_secs = 60 }'),
     "tenants[0].scenarios[0].steps[0].ewt_above_secs: only with on_ewt_above"),
    (steps('{ id = "x", route = "general", on_ewt_above = "x", ewt_above_secs = -5 }'),
     "tenants[0].scenarios[0].steps[0].ewt_above_secs: must be between 0 and 86400"),
    (steps('{ goto = "nowhere" }'), "tenants[0].scenarios[0].steps[0].goto: unknown step id 'nowhere'"),
    (steps('{ goto = 3 }'), "tenants[0].scenarios[0].steps[0].goto: expected str, got int"),
    (steps("{ branch = [] }"), "tenants[0].scenarios[0].steps[0].branch: needs at least one rule"),
    (steps('{ branch = "x" }'), "tenants[0].scenarios[0].steps[0].branch: expected list, got str"),
    (steps('{ id = "a", branch = [{ field = "param.x", equals = "y", above = 3, goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0]: a rule needs exactly one of equals, not_equals, in, above, below, "
     "present"),
    (steps('{ id = "a", branch = [{ field = "param.x", goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0]: a rule needs exactly one of"),
    (steps('{ id = "a", branch = [{ field = "param.x", equals = "y" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].goto: required"),
    (steps('{ id = "a", branch = [{ equals = "y", goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].field: required"),
    (steps('{ id = "a", branch = [{ field = "param.x", equals = "y", goto = "b" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].goto: unknown step id 'b'"),
    (steps('{ id = "a", branch = [{ field = "param.x", present = true, goto = "a" }], otherwise = "b" }'),
     "tenants[0].scenarios[0].steps[0].otherwise: unknown step id 'b'"),
    (steps('{ id = "a", branch = [{ field = "param.x", above = "3", goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].above: expected int or float, got str"),
    (steps('{ id = "a", branch = [{ field = "param.x", below = true, goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].below: expected a number, got a boolean"),
    (steps('{ id = "a", branch = [{ field = "param.x", present = "yes", goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].present: expected bool"),
    (steps('{ id = "a", branch = [{ field = "param.x", in = "abc", goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].in: expected list"),
    (steps('{ id = "a", branch = [{ field = "param.x", in = ["a", {}], goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].in[1]: expected str or int or float, got dict"),
    (steps('{ id = "a", branch = [{ field = "param.x", equals = [], goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].equals: expected str or int or float or bool, got list"),
    (steps('{ id = "a", branch = [{ field = "param.x", equals = "y", goto = "a", colour = 1 }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].colour: unknown setting"),
    # scenarios: labels
    (steps('{ id = "a", say = "1" }', '{ id = "a", say = "2" }'),
     "tenants[0].scenarios[0].steps[1].id: duplicate step id 'a'"),
    (steps('{ id = "", say = "1" }'), "tenants[0].scenarios[0].steps[0].id: must not be empty"),
    (steps('{ id = 1, say = "1" }'), "tenants[0].scenarios[0].steps[0].id: expected str, got int"),
    (S + 'steps = [{ say = "x" }]\n[[tenants.scenarios]]\nname = "s"\n',
     "tenants[0].scenarios[1].name: duplicate scenario 's'"),
    (S + "colour = 1\n", "tenants[0].scenarios[0].colour: unknown setting"),
    (TENANT + '[[tenants.scenarios]]\nsteps = []\n', "tenants[0].scenarios[0].name: required"),
    # entries
    (TENANT + GENERAL + ENTRY + 'scenario = "nope"\n', "tenants[0].entries[0].scenario: unknown scenario 'nope'"),
    (TENANT + GENERAL + ENTRY + 'survey = "nope"\n', "tenants[0].entries[0].survey: unknown scenario 'nope'"),
    (TENANT + GENERAL + ENTRY + 'hours = "nope"\n', "tenants[0].entries[0].hours: unknown hours 'nope'"),
    (TENANT + GENERAL + ENTRY + "hours = 1\n", "tenants[0].entries[0].hours: expected str, got int"),
    (TENANT + GENERAL + ENTRY + 'widget_configuration = {}\nwidget_configuration_file = "w.json"\n',
     "tenants[0].entries[0].widget_configuration: give widget_configuration or widget_configuration_file"),
    (TENANT + GENERAL + ENTRY + 'widget_configuration = "x"\n',
     "tenants[0].entries[0].widget_configuration: expected dict, got str"),
    # agents
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword = "p"\nrole = "boss"\n',
     "tenants[0].agents[0].role: must be one of agent, supervisor, admin"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword = "p"\nskills = { x = 0 }\n',
     "tenants[0].agents[0].skills.x: a skill level must be between 1 and 10"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword = "p"\nskills = { x = 1.5 }\n',
     "tenants[0].agents[0].skills.x: expected int, got float"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword = "p"\nteam = 1\n',
     "tenants[0].agents[0].team: expected str, got int"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\n',
     "tenants[0].agents[0].password: give exactly one of password or password_hash"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword = "p"\npassword_hash = "' + HASH + '"\n',
     "tenants[0].agents[0].password: give exactly one of password or password_hash"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword_hash = "scrypt$…"\n',
     "tenants[0].agents[0].password_hash: not a password hash of frontdesk"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword_hash = "' + HASH[:-1] + '"\n',
     "tenants[0].agents[0].password_hash: not a password hash of frontdesk"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword_hash = "md5$' + HASH[7:] + '"\n',
     "tenants[0].agents[0].password_hash: not a password hash of frontdesk"),
    (TENANT + '[[tenants.agents]]\nusername = "a"\npassword_hash = "' + hash_password("pw", cost=4) + '"\n',
     "tenants[0].agents[0].password_hash: not a password hash of frontdesk"),  # a test-only cheap hash
    # templates and branch fields name something that exists
    (steps('{ say = "Hello {first_name}!" }'),
     "tenants[0].scenarios[0].steps[0].say: unknown template name '{first_name}' (templates name param.<name>, "
     "form.<form>.<field>, hours, client, case, ewt.<queue> or agents.<queue>)"),
    (steps('{ end = "Bye {param.name}, see {form.other.email}" }'),
     "tenants[0].scenarios[0].steps[0].end: unknown template name '{form.other.email}'"),
    (S.replace('name = "contact"\n', 'name = "contact"\nfields = [{ name = "email" }]\n')
     + 'steps = [{ say = "{form.contact.phone}" }]\n',
     "tenants[0].scenarios[0].steps[0].say: unknown template name '{form.contact.phone}'"),
    (steps('{ fail = "{ewt.nope}" }'), "tenants[0].scenarios[0].steps[0].fail: unknown template name '{ewt.nope}'"),
    (steps('{ set_case = "{agents.billing}" }'),
     "tenants[0].scenarios[0].steps[0].set_case: unknown template name '{agents.billing}'"),
    (steps('{ leave_message = "contact", say_after = "{form.RequestLocation.city}" }'),
     "tenants[0].scenarios[0].steps[0].say_after: unknown template name '{form.RequestLocation.city}'"),
    (steps('{ id = "a", branch = [{ field = "topic", equals = "x", goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].field: unknown field 'topic' (fields are param.<name>, "),
    (steps('{ id = "a", branch = [{ field = "form.nope.x", equals = "x", goto = "a" }] }'),
     "tenants[0].scenarios[0].steps[0].branch[0].field: unknown field 'form.nope.x'"),
    (steps('{ id = "a", say = "1" }', '{ goto = "b" }', '{ say = "{x}" }'),
     "tenants[0].scenarios[0].steps[1].goto: unknown step id 'b' (and 1 more)"),
    # allowed_origins: scheme://host[:port], * only as a whole leading label or as the port
    *[(TENANT + GENERAL + ENTRY + f'allowed_origins = ["https://ok.example", "{origin}"]\n',
       f"tenants[0].entries[0].allowed_origins[1]: '{origin}'")
      for origin in ("https://example.com/", "https://example.com/path", "ftp://example.com", "example.com",
                     "https://*.example.com/x", "https://a.*.example.com", "https://*example.com", "*",
                     "https://*", "http://localhost:99999", "http://localhost:8o", "https://exa mple.com",
                     "https://example.com?x=1", "https://user@example.com", "https://**.example.com")],
    (TENANT + GENERAL + ENTRY + 'allowed_origins = "https://example.com"\n',
     "tenants[0].entries[0].allowed_origins: expected list, got str"),
]


@pytest.mark.parametrize(("toml", "message"), ERRORS)
def test_every_error_names_its_field(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(toml)
    assert str(caught.value).startswith(message), str(caught.value)


def test_scenario_step_labels_may_point_anywhere_in_the_scenario() -> None:
    config = parse(steps('{ goto = "last" }', '{ id = "last", end = "" }'))
    (goto, end) = config.tenants["t.example"].scenarios["s"].steps
    assert (goto.action, goto.args, goto.label) == ("goto", {"goto": "last"}, "")
    assert (end.action, end.args, end.label) == ("end", {"end": ""}, "last")


def test_labels_of_another_scenario_do_not_count() -> None:
    with pytest.raises(ConfigError, match=r"scenarios\[1\]\.steps\[0\]\.goto: unknown step id 'x'"):
        parse(steps('{ id = "x", end = "" }') + '[[tenants.scenarios]]\nname = "t"\nsteps = [{ goto = "x" }]\n')


# ---- documents -----------------------------------------------------------------------------------------


def test_a_document_round_trips() -> None:
    config = parse(FULL)
    doc = contact_center_to_document(config)
    wire = json.loads(json.dumps(doc))  # what the admin API sends and receives
    again = contact_center_from_document(wire, BASE_DIR, current=config)
    assert again == config
    assert contact_center_to_document(again) == doc
    assert "password" not in json.dumps(doc)
    assert "scrypt$" not in json.dumps(doc)


def test_the_demo_round_trips_keeping_its_password() -> None:
    demo = demo_contact_center()
    doc = contact_center_to_document(demo)
    assert doc["default_tenant"] == DEMO_TENANT
    (agent,) = doc["tenants"][0]["agents"]
    assert agent == {"username": "anna", "first_name": "Anna", "last_name": "Lee", "display_name": "Anna",
                     "max_chats": 3, "auto_accept": False, "skills": {"general": 5}, "team": "", "role": "admin"}
    assert contact_center_from_document(doc, BASE_DIR, current=demo) == demo


def test_a_document_needs_a_password_for_an_agent_the_running_config_does_not_have() -> None:
    doc = contact_center_to_document(demo_contact_center())
    with pytest.raises(ConfigError, match=r"^tenants\[0\]\.agents\[0\]\.password: give exactly one"):
        contact_center_from_document(doc, BASE_DIR)
    doc["tenants"][0]["agents"][0]["username"] = "someone-new"
    with pytest.raises(ConfigError, match="give exactly one"):
        contact_center_from_document(doc, BASE_DIR, current=demo_contact_center())
    doc["tenants"][0]["agents"][0]["password"] = "new-password"
    config = contact_center_from_document(doc, BASE_DIR, current=demo_contact_center())
    assert verify_password("new-password", config.tenants[DEMO_TENANT].agents[0].password_hash)


def test_a_document_may_change_a_password() -> None:
    demo = demo_contact_center()
    doc = contact_center_to_document(demo)
    doc["tenants"][0]["agents"][0]["password"] = "changed"
    (anna,) = contact_center_from_document(doc, BASE_DIR, current=demo).tenants[DEMO_TENANT].agents
    assert verify_password("changed", anna.password_hash)
    assert not verify_password(DEMO_AGENT_PASSWORD, anna.password_hash)


def test_the_widget_configuration_and_files_round_trip(tmp_path: Path) -> None:
    (tmp_path / "widget.json").write_text('{"definition": {"custom": true}}')
    (tmp_path / "icon.png").write_bytes(b"png")
    (tmp_path / "sam.jpg").write_bytes(b"jpg")
    config = parse(TENANT + GENERAL + ENTRY + 'widget_configuration_file = "widget.json"\nchat_icon = "icon.png"\n'
                   '[[tenants.agents]]\nusername = "sam"\npassword = "p"\nphoto = "sam.jpg"\n', tmp_path)
    doc = contact_center_to_document(config)
    entry = doc["tenants"][0]["entries"][0]
    assert entry["widget_configuration"] == {"definition": {"custom": True}}
    assert entry["chat_icon"] == str((tmp_path / "icon.png").resolve())
    assert doc["tenants"][0]["agents"][0]["photo"] == str((tmp_path / "sam.jpg").resolve())
    assert contact_center_from_document(doc, Path("/elsewhere"), current=config) == config
    plain = contact_center_to_document(parse(TENANT + GENERAL + ENTRY))
    assert "widget_configuration" not in plain["tenants"][0]["entries"][0]


def _doc(**tenant: Any) -> dict[str, Any]:
    return {"tenants": [{"name": "t.example", "queues": [{"id": "general"}], **tenant}]}


@pytest.mark.parametrize(("doc", "message"), [
    (_doc(queues=[{"id": "q", "priority": "high"}]), "tenants[0].queues[0].priority: expected int, got str"),
    (_doc(queues=[{"id": "q", "max_wait_secs": 5.0}]), "tenants[0].queues[0].max_wait_secs: expected int, got float"),
    (_doc(hours=[{"id": "h", "timezone": "Nowhere/City"}]), "tenants[0].hours[0].timezone: unknown time zone"),
    (_doc(scenarios=[{"name": "s", "steps": [{"route": "x"}]}]), "tenants[0].scenarios[0].steps[0].route: unknown"),
    (_doc(agents=[{"username": "a", "password": "p", "role": "root"}]), "tenants[0].agents[0].role: must be one of"),
    ({**_doc(), "colour": "red"}, "colour: unknown setting"),
    ({**_doc(), "default_tenant": "other.example"}, "default_tenant: unknown tenant 'other.example'"),
    ({**_doc(), "server": {"port": 1}}, "server: unknown setting"),
    ({"tenants": []}, "tenants: at least one tenant is required"),
    ({"tenants": {}}, "tenants: expected list, got dict"),
    ({"tenants": [{"name": "a.example"}, {"name": "a.example"}]}, "tenants[1].name: duplicate tenant 'a.example'"),
])
def test_document_errors_name_their_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        contact_center_from_document(doc, BASE_DIR)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_document_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="document: expected an object"):
        contact_center_from_document([], BASE_DIR)  # type: ignore[arg-type]


def test_a_document_is_copied_not_shared() -> None:
    rule = {"field": "param.x", "in": ["y"], "goto": "a"}
    doc = _doc(scenarios=[{"name": "s", "steps": [{"id": "a", "branch": [rule]}]}])
    config = contact_center_from_document(doc, BASE_DIR)
    doc["tenants"][0]["scenarios"][0]["steps"][0]["branch"][0]["in"].append("z")
    assert config.tenants["t.example"].scenarios["s"].steps[0].args["branch"][0]["in"] == ["y"]


def test_templates_and_fields_that_name_something_are_accepted() -> None:
    config = parse(S.replace('name = "contact"\n', 'name = "contact"\nfields = [{ name = "email" }]\n') + "steps = ["
                   '{ say = "Hi {param.first_name} ({client}, {hours}, {case}) {ewt.general} {agents.general}" }, '
                   '{ id = "a", form = "contact" }, { form = "" }, { form = "RequestLocation" }, '
                   '{ set_case = "{form.contact.email}-{form..text}-{form.RequestLocation.location_lat}" }, '
                   '{ branch = [{ field = "param.vip.level", above = 2, goto = "a" }, '
                   '{ field = "ewt.general", below = 60.5, goto = "a" }] }, { end = "Bye {param.first_name}" }]\n')
    steps_read = config.tenants["t.example"].scenarios["s"].steps
    assert steps_read[5].args["branch"][1] == {"field": "ewt.general", "below": 60.5, "goto": "a"}
    assert steps_read[5].args["branch"][0]["above"] == 2  # kept as written, an integer


def test_allowed_origins_are_read_lower_cased_and_round_trip() -> None:
    origins = ["https://www.example.com", "https://*.Example.com", "http://localhost:*", "http://127.0.0.1:8080",
               "http://[::1]:3000"]
    config = parse(TENANT + GENERAL + ENTRY + f"allowed_origins = {json.dumps(origins)}\n")
    entry = config.tenants["t.example"].entries["web"]
    assert entry.allowed_origins == ("https://www.example.com", "https://*.example.com", "http://localhost:*",
                                     "http://127.0.0.1:8080", "http://[::1]:3000")
    assert parse(TENANT + GENERAL + ENTRY).tenants["t.example"].entries["web"].allowed_origins == ()
    doc = contact_center_to_document(config)
    assert doc["tenants"][0]["entries"][0]["allowed_origins"] == list(entry.allowed_origins)
    assert contact_center_from_document(doc, BASE_DIR) == config


def test_the_demo_allows_its_own_pages_on_localhost() -> None:
    (entry,) = demo_contact_center().tenants[DEMO_TENANT].entries.values()
    assert entry.allowed_origins == ("http://localhost:*", "http://127.0.0.1:*")


def test_a_password_hash_of_hash_password_is_accepted() -> None:
    config = parse(TENANT + f'[[tenants.agents]]\nusername = "a"\npassword_hash = "{HASH}"\n')
    (agent,) = config.tenants["t.example"].agents
    assert agent.password_hash == HASH and verify_password("pw", agent.password_hash)


def test_every_error_is_reported_not_only_the_first() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(TENANT + GENERAL + '[[tenants.queues]]\nid = "b"\npriority = 500\ncolour = 1\n'
              '[[tenants.agents]]\nusername = "a"\npassword = "p"\nmax_chats = 0\n')
    assert caught.value.errors == ["tenants[0].queues[1].priority: must be between -100 and 100",
                                   "tenants[0].queues[1].colour: unknown setting",
                                   "tenants[0].agents[0].max_chats: must be between 1 and 100"]
    assert str(caught.value) == "tenants[0].queues[1].priority: must be between -100 and 100 (and 2 more)"


def test_password_hashes_carry_a_cost_other_than_the_default() -> None:
    cheap = hash_password("pw", salt=bytes(16), cost=4)
    assert cheap.startswith("scrypt$4$") and verify_password("pw", cheap) and not verify_password("px", cheap)
    assert HASH.count("$") == 2 and verify_password("pw", HASH)
    dearer = "scrypt$20$" + HASH.removeprefix("scrypt$")  # a stored hash may not make a login dearer
    for broken in (dearer, "scrypt$zz$" + "0" * 64, "scrypt$x$4$" + "0" * 64, "scrypt$4$" + "0" * 32):
        assert not verify_password("pw", broken)
