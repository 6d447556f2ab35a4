// Monitoring one chat: its messages live (read silently: nobody in the chat is told), whispers to
// its agents (never shown to the customer), and barging in (then the supervisor writes to the customer).
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { AGENT_API, api, ApiError, type AgentInfo } from "../shared/api";
import { chatEvents } from "./http";
import { t } from "./i18n";
import type { ChatEvent, ChatEventPayload, ChatSummary, ChatView, Party } from "./wire";

const RETRY_MS = 2000;

interface Props {
  chatId: string;
  chat: ChatView | undefined; // the chat in the newest overview (undefined once it ended)
  me: AgentInfo;
  onClose(): void;
  onUnauthorized(): void;
}

type Author = { name: string; kind: string };

function partyName(party: Pick<Party, "display_name"> & { first_name?: unknown; last_name?: unknown }): string {
  const full = [party.first_name, party.last_name].filter((v) => typeof v === "string" && v).join(" ");
  return party.display_name || full;
}

function problemText(error: unknown): string {
  if (error instanceof ApiError && error.status === 409) return t("errorConflict", { detail: error.detail });
  if (error instanceof ApiError) return t("errorGeneric", { detail: error.detail || `HTTP ${error.status}` });
  return t("errorGeneric", { detail: String(error) });
}

export function Monitor({ chatId, chat, me, onClose, onUnauthorized }: Props) {
  const [summary, setSummary] = useState<ChatSummary | null>(null);
  const [events, setEvents] = useState<ChatEvent[]>([]);
  const [ended, setEnded] = useState(false);
  const [problem, setProblem] = useState("");
  const [whisper, setWhisper] = useState("");
  const [message, setMessage] = useState("");
  const [confirmBarge, setConfirmBarge] = useState(false);
  const [joined, setJoined] = useState(false);
  const [busy, setBusy] = useState(false);
  const [knownName, setKnownName] = useState(""); // the overview's customer_name, kept after the chat ended
  const log = useRef<HTMLDivElement>(null);
  const joinedRef = useRef(false);
  const inChat = joined || Boolean(chat?.agents.some((a) => a.agent_id === me.agent_id));
  joinedRef.current = inChat;

  useEffect(() => {
    const abort = new AbortController();
    let monitoring = false;
    let cursor = 0;

    function failed(error: unknown): boolean {
      if (abort.signal.aborted) return true;
      if (error instanceof ApiError && error.status === 401) {
        onUnauthorized();
        return true;
      }
      return false;
    }

    async function follow() {
      try {
        if (!joinedRef.current) {
          await api("POST", `/supervisor/chats/${encodeURIComponent(chatId)}/monitor`);
          monitoring = true;
        }
        setSummary(await api<ChatSummary>("GET", `/chats/${encodeURIComponent(chatId)}`));
      } catch (error) {
        if (!failed(error)) setProblem(problemText(error));
        return;
      }
      while (!abort.signal.aborted) {
        try {
          const answer = await chatEvents(chatId, cursor, abort.signal);
          const fresh = answer.events.filter((e) => e.seq > cursor);
          if (fresh.length) {
            cursor = Math.max(...fresh.map((e) => e.seq));
            setEvents((old) => [...old, ...fresh]);
            if (fresh.some((e) => e.event.event === "chat_session_ended")) {
              setEnded(true);
              return;
            }
          }
        } catch (error) {
          if (failed(error)) return;
          if (error instanceof ApiError && (error.status === 403 || error.status === 404)) {
            setProblem(problemText(error));
            return;
          }
          await new Promise((resolve) => window.setTimeout(resolve, RETRY_MS)); // the network: try again
        }
      }
    }

    void follow();
    return () => {
      abort.abort();
      if (monitoring && !joinedRef.current) {
        api("DELETE", `/supervisor/chats/${encodeURIComponent(chatId)}/monitor`).catch(() => undefined);
      }
    };
  }, [chatId]);

  const panel = useRef<HTMLElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // one column (a phone): the panel opens below the tables, so bring it into view
    if (window.matchMedia("(max-width: 760px)").matches) panel.current?.scrollIntoView({ block: "start" });
    heading.current?.focus({ preventScroll: true }); // keyboard users continue in the panel
    return () => {
      // back to the chat's Monitor button when the panel closes (if the chat is still listed)
      window.setTimeout(() => {
        const button = document.querySelector<HTMLElement>(`tr[data-chat="${CSS.escape(chatId)}"] button`);
        if (button && (document.activeElement === document.body || document.activeElement === null)) button.focus();
      }, 0);
    };
  }, []);

  useEffect(() => {
    if (chat?.customer_name) setKnownName(chat.customer_name);
  }, [chat?.customer_name]);

  useLayoutEffect(() => {
    const box = log.current;
    if (box) box.scrollTop = box.scrollHeight;
  }, [events.length]);

  const customerLabel = knownName || t("customer");
  const parties = new Map<string, Author>();
  for (const p of summary?.parties ?? []) {
    parties.set(p.party_id, { name: p.type === "customer" ? customerLabel : partyName(p), kind: p.type ?? "" });
  }
  for (const { event } of events) {
    if (event.event === "chat_session_party_joined" && event.party_id) {
      parties.set(event.party_id, { name: partyName({ display_name: event.display_name ?? "", first_name: event.first_name,
                                                      last_name: event.last_name }), kind: event.type ?? "" });
    }
  }
  const author = (e: ChatEventPayload): Author =>
    (e.party_id ? parties.get(e.party_id) : undefined) ?? { name: customerLabel, kind: "customer" };

  async function act(work: () => Promise<void>) {
    setBusy(true);
    setProblem("");
    try {
      await work();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onUnauthorized();
      else setProblem(problemText(error));
    } finally {
      setBusy(false);
    }
  }

  const sendWhisper = (event: Event) => {
    event.preventDefault();
    const text = whisper.trim();
    if (!text) return;
    void act(async () => {
      await api("POST", `/supervisor/chats/${encodeURIComponent(chatId)}/whisper`, { text });
      setWhisper("");
    });
  };
  const sendMessage = (event: Event) => {
    event.preventDefault();
    const text = message.trim();
    if (!text) return;
    void act(async () => {
      await api("POST", `/chats/${encodeURIComponent(chatId)}/messages`, { text });
      setMessage("");
    });
  };
  const barge = () =>
    void act(async () => {
      await api("POST", `/supervisor/chats/${encodeURIComponent(chatId)}/barge`);
      setJoined(true);
      setConfirmBarge(false);
    });
  const leave = () =>
    void act(async () => {
      await api("POST", `/chats/${encodeURIComponent(chatId)}/leave`);
      onClose();
    });

  const agentsInChat = chat?.agents.map((a) => a.display_name).join(", ") || t("none");
  return (
    <section ref={panel} class="sv-monitor" aria-labelledby="sv-monitor-title" data-monitor={chatId}>
      <header class="sv-monitor__head">
        <div>
          <h2 id="sv-monitor-title" class="sv-section__title" ref={heading} tabIndex={-1}>{t("monitorTitle")} <code class="sv-id">{chatId.slice(0, 8)}</code></h2>
          <p class="sv-monitor__who">
            <span class="sv-name" data-field="customer">{customerLabel}</span>
            <span class="sv-sub">{t("agentsInChat")}: {agentsInChat}</span>
          </p>
        </div>
        <button type="button" class="sv-btn" onClick={onClose}>{inChat ? t("close") : t("stopMonitoring")}</button>
      </header>
      <p class={`sv-monitor__mode ${inChat ? "sv-monitor__mode--in" : ""}`}>{inChat ? t("inChat") : t("monitorSilent")}</p>
      <div class="sv-log" ref={log} role="log" aria-live="polite" aria-label={t("monitorTitle")} tabIndex={0}>
        {events.length === 0 && <p class="sv-empty">{t("noMessages")}</p>}
        {events.map(({ seq, event }) => <Line key={seq} chatId={chatId} event={event} author={author(event)} />)}
        {ended && <p class="sv-line sv-line--system">{t("chatEnded")}</p>}
      </div>
      {problem && <p class="sv-problem" role="alert">{problem}</p>}
      {!ended && (
        <div class="sv-monitor__tools">
          <form class="sv-compose sv-compose--whisper" onSubmit={sendWhisper}>
            <label for="sv-whisper">{t("whisperLabel")}</label>
            <div class="sv-compose__row">
              <input id="sv-whisper" value={whisper} maxLength={32000} autocomplete="off"
                     onInput={(e) => setWhisper(e.currentTarget.value)} />
              <button type="submit" class="sv-btn sv-btn--whisper" disabled={busy || !whisper.trim()}>{t("whisperSend")}</button>
            </div>
          </form>
          {inChat ? (
            <>
              <form class="sv-compose" onSubmit={sendMessage}>
                <label for="sv-message">{t("messageLabel")}</label>
                <div class="sv-compose__row">
                  <input id="sv-message" value={message} maxLength={32000} autocomplete="off"
                         onInput={(e) => setMessage(e.currentTarget.value)} />
                  <button type="submit" class="sv-btn sv-btn--primary" disabled={busy || !message.trim()}>{t("send")}</button>
                </div>
              </form>
              <button type="button" class="sv-btn sv-btn--quiet" disabled={busy} onClick={leave}>{t("leaveChat")}</button>
            </>
          ) : confirmBarge ? (
            <div class="sv-confirm" role="group" aria-label={t("bargeConfirm")}>
              <span class="sv-confirm__text">{t("bargeConfirm")}</span>
              <button type="button" class="sv-btn sv-btn--primary" disabled={busy} onClick={barge}>{t("barge")}</button>
              <button type="button" class="sv-btn" onClick={() => setConfirmBarge(false)}>{t("close")}</button>
            </div>
          ) : (
            <button type="button" class="sv-btn sv-btn--primary" disabled={busy || chat?.state !== "connected"}
                    onClick={() => setConfirmBarge(true)}>{t("barge")}</button>
          )}
        </div>
      )}
    </section>
  );
}

function Line({ chatId, event, author }: { chatId: string; event: ChatEventPayload; author: Author }) {
  switch (event.event) {
    case "chat_session_file": {
      const fileId = typeof event["file_id"] === "string" ? event["file_id"] : "";
      const name = typeof event["file_name"] === "string" ? event["file_name"] : fileId;
      return (
        <div class={`sv-line sv-line--${author.kind || "customer"}`} data-event="file">
          <span class="sv-line__who">{author.name}</span>
          <p class="sv-line__text">
            {t("file")}:{" "}
            <a href={`${AGENT_API}/chats/${encodeURIComponent(chatId)}/files/${encodeURIComponent(fileId)}`}
               download={name} target="_blank" rel="noopener noreferrer">{name}</a>
          </p>
        </div>
      );
    }
    case "chat_session_message":
      return (
        <div class={`sv-line sv-line--${author.kind || "customer"}`} data-event="message">
          <span class="sv-line__who">{author.name}</span>
          <p class="sv-line__text">{event.msg ?? ""}</p>
        </div>
      );
    case "frontdesk_whisper":
      return (
        <div class="sv-line sv-line--whisper" data-event="whisper">
          <span class="sv-line__who">{t("whisper")} · {event.from ?? ""}</span>
          <p class="sv-line__text">{event.msg ?? ""}</p>
        </div>
      );
    case "chat_session_party_joined":
      return <p class="sv-line sv-line--system">{t("joined", { name: author.name })}</p>;
    case "chat_session_party_left":
      return <p class="sv-line sv-line--system">{t("left", { name: author.name })}</p>;
    default:
      return null;
  }
}
