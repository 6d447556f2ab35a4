"""The base of the domain services: the journal they act through and the live configuration."""

from __future__ import annotations

from frontdesk.domain.config import ContactCenterConfig, EntryConfig, LiveConfig
from frontdesk.domain.journal import Journal
from frontdesk.storage.records import SessionRecord


class EngineService:
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
