// The supervisor view: sign-in (supervisors and admins only), then the live overview pushed by
// `/supervisor/ws`, the monitor of one chat, and the reports.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, currentAgent, logOut, onUnauthorized, type AgentInfo } from "../shared/api";
import { Login } from "../shared/Login";
import { keepRecent, type Sample } from "./Chart";
import { OverviewFeed, type FeedStatus } from "./feed";
import { forgetEndedSession } from "./http";
import { loginStrings, t } from "./i18n";
import { agentStateText, LiveView } from "./LiveView";
import { Monitor } from "./Monitor";
import { Reports } from "./Reports";
import type { AgentState, AgentView, Overview } from "./wire";

type Phase =
  | { kind: "loading" }
  | { kind: "login" }
  | { kind: "forbidden"; agent: AgentInfo }
  | { kind: "ready"; agent: AgentInfo }
  | { kind: "error"; detail: string };

const SUPERVISING_ROLES = new Set(["supervisor", "admin"]);

function phaseOf(agent: AgentInfo | null): Phase {
  if (agent === null) return { kind: "login" };
  return SUPERVISING_ROLES.has(String(agent["role"])) ? { kind: "ready", agent } : { kind: "forbidden", agent };
}

export function App() {
  const [phase, setPhase] = useState<Phase>({ kind: "loading" });

  useEffect(() => {
    currentAgent().then((agent) => setPhase(phaseOf(agent)),
                        (error: unknown) => setPhase({ kind: "error", detail: String(error) }));
  }, []);

  async function signOut() {
    await logOut().catch(() => undefined);
    setPhase({ kind: "login" });
  }

  switch (phase.kind) {
    case "loading":
      return <main class="sv-center"><p role="status">{t("loading")}</p></main>;
    case "error":
      return <main class="sv-center"><p role="alert">{t("errorGeneric", { detail: phase.detail })}</p></main>;
    case "login":
      return <Login title={t("signIn")} strings={loginStrings} onSignedIn={(agent) => setPhase(phaseOf(agent))} />;
    case "forbidden":
      return (
        <main class="sv-center">
          <section class="sv-card sv-refused" aria-labelledby="sv-refused-title">
            <h1 id="sv-refused-title">{t("notAllowedTitle")}</h1>
            <p>{t("notAllowedText", { name: String(phase.agent["display_name"] ?? phase.agent.username) })}</p>
            <button type="button" class="sv-btn sv-btn--primary" onClick={() => void signOut()}>{t("signOut")}</button>
          </section>
        </main>
      );
    case "ready":
      return <Supervisor me={phase.agent} onSignedOut={() => { forgetEndedSession(); setPhase({ kind: "login" }); }}
                         onForbidden={() => setPhase({ kind: "forbidden", agent: phase.agent })}
                         onSignOut={() => void signOut()} />;
  }
}

interface SupervisorProps {
  me: AgentInfo;
  onSignedOut(): void;
  onForbidden(): void;
  onSignOut(): void;
}

function Supervisor({ me, onSignedOut, onForbidden, onSignOut }: SupervisorProps) {
  const [overview, setOverview] = useState<Overview | null>(null);
  const [receivedAt, setReceivedAt] = useState(0);
  const [status, setStatus] = useState<FeedStatus>("connecting");
  const [samples, setSamples] = useState<Sample[]>([]);
  const [nowMs, setNowMs] = useState(performance.now());
  const [tab, setTab] = useState<"live" | "reports">("live");
  const [selected, setSelected] = useState<string | null>(null);
  const [notice, setNotice] = useState("");
  const handlers = useRef({ onSignedOut, onForbidden });
  handlers.current = { onSignedOut, onForbidden };

  useEffect(() => {
    const feed = new OverviewFeed({
      overview(next, at) {
        setOverview(next);
        setReceivedAt(at);
        const sample: Sample = {
          at,
          waiting: next.queues.reduce((sum, q) => sum + q.waiting, 0),
          longest: Math.max(0, ...next.queues.map((q) => q.longest_wait_secs)),
        };
        setSamples((old) => keepRecent([...old, sample], at));
      },
      status: setStatus,
      signedOut: () => handlers.current.onSignedOut(),
      forbidden: () => handlers.current.onForbidden(),
    });
    feed.start();
    const unsubscribe = onUnauthorized(() => handlers.current.onSignedOut()); // any 401: the session is gone
    const tick = window.setInterval(() => setNowMs(performance.now()), 1000);
    return () => {
      unsubscribe();
      feed.stop();
      window.clearInterval(tick);
    };
  }, []);

  async function force(agent: AgentView, state: AgentState) {
    setNotice("");
    try {
      await api("POST", `/supervisor/agents/${agent.agent_id.split("/").map(encodeURIComponent).join("/")}/state`, { state });
      setNotice(t("forcedState", { name: agent.display_name, state: agentStateText(state) }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onSignedOut();
      else setNotice(error instanceof ApiError ? t("errorConflict", { detail: error.detail }) : String(error));
    }
  }

  const elapsed = overview ? Math.max(0, (nowMs - receivedAt) / 1000) : 0;
  const selectedChat = selected && overview ? overview.chats.find((c) => c.chat_id === selected) : undefined;
  const statusText = status === "live" ? t("live") : status === "connecting" ? t("connecting") : t("reconnecting");
  return (
    <div class="sv-app">
      <header class="sv-top">
        <div class="sv-top__brand">
          <h1 class="sv-top__title">{t("title")}</h1>
          {overview && <span class="sv-sub">{overview.tenant}</span>}
        </div>
        <nav class="sv-tabs" aria-label={t("title")}>
          <button type="button" class="sv-tab" aria-current={tab === "live" ? "page" : undefined} onClick={() => setTab("live")}>{t("tabLive")}</button>
          <button type="button" class="sv-tab" aria-current={tab === "reports" ? "page" : undefined} onClick={() => setTab("reports")}>{t("tabReports")}</button>
        </nav>
        <div class="sv-top__me">
          <span class={`sv-status sv-status--${status}`} role="status" data-status={status}>{statusText}</span>
          <span class="sv-name sv-top__name">{String(me["display_name"] ?? me.username)}</span>
          <button type="button" class="sv-btn sv-btn--quiet" onClick={onSignOut}>{t("signOut")}</button>
        </div>
      </header>
      <div class="sv-notice-area" role="status">{notice && <p class="sv-notice">{notice}</p>}</div>
      <main class={`sv-main ${tab === "live" && selected ? "sv-main--split" : ""} ${status === "reconnecting" ? "sv-main--stale" : ""}`}>
        {tab === "reports" ? <Reports onUnauthorized={onSignedOut} /> : (
          <>
            {overview ? (
              <LiveView overview={overview} elapsed={elapsed} samples={samples} nowMs={nowMs} me={me.agent_id}
                        selectedChat={selected} onMonitor={(id) => setSelected(id === selected ? null : id)}
                        onForce={force} />
            ) : <p class="sv-empty" role="status">{t("connecting")}</p>}
            {selected && (
              <Monitor key={selected} chatId={selected} chat={selectedChat} me={me}
                       onClose={() => setSelected(null)} onUnauthorized={onSignedOut} />
            )}
          </>
        )}
      </main>
    </div>
  );
}
