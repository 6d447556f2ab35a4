"""The base of the domain services: the journal they act through and the live configuration."""

from __future__ import annotations

import inspect
from typing import Any

from frontdesk.domain.config import ContactCenterConfig, EntryConfig, LiveConfig
from frontdesk.domain.journal import Journal, retry_conflicts
from frontdesk.storage.records import SessionRecord


class EngineService:
    """Every public coroutine method of a service is an action that meets other writers safely: it
    is wrapped in ``retry_conflicts`` when the subclass is defined (one rule, one place)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.iscoroutinefunction(member):
                setattr(cls, name, retry_conflicts(member))

    def __init__(self, journal: Journal, live: LiveConfig) -> None:
        self.journal = journal
        self.live = live

    @property
    def config(self) -> ContactCenterConfig:
        """The running configuration, read on every action (a reload replaces it whole)."""
        return self.live.current

    def entry_for(self, session: SessionRecord) -> EntryConfig | None:
        """The scenario entry a chat came through (None if a reload removed it)."""
        return self.config.entry(session.tenant, session.app_id)
