"""The worked example (examples/support.toml) can be followed at any hour, and still shows the
out-of-hours flow when its entry uses the office hours."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from frontdesk.client import CustomerClient
from frontdesk.domain.clock import FakeClock
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.settings import Settings, load_settings
from tests.conftest import StartServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "support.toml"
BERLIN = ZoneInfo("Europe/Berlin")


def example(hours: str | None = None) -> Settings:
    settings = load_settings(EXAMPLE)
    if hours is None:
        return settings
    (tenant,) = settings.contact_center.tenants.values()
    entries = {k: replace(e, hours=hours) for k, e in tenant.entries.items()}
    center = ContactCenterConfig({tenant.name: replace(tenant, entries=entries)}, tenant.name)
    return replace(settings, contact_center=center)


def at(day: int, hour: int) -> float:
    """December 2026 in Berlin: the 5th is a Saturday, the 6th a Sunday, the 24th Christmas Eve."""
    return dt.datetime(2026, 12, day, hour, 30, tzinfo=BERLIN).timestamp()


@pytest.mark.parametrize(("day", "hour"), [(5, 3), (6, 23), (7, 7), (9, 12), (11, 17), (24, 10)])
async def test_the_example_is_open_around_the_clock(start_server: StartServer, day: int, hour: int) -> None:
    live = await start_server(settings=example(), clock=FakeClock(at(day, hour)))
    async with CustomerClient(live.base_url, app_id="support", client_id="phone-1",
                              tenant_url="support.example.com") as customer:
        assert (await customer.availability())["chat"] == "available"
        chat = await customer.request_chat({"first_name": "Ada"})
        texts = [e.get("msg") for e in await customer.poll(str(chat["chat_id"]))]
        assert "Hello Ada! Welcome to Example support." in texts
        assert not any("We are closed" in str(t) for t in texts)


async def test_with_office_hours_a_saturday_chat_gets_the_closed_flow(start_server: StartServer) -> None:
    live = await start_server(settings=example(hours="office"), clock=FakeClock(at(5, 11)))
    async with CustomerClient(live.base_url, app_id="support", client_id="phone-2",
                              tenant_url="support.example.com") as customer:
        assert (await customer.availability())["chat"] == "notAvailable"
        chat = await customer.request_chat({"first_name": "Ada"})
        events = await customer.poll(str(chat["chat_id"]))
        texts = [e.get("msg") for e in events]
        assert "We are closed right now (Monday to Thursday 8:00-18:00, Friday 8:00-16:00)." in texts
        shown = [e for e in events if e["event"] == "chat_session_form_show"]
        assert [e["form_name"] for e in shown] == ["contact"]
