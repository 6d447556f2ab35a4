"""Versioned schema migrations of the SQLite backend. Append new steps; never edit old ones."""

from __future__ import annotations

import sqlite3


def _counted_load(agent: str) -> str:
    """The load of the agent row ``agent`` counted from the chats (the counter's definition, for
    migration 9's backfill and a new agent's row): the distinct live chats it is a party of and has
    not left, plus the live chats offered to it."""
    return (f"(SELECT COUNT(DISTINCT p.chat_id) FROM parties p JOIN sessions s ON s.chat_id = p.chat_id "
            f"WHERE p.agent_id = {agent}.agent_id AND p.left_at IS NULL AND s.terminal = 0) "
            f"+ (SELECT COUNT(*) FROM sessions s WHERE s.tenant = {agent}.tenant AND s.state = 'connecting' "
            f"AND s.terminal = 0 AND s.offered_agent_id = {agent}.agent_id)")


def _moved(agent: str, delta: str) -> str:
    """The one UPDATE of an agent row whose load moves by ``delta`` (±1): the load and its count of
    moves (``load_changes``) in one write of the row."""
    return f"UPDATE agents SET load = load {delta}, load_changes = load_changes + 1 WHERE agent_id {agent}"


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
        created_at REAL NOT NULL,
        queue_id TEXT NOT NULL,
        phone_number TEXT NOT NULL,
        from_ TEXT NOT NULL,
        parameters TEXT NOT NULL,
        case_id TEXT NOT NULL,
        offered_agent_id TEXT NOT NULL,
        declined_agents TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        customer_last_seq INTEGER NOT NULL,
        customer_cursor INTEGER NOT NULL,
        terminal INTEGER NOT NULL,
        end_reason TEXT NOT NULL,
        ended_at REAL,
        queued_at REAL,
        connected_at REAL
    );
    CREATE INDEX sessions_client ON sessions (tenant, app_id, client_id) WHERE terminal = 0;
    CREATE INDEX sessions_state ON sessions (tenant, state) WHERE terminal = 0;
    CREATE INDEX sessions_case ON sessions (tenant, case_id) WHERE case_id != '';
    CREATE TABLE events (
        chat_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts REAL NOT NULL,
        name TEXT NOT NULL,
        audience INTEGER NOT NULL,
        in_history INTEGER NOT NULL,
        origin TEXT NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (chat_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE parties (
        party_id TEXT PRIMARY KEY,
        chat_id TEXT NOT NULL,
        party_type TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        display_name TEXT NOT NULL,
        joined_at REAL NOT NULL,
        left_at REAL
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
        state_since REAL NOT NULL,
        photo_path TEXT NOT NULL,
        UNIQUE (tenant, username)
    );
    CREATE TABLE agent_tokens (
        token_hash TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE files (
        file_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        file_name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at REAL NOT NULL,
        uploader TEXT NOT NULL
    );
    CREATE INDEX files_tenant ON files (tenant, created_at);
    CREATE TABLE timers (
        chat_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        due_at REAL NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (chat_id, kind)
    );
    CREATE INDEX timers_due ON timers (due_at);
    CREATE TABLE form_requests (
        chat_id TEXT NOT NULL,
        form_request_id INTEGER NOT NULL,
        form_name TEXT NOT NULL,
        party_id TEXT NOT NULL,
        state TEXT NOT NULL,
        due_at REAL,
        data TEXT,
        PRIMARY KEY (chat_id, form_request_id)
    );
    CREATE TABLE push_subscriptions (
        chat_id TEXT PRIMARY KEY,
        subscription TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE cases (
        tenant TEXT NOT NULL,
        case_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        closed_at REAL,
        PRIMARY KEY (tenant, case_id)
    );
    """,
    # 2: agents who take offered chats without accepting them one by one
    """
    ALTER TABLE agents ADD COLUMN auto_accept INTEGER NOT NULL DEFAULT 0
    """,
    # 3: the contact-center engine: skills, priorities, scenarios, EWT, offers, wrap-ups, messages
    """
    ALTER TABLE sessions ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN required_skills TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sessions ADD COLUMN scenario TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sessions ADD COLUMN ewt_predicted REAL;
    ALTER TABLE sessions ADD COLUMN ewt_announced INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN invited_agents TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX sessions_created ON sessions (tenant, created_at);
    CREATE INDEX sessions_done ON sessions (tenant, queue_id, ended_at) WHERE connected_at IS NOT NULL;
    CREATE INDEX sessions_client_all ON sessions (tenant, client_id, created_at);
    CREATE INDEX sessions_invited ON sessions (tenant) WHERE terminal = 0 AND invited_agents != '[]';
    ALTER TABLE agents ADD COLUMN skills TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE agents ADD COLUMN team TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'agent';
    ALTER TABLE agents ADD COLUMN last_routed_at REAL NOT NULL DEFAULT 0;
    CREATE INDEX parties_joined ON parties (joined_at);
    CREATE TABLE offers (
        chat_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        offered_at REAL NOT NULL,
        outcome TEXT NOT NULL,
        decided_at REAL
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
        created_at REAL NOT NULL,
        PRIMARY KEY (chat_id, agent_id)
    );
    CREATE INDEX wrap_ups_time ON wrap_ups (tenant, created_at);
    CREATE TABLE left_messages (
        message_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        data TEXT NOT NULL,
        handled_by TEXT NOT NULL,
        handled_at REAL
    );
    CREATE INDEX left_messages_tenant ON left_messages (tenant, created_at);
    CREATE TABLE monitors (
        chat_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        since REAL NOT NULL,
        PRIMARY KEY (chat_id, agent_id)
    );
    CREATE INDEX monitors_agent ON monitors (agent_id)
    """,
    # 4: credentials expire (sliding on use) and come in kinds (bearer, browser session, WebSocket
    # ticket); the login throttle. Tokens issued before this version expire 12 h after they were issued.
    """
    ALTER TABLE agent_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'bearer';
    ALTER TABLE agent_tokens ADD COLUMN expires_at REAL NOT NULL DEFAULT 0;
    ALTER TABLE agent_tokens ADD COLUMN parent_hash TEXT NOT NULL DEFAULT '';
    UPDATE agent_tokens SET expires_at = created_at + 43200;
    CREATE INDEX agent_tokens_agent ON agent_tokens (agent_id);
    CREATE INDEX agent_tokens_expiry ON agent_tokens (expires_at);
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_start REAL NOT NULL
    );
    CREATE INDEX login_failures_window ON login_failures (window_start)
    """,
    # 5: queues cost O(1) per new chat: the head of a queue and a chat's place in it from one index,
    # and the estimate model of each queue cached between refreshes
    """
    CREATE INDEX sessions_queued ON sessions (tenant, queue_id, priority DESC, queued_at, created_at)
        WHERE terminal = 0 AND state = 'queued';
    CREATE TABLE queue_models (
        tenant TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        computed_at REAL NOT NULL,
        staffing TEXT NOT NULL,
        waits TEXT NOT NULL,
        tail_step_secs REAL NOT NULL,
        PRIMARY KEY (tenant, queue_id)
    )
    """,
    # 6: a timer whose handler fails is retried with back-off, then given up
    """
    ALTER TABLE timers ADD COLUMN failures INTEGER NOT NULL DEFAULT 0
    """,
    # 7: how many chats wait in each queue, per priority, kept by triggers in the writing transaction:
    # a queue's length and a new chat's place in it without walking the queue
    """
    CREATE TABLE queue_lengths (
        tenant TEXT NOT NULL,
        queue_id TEXT NOT NULL,
        priority INTEGER NOT NULL,
        queued INTEGER NOT NULL,
        PRIMARY KEY (tenant, queue_id, priority)
    );
    INSERT INTO queue_lengths (tenant, queue_id, priority, queued)
        SELECT tenant, queue_id, priority, COUNT(*) FROM sessions WHERE terminal = 0 AND state = 'queued'
        GROUP BY tenant, queue_id, priority;
    CREATE TRIGGER queue_lengths_insert AFTER INSERT ON sessions
        WHEN NEW.state = 'queued' AND NEW.terminal = 0
    BEGIN
        INSERT INTO queue_lengths (tenant, queue_id, priority, queued)
            VALUES (NEW.tenant, NEW.queue_id, NEW.priority, 1)
            ON CONFLICT (tenant, queue_id, priority) DO UPDATE SET queued = queued + 1;
    END;
    CREATE TRIGGER queue_lengths_leave AFTER UPDATE ON sessions
        WHEN OLD.state = 'queued' AND OLD.terminal = 0 AND NOT (NEW.state = 'queued' AND NEW.terminal = 0
            AND NEW.tenant = OLD.tenant AND NEW.queue_id = OLD.queue_id AND NEW.priority = OLD.priority)
    BEGIN
        UPDATE queue_lengths SET queued = queued - 1
            WHERE tenant = OLD.tenant AND queue_id = OLD.queue_id AND priority = OLD.priority;
    END;
    CREATE TRIGGER queue_lengths_enter AFTER UPDATE ON sessions
        WHEN NEW.state = 'queued' AND NEW.terminal = 0 AND NOT (OLD.state = 'queued' AND OLD.terminal = 0
            AND OLD.tenant = NEW.tenant AND OLD.queue_id = NEW.queue_id AND OLD.priority = NEW.priority)
    BEGIN
        INSERT INTO queue_lengths (tenant, queue_id, priority, queued)
            VALUES (NEW.tenant, NEW.queue_id, NEW.priority, 1)
            ON CONFLICT (tenant, queue_id, priority) DO UPDATE SET queued = queued + 1;
    END;
    CREATE TRIGGER queue_lengths_delete AFTER DELETE ON sessions
        WHEN OLD.state = 'queued' AND OLD.terminal = 0
    BEGIN
        UPDATE queue_lengths SET queued = queued - 1
            WHERE tenant = OLD.tenant AND queue_id = OLD.queue_id AND priority = OLD.priority;
    END
    """,
    # 8: the applied configuration every process runs (frontdesk.domain.applied_config)
    """
    CREATE TABLE applied_config (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        document TEXT NOT NULL,
        file_digest TEXT NOT NULL,
        applied_at REAL NOT NULL
    );
    """,
    # 9: each agent's load (the chats it holds or is offered, routing's capacity check) as a counter on
    # its row, kept by triggers in the writing transaction: routing reads every agent's load in O(agents),
    # not O(live chats). The load is the distinct live chats the agent is a party of and has not left,
    # plus the live chats being offered to it (state 'connecting'). Parties' agent and chat never change;
    # a party only leaves (left_at set); neither sessions nor parties are deleted.
    f"""
    ALTER TABLE agents ADD COLUMN load INTEGER NOT NULL DEFAULT 0;
    UPDATE agents SET load = {_counted_load("agents")};
    CREATE TRIGGER agent_load_new_agent AFTER INSERT ON agents
    BEGIN
        UPDATE agents SET load = {_counted_load("NEW")} WHERE agent_id = NEW.agent_id;
    END;
    CREATE TRIGGER agent_load_party_joins AFTER INSERT ON parties
        WHEN NEW.agent_id != '' AND NEW.left_at IS NULL
    BEGIN
        UPDATE agents SET load = load + 1 WHERE agent_id = NEW.agent_id
            AND EXISTS (SELECT 1 FROM sessions WHERE chat_id = NEW.chat_id AND terminal = 0)
            AND NOT EXISTS (SELECT 1 FROM parties WHERE chat_id = NEW.chat_id AND agent_id = NEW.agent_id
                AND left_at IS NULL AND party_id != NEW.party_id);
    END;
    CREATE TRIGGER agent_load_party_leaves AFTER UPDATE ON parties
        WHEN OLD.agent_id != '' AND OLD.left_at IS NULL AND NEW.left_at IS NOT NULL
    BEGIN
        UPDATE agents SET load = load - 1 WHERE agent_id = OLD.agent_id
            AND EXISTS (SELECT 1 FROM sessions WHERE chat_id = OLD.chat_id AND terminal = 0)
            AND NOT EXISTS (SELECT 1 FROM parties WHERE chat_id = OLD.chat_id AND agent_id = OLD.agent_id
                AND left_at IS NULL);
    END;
    CREATE TRIGGER agent_load_chat_ends AFTER UPDATE ON sessions
        WHEN OLD.terminal = 0 AND NEW.terminal != 0
    BEGIN
        UPDATE agents SET load = load - 1 WHERE agent_id IN
            (SELECT agent_id FROM parties WHERE chat_id = NEW.chat_id AND left_at IS NULL AND agent_id != '');
    END;
    CREATE TRIGGER agent_load_chat_resumes AFTER UPDATE ON sessions
        WHEN OLD.terminal != 0 AND NEW.terminal = 0
    BEGIN
        UPDATE agents SET load = load + 1 WHERE agent_id IN
            (SELECT agent_id FROM parties WHERE chat_id = NEW.chat_id AND left_at IS NULL AND agent_id != '');
    END;
    CREATE TRIGGER agent_load_offer_made AFTER INSERT ON sessions
        WHEN NEW.state = 'connecting' AND NEW.terminal = 0 AND NEW.offered_agent_id != ''
    BEGIN
        UPDATE agents SET load = load + 1 WHERE agent_id = NEW.offered_agent_id;
    END;
    CREATE TRIGGER agent_load_offer_begins AFTER UPDATE ON sessions
        WHEN NEW.state = 'connecting' AND NEW.terminal = 0 AND NEW.offered_agent_id != ''
            AND NOT (OLD.state = 'connecting' AND OLD.terminal = 0 AND OLD.offered_agent_id = NEW.offered_agent_id)
    BEGIN
        UPDATE agents SET load = load + 1 WHERE agent_id = NEW.offered_agent_id;
    END;
    CREATE TRIGGER agent_load_offer_ends AFTER UPDATE ON sessions
        WHEN OLD.state = 'connecting' AND OLD.terminal = 0 AND OLD.offered_agent_id != ''
            AND NOT (NEW.state = 'connecting' AND NEW.terminal = 0 AND NEW.offered_agent_id = OLD.offered_agent_id)
    BEGIN
        UPDATE agents SET load = load - 1 WHERE agent_id = OLD.offered_agent_id;
    END
    """,
    # 10: how many times each agent's load has moved (``agents.load_changes``): with the loads, what the
    # estimates' cached models are keyed by (a chat ending and another one starting for the same agent
    # leaves its load as it was, not its busy slots), read from the agents' rows instead of every chat
    # the agents hold
    """
    ALTER TABLE agents ADD COLUMN load_changes INTEGER NOT NULL DEFAULT 0;
    CREATE TRIGGER agent_load_changes AFTER UPDATE OF load ON agents WHEN NEW.load != OLD.load
    BEGIN
        UPDATE agents SET load_changes = load_changes + 1 WHERE agent_id = NEW.agent_id;
    END
    """,
    # 11: the ready agents in routing's order (longest idle first: the later of becoming ready and the
    # last offer, then the agent id): routing reads the first few candidates, not every agent
    """
    CREATE INDEX agents_idle ON agents (tenant, max(state_since, last_routed_at), agent_id) WHERE state = 'ready'
    """,
    # 12: fewer index pages written per new chat. A chat's row enters the handle times' index when it
    # has ended (the queries read only ended chats), not when it connects and again when it ends. An agent's
    # load and its count of moves are written by one UPDATE of its row (migration 10 counted the moves in a
    # second UPDATE, a trigger of the first).
    f"""
    DROP INDEX sessions_done;
    CREATE INDEX sessions_done ON sessions (tenant, queue_id, ended_at)
        WHERE connected_at IS NOT NULL AND ended_at IS NOT NULL;
    DROP TRIGGER agent_load_changes;
    DROP TRIGGER agent_load_new_agent;
    CREATE TRIGGER agent_load_new_agent AFTER INSERT ON agents
    BEGIN
        UPDATE agents SET (load, load_changes) = (SELECT counted, agents.load_changes + (counted != agents.load)
            FROM (SELECT {_counted_load("NEW")} AS counted)) WHERE agent_id = NEW.agent_id;
    END;
    DROP TRIGGER agent_load_party_joins;
    CREATE TRIGGER agent_load_party_joins AFTER INSERT ON parties
        WHEN NEW.agent_id != '' AND NEW.left_at IS NULL
    BEGIN
        {_moved("= NEW.agent_id", "+ 1")}
            AND EXISTS (SELECT 1 FROM sessions WHERE chat_id = NEW.chat_id AND terminal = 0)
            AND NOT EXISTS (SELECT 1 FROM parties WHERE chat_id = NEW.chat_id AND agent_id = NEW.agent_id
                AND left_at IS NULL AND party_id != NEW.party_id);
    END;
    DROP TRIGGER agent_load_party_leaves;
    CREATE TRIGGER agent_load_party_leaves AFTER UPDATE ON parties
        WHEN OLD.agent_id != '' AND OLD.left_at IS NULL AND NEW.left_at IS NOT NULL
    BEGIN
        {_moved("= OLD.agent_id", "- 1")}
            AND EXISTS (SELECT 1 FROM sessions WHERE chat_id = OLD.chat_id AND terminal = 0)
            AND NOT EXISTS (SELECT 1 FROM parties WHERE chat_id = OLD.chat_id AND agent_id = OLD.agent_id
                AND left_at IS NULL);
    END;
    DROP TRIGGER agent_load_chat_ends;
    CREATE TRIGGER agent_load_chat_ends AFTER UPDATE ON sessions
        WHEN OLD.terminal = 0 AND NEW.terminal != 0
    BEGIN
        {_moved("IN (SELECT agent_id FROM parties WHERE chat_id = NEW.chat_id AND left_at IS NULL "
                "AND agent_id != '')", "- 1")};
    END;
    DROP TRIGGER agent_load_chat_resumes;
    CREATE TRIGGER agent_load_chat_resumes AFTER UPDATE ON sessions
        WHEN OLD.terminal != 0 AND NEW.terminal = 0
    BEGIN
        {_moved("IN (SELECT agent_id FROM parties WHERE chat_id = NEW.chat_id AND left_at IS NULL "
                "AND agent_id != '')", "+ 1")};
    END;
    DROP TRIGGER agent_load_offer_made;
    CREATE TRIGGER agent_load_offer_made AFTER INSERT ON sessions
        WHEN NEW.state = 'connecting' AND NEW.terminal = 0 AND NEW.offered_agent_id != ''
    BEGIN
        {_moved("= NEW.offered_agent_id", "+ 1")};
    END;
    DROP TRIGGER agent_load_offer_begins;
    CREATE TRIGGER agent_load_offer_begins AFTER UPDATE ON sessions
        WHEN NEW.state = 'connecting' AND NEW.terminal = 0 AND NEW.offered_agent_id != ''
            AND NOT (OLD.state = 'connecting' AND OLD.terminal = 0 AND OLD.offered_agent_id = NEW.offered_agent_id)
    BEGIN
        {_moved("= NEW.offered_agent_id", "+ 1")};
    END;
    DROP TRIGGER agent_load_offer_ends;
    CREATE TRIGGER agent_load_offer_ends AFTER UPDATE ON sessions
        WHEN OLD.state = 'connecting' AND OLD.terminal = 0 AND OLD.offered_agent_id != ''
            AND NOT (NEW.state = 'connecting' AND NEW.terminal = 0 AND NEW.offered_agent_id = OLD.offered_agent_id)
    BEGIN
        {_moved("= OLD.offered_agent_id", "- 1")};
    END
    """,
    # 13: the live chats offered to an agent (state 'connecting') have an index of their own, and the
    # index of every live chat by state goes: the waiting ones are in sessions_queued, any other state
    # is read from the live chats' index (sessions_client), so a connected chat, most of the live ones,
    # is in no index by state and a new chat writes no entry there
    """
    DROP INDEX sessions_state;
    CREATE INDEX sessions_connecting ON sessions (tenant) WHERE terminal = 0 AND state = 'connecting'
    """,
    # 14: a new chat's row may come after the parties its agents joined it by (routing offers a new
    # chat before storing it, and stores it once, connected): a party joining a chat whose row is not
    # there yet moves no load (agent_load_party_joins finds no live chat), so the row's insert counts
    # every agent still in it, once, as a chat resuming does
    f"""
    CREATE TRIGGER agent_load_chat_inserted AFTER INSERT ON sessions
        WHEN NEW.terminal = 0
    BEGIN
        {_moved("IN (SELECT agent_id FROM parties WHERE chat_id = NEW.chat_id AND left_at IS NULL "
                "AND agent_id != '')", "+ 1")};
    END
    """,    # 15: an agent's message sent with the client's own key (client_msg_id) is found again by it, so a
    # retried request is answered with the message it sent (only keyed messages have a row)
    """
    CREATE TABLE keyed_messages (
        chat_id TEXT NOT NULL,
        party_id TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        msg_id TEXT NOT NULL,
        text_digest TEXT NOT NULL,
        PRIMARY KEY (chat_id, party_id, client_msg_id)
    ) WITHOUT ROWID
    """,
]


def _statements(script: str) -> list[str]:
    """The statements of a migration script (a trigger's body holds semicolons of its own)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending)
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending)
    return statements


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; returns that version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for version, script in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
