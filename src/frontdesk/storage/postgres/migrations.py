"""Versioned schema migrations of the PostgreSQL backend. Append new steps; never edit old ones.

Step N means what step N of ``storage/sqlite/migrations.py`` means: the same tables, columns and
indexes in PostgreSQL's dialect (``DOUBLE PRECISION`` for SQLite's ``REAL``, ``BIGINT`` for its
``INTEGER``, ``BOOLEAN`` for its 0/1 flags, JSON kept as text). Where SQLite breaks ties by
``rowid`` (insertion order), a row has ``arrival``, an identity column, and queries order by it
last. The version is kept in ``frontdesk_schema``; nodes starting at the same time migrate one after
the other (an advisory lock), and the pending steps apply in one transaction (PostgreSQL's DDL is
transactional): all or none.
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

MIGRATIONS: list[str] = [
    # 1: the initial schema
    """
    CREATE TABLE sessions (
        chat_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        app_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        client_kind TEXT NOT NULL,
        visitor_cookie TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        queue_id TEXT NOT NULL,
        phone_number TEXT NOT NULL,
        from_ TEXT NOT NULL,
        parameters TEXT NOT NULL,
        case_id TEXT NOT NULL,
        offered_agent_id TEXT NOT NULL,
        declined_agents TEXT NOT NULL,
        last_seq BIGINT NOT NULL,
        customer_last_seq BIGINT NOT NULL,
        customer_cursor BIGINT NOT NULL,
        terminal BOOLEAN NOT NULL,
        end_reason TEXT NOT NULL,
        ended_at DOUBLE PRECISION,
        queued_at DOUBLE PRECISION,
        connected_at DOUBLE PRECISION,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX sessions_client ON sessions (tenant, app_id, client_id) WHERE NOT terminal;
    CREATE INDEX sessions_state ON sessions (tenant, state) WHERE NOT terminal;
    CREATE INDEX sessions_case ON sessions (tenant, case_id) WHERE case_id != '';
    CREATE TABLE events (
        chat_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        name TEXT NOT NULL,
        audience INTEGER NOT NULL,
        in_history BOOLEAN NOT NULL,
        origin TEXT NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (chat_id, seq)
    );
    CREATE TABLE parties (
        party_id TEXT PRIMARY KEY,
        chat_id TEXT NOT NULL,
        party_type TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        display_name TEXT NOT NULL,
        joined_at DOUBLE PRECISION NOT NULL,
        left_at DOUBLE PRECISION,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX parties_chat ON parties (chat_id);
    CREATE INDEX parties_agent ON parties (agent_id) WHERE left_at IS NULL;
    CREATE TABLE agents (
        agent_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        username TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        display_name TEXT NOT NULL,
        max_chats INTEGER NOT NULL,
        state TEXT NOT NULL,
        state_since DOUBLE PRECISION NOT NULL,
        photo_path TEXT NOT NULL,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY,
        UNIQUE (tenant, username)
    );
    CREATE TABLE agent_tokens (
        token_hash TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE TABLE files (
        file_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        file_name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        uploader TEXT NOT NULL,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX files_tenant ON files (tenant, created_at);
    CREATE TABLE timers (
        chat_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        due_at DOUBLE PRECISION NOT NULL,
        payload TEXT NOT NULL,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (chat_id, kind)
    );
    CREATE INDEX timers_due ON timers (due_at);
    CREATE TABLE form_requests (
        chat_id TEXT NOT NULL,
        form_request_id BIGINT NOT NULL,
        form_name TEXT NOT NULL,
        party_id TEXT NOT NULL,
        state TEXT NOT NULL,
        due_at DOUBLE PRECISION,
        data TEXT,
        PRIMARY KEY (chat_id, form_request_id)
    );
    CREATE TABLE push_subscriptions (
        chat_id TEXT PRIMARY KEY,
        subscription TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE cases (
        tenant TEXT NOT NULL,
        case_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        closed_at DOUBLE PRECISION,
        PRIMARY KEY (tenant, case_id)
    );
    """,
    # 2: agents who take offered chats without accepting them one by one
    """
    ALTER TABLE agents ADD COLUMN auto_accept BOOLEAN NOT NULL DEFAULT FALSE;
    """,
    # 3: the contact-center engine: skills, priorities, scenarios, EWT, offers, wrap-ups, messages
    """
    ALTER TABLE sessions ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN required_skills TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sessions ADD COLUMN scenario TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sessions ADD COLUMN ewt_predicted DOUBLE PRECISION;
    ALTER TABLE sessions ADD COLUMN ewt_announced INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN invited_agents TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX sessions_created ON sessions (tenant, created_at);
    CREATE INDEX sessions_done ON sessions (tenant, queue_id, ended_at) WHERE connected_at IS NOT NULL;
    CREATE INDEX sessions_client_all ON sessions (tenant, client_id, created_at);
    CREATE INDEX sessions_invited ON sessions (tenant) WHERE NOT terminal AND invited_agents != '[]';
    ALTER TABLE agents ADD COLUMN skills TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE agents ADD COLUMN team TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'agent';
    ALTER TABLE agents ADD COLUMN last_routed_at DOUBLE PRECISION NOT NULL DEFAULT 0;
    CREATE INDEX parties_joined ON parties (joined_at);
    CREATE TABLE offers (
        chat_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        offered_at DOUBLE PRECISION NOT NULL,
        outcome TEXT NOT NULL,
        decided_at DOUBLE PRECISION,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX offers_chat ON offers (chat_id, agent_id) WHERE outcome = 'pending';
    CREATE INDEX offers_time ON offers (tenant, offered_at);
    CREATE TABLE wrap_ups (
        chat_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        disposition TEXT NOT NULL,
        notes TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (chat_id, agent_id)
    );
    CREATE INDEX wrap_ups_time ON wrap_ups (tenant, created_at);
    CREATE TABLE left_messages (
        message_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        data TEXT NOT NULL,
        handled_by TEXT NOT NULL,
        handled_at DOUBLE PRECISION,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX left_messages_tenant ON left_messages (tenant, created_at);
    CREATE TABLE monitors (
        chat_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        since DOUBLE PRECISION NOT NULL,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (chat_id, agent_id)
    );
    CREATE INDEX monitors_agent ON monitors (agent_id);
    """,
    # 4: credentials expire (sliding on use) and come in kinds (bearer, browser session, WebSocket
    # ticket); the login throttle. Tokens issued before this version expire 12 h after they were issued.
    """
    ALTER TABLE agent_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'bearer';
    ALTER TABLE agent_tokens ADD COLUMN expires_at DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE agent_tokens ADD COLUMN parent_hash TEXT NOT NULL DEFAULT '';
    UPDATE agent_tokens SET expires_at = created_at + 43200;
    CREATE INDEX agent_tokens_agent ON agent_tokens (agent_id);
    CREATE INDEX agent_tokens_expiry ON agent_tokens (expires_at);
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_start DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX login_failures_window ON login_failures (window_start);
    """,
    # 5: queues cost O(1) per new chat: the head of a queue and a chat's place in it from one index,
    # and the estimate model of each queue cached between refreshes
    """
    CREATE INDEX sessions_queued ON sessions (tenant, queue_id, priority DESC, queued_at, created_at, arrival)
        WHERE NOT terminal AND state = 'queued';
    CREATE TABLE queue_models (
        tenant TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        computed_at DOUBLE PRECISION NOT NULL,
        staffing TEXT NOT NULL,
        waits TEXT NOT NULL,
        tail_step_secs DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (tenant, queue_id)
    );
    """,
    # 6: a timer whose handler fails is retried with back-off, then given up
    """
    ALTER TABLE timers ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: how many chats wait in each queue, per priority, kept by a trigger in the writing transaction:
    # a queue's length and a new chat's place in it without walking the queue. The counter rows of a
    # queue are changed with row locks of their own (an upsert or an update), so concurrent writers
    # of one queue wait for each other's commit there, never lose a count.
    """
    CREATE TABLE queue_lengths (
        tenant TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        priority INTEGER NOT NULL,
        queued BIGINT NOT NULL,
        PRIMARY KEY (tenant, queue_id, priority)
    );
    INSERT INTO queue_lengths (tenant, queue_id, priority, queued)
        SELECT tenant, queue_id, priority, COUNT(*) FROM sessions WHERE NOT terminal AND state = 'queued'
        GROUP BY tenant, queue_id, priority;
    CREATE FUNCTION queue_lengths_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        was_queued BOOLEAN := TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 'queued' AND NOT OLD.terminal;
        is_queued BOOLEAN := TG_OP IN ('INSERT', 'UPDATE') AND NEW.state = 'queued' AND NOT NEW.terminal;
    BEGIN
        IF was_queued AND is_queued AND OLD.tenant = NEW.tenant AND OLD.queue_id = NEW.queue_id
                AND OLD.priority = NEW.priority THEN
            RETURN NULL;
        END IF;
        IF was_queued THEN
            UPDATE queue_lengths SET queued = queued - 1
                WHERE tenant = OLD.tenant AND queue_id = OLD.queue_id AND priority = OLD.priority;
        END IF;
        IF is_queued THEN
            INSERT INTO queue_lengths (tenant, queue_id, priority, queued)
                VALUES (NEW.tenant, NEW.queue_id, NEW.priority, 1)
                ON CONFLICT (tenant, queue_id, priority) DO UPDATE SET queued = queue_lengths.queued + 1;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER queue_lengths_follow AFTER INSERT OR UPDATE OR DELETE ON sessions
        FOR EACH ROW EXECUTE FUNCTION queue_lengths_follow();
    """,
    # 8: the applied configuration every process runs (frontdesk.domain.applied_config)
    """
    CREATE TABLE applied_config (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL,
        document TEXT NOT NULL,
        file_digest TEXT NOT NULL,
        applied_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 9: each agent's load (the chats it holds or is offered, routing's capacity check) as a counter on
    # its row, kept by triggers in the writing transaction: routing reads every agent's load in O(agents),
    # not O(live chats). The load is the distinct live chats the agent is a party of and has not left,
    # plus the live chats being offered to it (state 'connecting'). Parties' agent and chat never change;
    # a party only leaves (left_at set); neither sessions nor parties are deleted. Every change of a
    # counter takes the tenant's routing lock first, then the agent's row (the concurrency contract's
    # order: docs/event-delivery.md "Concurrency"), so a load only moves under the locks routing
    # decides capacity under.
    """
    CREATE FUNCTION frontdesk_lock_routing(tenant TEXT) RETURNS void LANGUAGE sql AS $$
        SELECT pg_advisory_xact_lock(hashtextextended('routing:' || tenant, 0))
    $$;
    CREATE FUNCTION agent_counted_load(agent TEXT, agent_tenant TEXT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
        SELECT (SELECT COUNT(DISTINCT p.chat_id) FROM parties p JOIN sessions s ON s.chat_id = p.chat_id
                WHERE p.agent_id = agent AND p.left_at IS NULL AND NOT s.terminal)
            + (SELECT COUNT(*) FROM sessions s WHERE s.tenant = agent_tenant AND s.state = 'connecting'
                AND NOT s.terminal AND s.offered_agent_id = agent)
    $$;
    ALTER TABLE agents ADD COLUMN load BIGINT NOT NULL DEFAULT 0;
    UPDATE agents SET load = agent_counted_load(agent_id, tenant);
    CREATE FUNCTION agent_load_add(agent TEXT, agent_tenant TEXT, delta INTEGER) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM frontdesk_lock_routing(agent_tenant);
        UPDATE agents SET load = load + delta WHERE agent_id = agent;
    END
    $$;
    CREATE FUNCTION agent_load_new_agent() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM frontdesk_lock_routing(NEW.tenant);
        UPDATE agents SET load = agent_counted_load(NEW.agent_id, NEW.tenant) WHERE agent_id = NEW.agent_id;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER agent_load_new_agent AFTER INSERT ON agents
        FOR EACH ROW EXECUTE FUNCTION agent_load_new_agent();
    CREATE FUNCTION agent_load_follow_party() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        chat_tenant TEXT;
    BEGIN
        -- joining (an insert still in the chat) or leaving (left_at set) changes the load only when the
        -- chat is live and the agent has no other party left in it
        SELECT tenant INTO chat_tenant FROM sessions WHERE chat_id = NEW.chat_id AND NOT terminal;
        IF FOUND AND NOT EXISTS (SELECT 1 FROM parties WHERE chat_id = NEW.chat_id AND agent_id = NEW.agent_id
                                 AND left_at IS NULL AND party_id != NEW.party_id) THEN
            PERFORM agent_load_add(NEW.agent_id, chat_tenant, CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END);
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER agent_load_party_joins AFTER INSERT ON parties
        FOR EACH ROW WHEN (NEW.agent_id != '' AND NEW.left_at IS NULL) EXECUTE FUNCTION agent_load_follow_party();
    CREATE TRIGGER agent_load_party_leaves AFTER UPDATE ON parties
        FOR EACH ROW WHEN (OLD.agent_id != '' AND OLD.left_at IS NULL AND NEW.left_at IS NOT NULL)
        EXECUTE FUNCTION agent_load_follow_party();
    CREATE FUNCTION agent_load_follow_chat() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        was_offered TEXT := CASE WHEN TG_OP = 'UPDATE' AND OLD.state = 'connecting' AND NOT OLD.terminal
                                 THEN OLD.offered_agent_id ELSE '' END;
        is_offered TEXT := CASE WHEN NEW.state = 'connecting' AND NOT NEW.terminal
                                THEN NEW.offered_agent_id ELSE '' END;
        held INTEGER := CASE WHEN TG_OP = 'UPDATE' AND OLD.terminal AND NOT NEW.terminal THEN 1
                             WHEN TG_OP = 'UPDATE' AND NOT OLD.terminal AND NEW.terminal THEN -1 ELSE 0 END;
        agent TEXT;
    BEGIN
        IF was_offered != is_offered THEN
            IF was_offered != '' THEN
                PERFORM agent_load_add(was_offered, NEW.tenant, -1);
            END IF;
            IF is_offered != '' THEN
                PERFORM agent_load_add(is_offered, NEW.tenant, 1);
            END IF;
        END IF;
        IF held != 0 THEN  -- the chat ends (or resumes): every agent still in it, once
            FOR agent IN SELECT DISTINCT agent_id FROM parties
                    WHERE chat_id = NEW.chat_id AND left_at IS NULL AND agent_id != '' ORDER BY agent_id LOOP
                PERFORM agent_load_add(agent, NEW.tenant, held);
            END LOOP;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER agent_load_chat_inserted AFTER INSERT ON sessions
        FOR EACH ROW WHEN (NEW.state = 'connecting' AND NOT NEW.terminal) EXECUTE FUNCTION agent_load_follow_chat();
    CREATE TRIGGER agent_load_chat_changes AFTER UPDATE ON sessions
        FOR EACH ROW WHEN (OLD.terminal != NEW.terminal OR OLD.state != NEW.state
                           OR OLD.offered_agent_id != NEW.offered_agent_id)
        EXECUTE FUNCTION agent_load_follow_chat();
    """,
    # 10: how many times each agent's load has moved (``agents.load_changes``): with the loads, what the
    # estimates' cached models are keyed by (a chat ending and another one starting for the same agent
    # leaves its load as it was, not its busy slots), read from the agents' rows instead of every chat
    # the agents hold
    """
    ALTER TABLE agents ADD COLUMN load_changes BIGINT NOT NULL DEFAULT 0;
    CREATE FUNCTION agent_load_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.load_changes := OLD.load_changes + 1;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER agent_load_changes BEFORE UPDATE OF load ON agents
        FOR EACH ROW WHEN (OLD.load IS DISTINCT FROM NEW.load) EXECUTE FUNCTION agent_load_changes();
    """,
    # 11: the ready agents in routing's order (longest idle first: the later of becoming ready and the
    # last offer, then the agent id in code point order): routing reads the first few candidates, not
    # every agent
    """
    CREATE INDEX agents_idle ON agents (tenant, GREATEST(state_since, last_routed_at), agent_id COLLATE "C")
        WHERE state = 'ready';
    """,
    # 12: fewer index pages written per new chat. A chat's row enters the handle times' index when it
    # has ended (the queries read only ended chats), not when it connects and again when it ends. An agent's
    # load and its count of moves are set by one UPDATE of its row, no trigger of its own (a load only
    # moves by ±1 in agent_load_add, or is counted anew for a new agent's row).
    """
    DROP INDEX sessions_done;
    CREATE INDEX sessions_done ON sessions (tenant, queue_id, ended_at)
        WHERE connected_at IS NOT NULL AND ended_at IS NOT NULL;
    DROP TRIGGER agent_load_changes ON agents;
    DROP FUNCTION agent_load_changes();
    CREATE OR REPLACE FUNCTION agent_load_add(agent TEXT, agent_tenant TEXT, delta INTEGER) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM frontdesk_lock_routing(agent_tenant);
        UPDATE agents SET load = load + delta, load_changes = load_changes + 1 WHERE agent_id = agent;
    END
    $$;
    CREATE OR REPLACE FUNCTION agent_load_new_agent() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        counted BIGINT;
    BEGIN
        PERFORM frontdesk_lock_routing(NEW.tenant);
        counted := agent_counted_load(NEW.agent_id, NEW.tenant);
        UPDATE agents SET load = counted, load_changes = load_changes + (counted != load)::INTEGER
            WHERE agent_id = NEW.agent_id;
        RETURN NULL;
    END
    $$;
    """,
    # 13: the live chats offered to an agent (state 'connecting') have an index of their own, and the
    # index of every live chat by state goes: the waiting ones are in sessions_queued, any other state
    # is read from the live chats' index (sessions_client), so a connected chat, most of the live ones,
    # is in no index by state and a new chat writes no entry there
    """
    DROP INDEX sessions_state;
    CREATE INDEX sessions_connecting ON sessions (tenant) WHERE NOT terminal AND state = 'connecting';
    """,
    # 14: a new chat's row may come after the parties its agents joined it by (routing offers a new
    # chat before storing it, and stores it once, connected): a party joining a chat whose row is not
    # there yet moves no load (agent_load_follow_party finds no live chat), so the row's insert counts
    # every agent still in it, once, as a chat resuming does
    """
    CREATE OR REPLACE FUNCTION agent_load_follow_chat() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        was_offered TEXT := CASE WHEN TG_OP = 'UPDATE' AND OLD.state = 'connecting' AND NOT OLD.terminal
                                 THEN OLD.offered_agent_id ELSE '' END;
        is_offered TEXT := CASE WHEN NEW.state = 'connecting' AND NOT NEW.terminal
                                THEN NEW.offered_agent_id ELSE '' END;
        held INTEGER := CASE WHEN TG_OP = 'INSERT' AND NOT NEW.terminal THEN 1
                             WHEN TG_OP = 'UPDATE' AND OLD.terminal AND NOT NEW.terminal THEN 1
                             WHEN TG_OP = 'UPDATE' AND NOT OLD.terminal AND NEW.terminal THEN -1 ELSE 0 END;
        agent TEXT;
    BEGIN
        IF was_offered != is_offered THEN
            IF was_offered != '' THEN
                PERFORM agent_load_add(was_offered, NEW.tenant, -1);
            END IF;
            IF is_offered != '' THEN
                PERFORM agent_load_add(is_offered, NEW.tenant, 1);
            END IF;
        END IF;
        IF held != 0 THEN  -- the chat is stored live, ends or resumes: every agent still in it, once
            FOR agent IN SELECT DISTINCT agent_id FROM parties
                    WHERE chat_id = NEW.chat_id AND left_at IS NULL AND agent_id != '' ORDER BY agent_id LOOP
                PERFORM agent_load_add(agent, NEW.tenant, held);
            END LOOP;
        END IF;
        RETURN NULL;
    END
    $$;
    DROP TRIGGER agent_load_chat_inserted ON sessions;
    CREATE TRIGGER agent_load_chat_inserted AFTER INSERT ON sessions
        FOR EACH ROW WHEN (NOT NEW.terminal) EXECUTE FUNCTION agent_load_follow_chat();
    """,    # 15: an agent's message sent with the client's own key (client_msg_id) is found again by it, so a
    # retried request is answered with the message it sent (only keyed messages have a row)
    """
    CREATE TABLE keyed_messages (
        chat_id TEXT NOT NULL,
        party_id TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        msg_id TEXT NOT NULL,
        text_digest TEXT NOT NULL,
        PRIMARY KEY (chat_id, party_id, client_msg_id)
    );
    """,
]

_MIGRATION_LOCK = 0x66726F6E74  # the advisory lock key nodes migrate under ("front")


async def migrate(conn: asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]) -> int:
    """Bring the schema (of the connection's search path) to the newest version; returns that version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS frontdesk_schema (version INTEGER NOT NULL)")
        current = await conn.fetchval("SELECT version FROM frontdesk_schema")
        if current is None:
            await conn.execute("INSERT INTO frontdesk_schema (version) VALUES (0)")
            current = 0
        for version, script in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            await conn.execute(script)
            await conn.execute("UPDATE frontdesk_schema SET version = $1", version)
    return len(MIGRATIONS)
