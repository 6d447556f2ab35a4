// The live part of the view: queues, the chart, agents (with forced states) and open chats.
import { useState } from "preact/hooks";
import { Chart, type Sample } from "./Chart";
import { duration } from "./format";
import { t, type MessageKey } from "./i18n";
import type { AgentState, AgentView, ChatView, Overview, QueueView } from "./wire";

const AGENT_STATE: Record<AgentState, MessageKey> = {
  ready: "stateReady",
  not_ready: "stateNotReady",
  logged_out: "stateLoggedOut",
};

const CHAT_STATE: Record<string, MessageKey> = {
  queued: "stateQueued",
  connecting: "stateConnecting",
  connected: "stateConnected",
  scenario: "stateScenario",
};

export function agentStateText(state: AgentState): string {
  return t(AGENT_STATE[state] ?? "stateNotReady");
}

function chatStateText(state: string): string {
  const key = CHAT_STATE[state];
  return key ? t(key) : state;
}

interface Props {
  overview: Overview;
  elapsed: number; // seconds since the overview arrived (the view ticks locally between updates)
  samples: Sample[];
  nowMs: number;
  me: string;
  selectedChat: string | null;
  onMonitor(chatId: string): void;
  onForce(agent: AgentView, state: AgentState): Promise<void>;
}

export function LiveView({ overview, elapsed, samples, nowMs, me, selectedChat, onMonitor, onForce }: Props) {
  const agents = new Map(overview.agents.map((a) => [a.agent_id, a]));
  const queues = new Map(overview.queues.map((q) => [q.queue_id, q]));
  return (
    <div class="sv-live">
      <section class="sv-section" aria-labelledby="sv-queues-title">
        <h2 id="sv-queues-title" class="sv-section__title">{t("queues")}</h2>
        <div class="sv-queues">
          <div class="sv-queue-cards">
            {overview.queues.length === 0 && <p class="sv-empty">{t("noQueues")}</p>}
            {overview.queues.map((q) => <QueueCard key={q.queue_id} queue={q} elapsed={elapsed} />)}
          </div>
          <Chart samples={samples} now={nowMs} />
        </div>
      </section>
      <section class="sv-section" aria-labelledby="sv-agents-title">
        <h2 id="sv-agents-title" class="sv-section__title">{t("agents")}</h2>
        <AgentsTable agents={overview.agents} now={overview.now + elapsed} onForce={onForce} />
      </section>
      <section class="sv-section" aria-labelledby="sv-chats-title">
        <h2 id="sv-chats-title" class="sv-section__title">{t("chats")} <span class="sv-count">{overview.chats.length}</span></h2>
        <ChatsTable chats={overview.chats} agents={agents} queues={queues} elapsed={elapsed} me={me}
                    selectedChat={selectedChat} onMonitor={onMonitor} />
      </section>
    </div>
  );
}

function QueueCard({ queue, elapsed }: { queue: QueueView; elapsed: number }) {
  const longest = queue.waiting > 0 ? queue.longest_wait_secs + elapsed : 0;
  return (
    <article class="sv-card sv-queue" aria-label={queue.name} data-queue={queue.queue_id}>
      <h3 class="sv-card__title">{queue.name}</h3>
      <dl class="sv-stats">
        <div>
          <dt>{t("waiting")}</dt>
          <dd class="sv-stat sv-stat--big" data-field="waiting">{queue.waiting}</dd>
        </div>
        <div>
          <dt>{t("longestWait")}</dt>
          <dd class={`sv-stat ${longest >= 60 ? "sv-stat--warn" : ""}`} data-field="longest">{duration(longest)}</dd>
        </div>
        <div>
          <dt>{t("ewt")}</dt>
          <dd class="sv-stat" data-field="ewt">
            {queue.ewt_new_chat_secs === null ? t("noEstimate") : duration(queue.ewt_new_chat_secs)}
          </dd>
        </div>
        <div>
          <dt>{t("staffed")}</dt>
          <dd class="sv-stat" data-field="staffed">{queue.agents_ready} / {queue.agents_logged_in}</dd>
        </div>
      </dl>
    </article>
  );
}

function AgentsTable({ agents, now, onForce }: { agents: AgentView[]; now: number;
                                                  onForce(agent: AgentView, state: AgentState): Promise<void> }) {
  if (agents.length === 0) return <p class="sv-empty">{t("noAgents")}</p>;
  return (
    <div class="sv-table-wrap" role="region" aria-labelledby="sv-agents-title" tabIndex={0}>
      <table class="sv-table">
        <thead>
          <tr>
            <th scope="col">{t("agent")}</th>
            <th scope="col">{t("state")}</th>
            <th scope="col">{t("since")}</th>
            <th scope="col">{t("load")}</th>
            <th scope="col">{t("chats")}</th>
            <th scope="col" class="sv-actions">{t("actions")}</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((a) => <AgentRow key={a.agent_id} agent={a} now={now} onForce={onForce} />)}
        </tbody>
      </table>
    </div>
  );
}

function AgentRow({ agent, now, onForce }: { agent: AgentView; now: number;
                                            onForce(agent: AgentView, state: AgentState): Promise<void> }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  async function force(state: AgentState) {
    setBusy(true);
    try {
      await onForce(agent, state);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  }
  const ratio = agent.max_chats > 0 ? Math.min(1, agent.load / agent.max_chats) : 0;
  return (
    <tr data-agent={agent.username}>
      <td>
        <span class="sv-name">{agent.display_name}</span>
        <span class="sv-sub">{agent.username}{agent.team ? ` · ${agent.team}` : ""}</span>
      </td>
      <td><span class={`sv-badge sv-badge--${agent.state}`} data-field="state">{agentStateText(agent.state)}</span></td>
      <td class="sv-num">{duration(now - agent.state_since)}</td>
      <td>
        <span class="sv-load" data-field="load">{agent.load} / {agent.max_chats}</span>
        <span class="sv-bar" aria-hidden="true"><span style={{ width: `${Math.round(ratio * 100)}%` }} /></span>
      </td>
      <td class="sv-num" data-field="chats">
        {agent.chats.length}
        {agent.offers.length > 0 && <span class="sv-sub">{t("offersPending", { count: agent.offers.length })}</span>}
      </td>
      <td class="sv-actions">
        {confirming ? (
          <span class="sv-confirm" role="group" aria-label={t("confirmLogOut", { name: agent.display_name })}>
            <span class="sv-confirm__text">{t("confirmLogOut", { name: agent.display_name })}</span>
            <button type="button" class="sv-btn sv-btn--danger" disabled={busy} onClick={() => void force("logged_out")}>
              {t("logOutAgent")}
            </button>
            <button type="button" class="sv-btn" onClick={() => setConfirming(false)}>{t("close")}</button>
          </span>
        ) : (
          <>
            <button type="button" class="sv-btn" disabled={busy || agent.state !== "not_ready"}
                    aria-label={`${t("makeReady")}: ${agent.display_name}`} onClick={() => void force("ready")}>
              {t("stateReady")}
            </button>
            <button type="button" class="sv-btn" disabled={busy || agent.state !== "ready"}
                    aria-label={`${t("makeNotReady")}: ${agent.display_name}`} onClick={() => void force("not_ready")}>
              {t("stateNotReady")}
            </button>
            <button type="button" class="sv-btn sv-btn--quiet" disabled={busy || agent.state === "logged_out"}
                    aria-label={`${t("logOutAgent")}: ${agent.display_name}`} onClick={() => setConfirming(true)}>
              {t("logOutAgent")}
            </button>
          </>
        )}
      </td>
    </tr>
  );
}

interface ChatsProps {
  chats: ChatView[];
  agents: Map<string, AgentView>;
  queues: Map<string, QueueView>;
  elapsed: number;
  me: string;
  selectedChat: string | null;
  onMonitor(chatId: string): void;
}

function ChatsTable({ chats, agents, queues, elapsed, me, selectedChat, onMonitor }: ChatsProps) {
  if (chats.length === 0) return <p class="sv-empty">{t("noChats")}</p>;
  return (
    <div class="sv-table-wrap" role="region" aria-labelledby="sv-chats-title" tabIndex={0}>
      <table class="sv-table">
        <thead>
          <tr>
            <th scope="col">{t("customer")}</th>
            <th scope="col">{t("queue")}</th>
            <th scope="col">{t("agent")}</th>
            <th scope="col">{t("state")}</th>
            <th scope="col">{t("duration")}</th>
            <th scope="col"><span class="sv-visually-hidden">{t("actions")}</span></th>
          </tr>
        </thead>
        <tbody>
          {chats.map((c) => {
            const secs = c.state === "connected" ? c.connected_secs : c.waiting_secs;
            const offered = c.offered_agent_id ? agents.get(c.offered_agent_id)?.display_name ?? c.offered_agent_id : "";
            const inChat = c.agents.some((a) => a.agent_id === me);
            const watching = c.monitors.includes(me) || inChat;
            // a chat the supervisor is in (an admin who took it, or after barging) opens, it is not monitored
            const label = inChat ? t("openChat") : watching ? t("monitoring") : t("monitor");
            return (
              <tr key={c.chat_id} data-chat={c.chat_id} class={selectedChat === c.chat_id ? "sv-row--selected" : ""}>
                <td class="sv-wrap">
                  <span class="sv-name" data-field="customer">{c.customer_name || t("customer")}</span>
                  <code class="sv-id sv-sub" title={c.chat_id}>{c.chat_id.slice(0, 8)}</code>
                </td>
                <td>{queues.get(c.queue_id)?.name ?? c.queue_id}</td>
                <td class="sv-wrap">
                  {c.agents.length > 0 ? c.agents.map((a) => a.display_name).join(", ")
                    : offered ? <span class="sv-sub">{t("offeredTo", { name: offered })}</span> : t("none")}
                </td>
                <td><span class={`sv-badge sv-badge--chat-${c.state}`}>{chatStateText(c.state)}</span></td>
                <td class="sv-num">{secs === null ? t("none") : duration(secs + elapsed)}</td>
                <td class="sv-actions">
                  <button type="button" class={`sv-btn ${watching ? "sv-btn--active" : ""}`}
                          aria-pressed={selectedChat === c.chat_id}
                          aria-label={`${label}: ${c.customer_name || t("customer")} (${c.chat_id.slice(0, 8)})`}
                          onClick={() => onMonitor(c.chat_id)}>
                    {label}
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
