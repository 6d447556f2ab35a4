"""Who an agent is: logging in (throttled, passwords checked off the event loop), credentials that
expire, WebSocket tickets, logging out.

Credentials are random secrets stored as their SHA-256 (``TokenRecord``):

- a *bearer* token (``POST /login``, for scripts) and a browser *session* (``POST /session``, the
  ``fd_session`` cookie) expire ``token_ttl_secs`` after their last use: each use moves the expiry
  (at most once per ``SLIDE_STEP_SECS``, so a busy desktop does not write on every request);
- a *ticket* (``POST /ws-ticket``) opens one WebSocket within ``TICKET_TTL_SECS``; it is bound to
  the token or session that asked for it and is worthless once that one has ended.

Expired credentials are swept by ``expire_credentials`` (the timer loop), which wakes their agents'
topics so that open WebSockets notice at once (see ``credential_alive``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from frontdesk.domain import login_throttle
from frontdesk.domain.config import LiveConfig
from frontdesk.domain.errors import Forbidden, NotFound, TooManyAttempts
from frontdesk.domain.ids import PASSWORD_COST, hash_password, new_token, token_hash, verify_password
from frontdesk.domain.journal import Journal
from frontdesk.domain.logout import log_out
from frontdesk.domain.service import EngineService
from frontdesk.observability.logs import get_logger
from frontdesk.storage.interfaces import Transaction
from frontdesk.storage.records import AgentRecord, TokenRecord

log = get_logger(__name__)

BEARER, SESSION, TICKET = "bearer", "session", "ticket"
DEFAULT_TOKEN_TTL_SECS = 12 * 3600
TICKET_TTL_SECS = 30
SLIDE_STEP_SECS = 60.0
EXPIRY_BATCH = 500  # expired credentials removed per sweep pass
WRONG_CREDENTIALS = "Wrong username or password"
# a password hash an account a reload removed gets: it matches no password (it is not scrypt$…)
REMOVED_AGENT_PASSWORD_HASH = "removed$from-configuration"  # noqa: S105


@dataclass(frozen=True, slots=True)
class Credential:
    """An authenticated agent and the hash of the token, session or ticket's parent it used."""

    agent: AgentRecord
    token_hash: str


def _alive(record: TokenRecord | None, now: float) -> bool:
    return record is not None and record.expires_at > now


async def credential_alive(tx: Transaction, credential_hash: str, now: float) -> bool:
    """Whether the token or session ``credential_hash`` still authenticates its agent: not revoked
    (logout, a supervisor, a reload) and not expired. Open WebSockets check this whenever their
    agent's topic wakes, inside the same read as what they would send next."""
    return _alive(await tx.agents.token(credential_hash), now)


class AccessService(EngineService):
    def __init__(self, journal: Journal, live: LiveConfig, token_ttl_secs: float = DEFAULT_TOKEN_TTL_SECS,
                 password_cost: int = PASSWORD_COST) -> None:
        super().__init__(journal, live)
        self.token_ttl_secs = token_ttl_secs
        # a fixed hash to verify against when the username is unknown: same cost, no user enumeration
        self._dummy_hash = hash_password("frontdesk-no-such-agent", cost=password_cost)

    # ---- logging in ---------------------------------------------------------------------------------

    async def login(self, tenant: str, username: str, password: str, address: str = "",
                    kind: str = BEARER) -> tuple[str, AgentRecord]:
        """A new bearer token or browser session for the agent; ``Forbidden`` for a wrong username or
        password (alike), ``TooManyAttempts`` while the account or ``address`` is throttled."""
        async with self.journal.action() as ctx:
            try:
                await login_throttle.reserve(ctx, tenant, username, address)
            except TooManyAttempts:
                self.journal.metrics.logins_refused.labels("throttled").inc()
                log.warning("login refused", reason="throttled", username=username, tenant=tenant,
                            address=address or "?")
                raise
        async with self.journal.read() as tx:
            agent = await tx.agents.get_by_username(tenant, username)
        stored = agent.password_hash if agent is not None else self._dummy_hash
        # scrypt takes tens of milliseconds of CPU: never on the event loop
        matches = await asyncio.to_thread(verify_password, password, stored)
        if agent is None or not matches:
            async with self.journal.action() as ctx:
                await login_throttle.refused(ctx, address)
            self.journal.metrics.logins_refused.labels("credentials").inc()
            log.warning("login refused", reason="wrong username or password", username=username, tenant=tenant,
                        address=address or "?")
            raise Forbidden(WRONG_CREDENTIALS)
        token = new_token()
        async with self.journal.action() as ctx:
            await login_throttle.succeeded(ctx, tenant, username)
            fresh = await ctx.tx.agents.get(agent.agent_id)
            if fresh is None or fresh.password_hash != agent.password_hash:
                raise Forbidden(WRONG_CREDENTIALS)  # removed or changed by a reload meanwhile
            await ctx.tx.agents.add_token(TokenRecord(token_hash(token), fresh.agent_id, kind, ctx.now,
                                                      ctx.now + self.token_ttl_secs))
            if fresh.state == "logged_out":
                fresh.state, fresh.state_since = "not_ready", ctx.now
                await ctx.tx.agents.upsert(fresh)
                ctx.wake_agent(fresh.agent_id)
                ctx.wake_tenant(fresh.tenant)
        self.journal.metrics.logins.inc()
        log.info("agent logged in", agent=fresh.agent_id, tenant=fresh.tenant, username=username, kind=kind,
                 address=address or "?")
        return token, fresh

    # ---- using a credential -------------------------------------------------------------------------

    async def authenticate(self, token: str) -> Credential:
        """The agent of a bearer token or browser session (``Forbidden`` when unknown, revoked or
        expired); the use moves its expiry."""
        if not token:
            raise Forbidden("invalid or expired token")
        hashed = token_hash(token)
        async with self.journal.read(snapshot=False) as tx:
            record = await tx.agents.token(hashed)
            agent = await tx.agents.get(record.agent_id) if record is not None else None
        now = self.journal.clock.now()
        if record is None or record.kind == TICKET or not _alive(record, now) or agent is None:
            raise Forbidden("invalid or expired token")
        await self._slide(record, now)
        return Credential(agent, hashed)

    async def _slide(self, record: TokenRecord, now: float) -> None:
        if record.expires_at < now + self.token_ttl_secs - SLIDE_STEP_SECS:
            async with self.journal.action() as ctx:
                await ctx.tx.agents.extend_token(record.token_hash, ctx.now + self.token_ttl_secs)

    async def alive(self, credential_hash: str) -> bool:
        async with self.journal.read(snapshot=False) as tx:
            return await credential_alive(tx, credential_hash, self.journal.clock.now())

    # ---- WebSocket tickets --------------------------------------------------------------------------

    async def issue_ticket(self, credential: Credential) -> str:
        """A single-use ticket for one WebSocket, bound to ``credential``, valid ``TICKET_TTL_SECS``."""
        ticket = new_token()
        async with self.journal.action() as ctx:
            if not await credential_alive(ctx.tx, credential.token_hash, ctx.now):
                raise Forbidden("invalid or expired token")
            await ctx.tx.agents.add_token(TokenRecord(token_hash(ticket), credential.agent.agent_id, TICKET,
                                                      ctx.now, ctx.now + TICKET_TTL_SECS, credential.token_hash))
        return ticket

    async def redeem_ticket(self, ticket: str) -> Credential:
        """The credential a ticket was issued for; the ticket is spent (a second use, an expired
        ticket or one whose session ended is ``Forbidden``). The use moves the session's expiry."""
        hashed = token_hash(ticket)
        credential: Credential | None = None
        async with self.journal.action() as ctx:  # commits the spending even when the ticket is refused
            record = await ctx.tx.agents.token(hashed)
            if record is not None and record.kind == TICKET:
                await ctx.tx.agents.delete_token(hashed)
                parent = await ctx.tx.agents.token(record.parent_hash)
                agent = await ctx.tx.agents.get(record.agent_id)
                if _alive(record, ctx.now) and _alive(parent, ctx.now) and agent is not None:
                    await ctx.tx.agents.extend_token(record.parent_hash, ctx.now + self.token_ttl_secs)
                    credential = Credential(agent, record.parent_hash)
        if credential is None:
            raise Forbidden("invalid, used or expired ticket")
        return credential

    # ---- ending ----------------------------------------------------------------------------------------

    async def logout(self, agent_id: str) -> None:
        """Log out: every credential of the agent is revoked (its open WebSockets close with 4410)
        and its held or offered chats go back to the queue."""
        async with self.journal.action() as ctx:
            agent = await ctx.tx.agents.get(agent_id)
            if agent is None:
                raise NotFound("no such agent")
            await log_out(ctx, self.config, agent)
        log.info("agent logged out", agent=agent_id)

    async def retire(self, agent_id: str) -> None:
        """An account the configuration no longer lists: logged out like ``logout`` and its password
        disabled (a later configuration may list it again)."""
        async with self.journal.action() as ctx:
            agent = await ctx.tx.agents.get(agent_id)
            if agent is None:
                return
            agent.password_hash = REMOVED_AGENT_PASSWORD_HASH
            await log_out(ctx, self.config, agent)
        log.info("agent logged out: no longer configured", agent=agent_id)

    async def expire_credentials(self) -> int:
        """Remove the credentials that have expired and wake their agents, so that their open
        WebSockets close. Returns how many were removed."""
        removed = 0
        while True:
            async with self.journal.read() as tx:
                expired = await tx.agents.expired_tokens(self.journal.clock.now(), EXPIRY_BATCH)
            if not expired:
                break
            async with self.journal.action() as ctx:
                for record in expired:
                    await ctx.tx.agents.delete_token(record.token_hash)
                    ctx.wake_agent(record.agent_id)
            removed += len(expired)
            if len(expired) < EXPIRY_BATCH:
                break
        return removed
