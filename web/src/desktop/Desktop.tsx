// The agent desktop once signed in: the live connection, the three columns (state, offers and chats;
// the conversation; the customer's details), receipts, alerts and keyboard shortcuts.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { type AgentInfo, ApiError, api, logOut, onUnauthorized } from "../shared/api";
import { chime, notify } from "./alerts";
import { Conversation } from "./Conversation";
import { Details } from "./Details";
import { t } from "./i18n";
import { LeftMessages } from "./LeftMessages";
import { LiveConnection } from "./live";
import { acceptOffer, setAgentState, Sidebar } from "./Sidebar";
import { CUSTOMER_EVENTS, type DesktopState, Store, customerName } from "./store";
import type { ChatDetail, Directory } from "./wire";

interface Props {
  me: AgentInfo;
  onSignedOut: () => void;
}

function useStore(store: Store): DesktopState {
  const [, setVersion] = useState(0);
  useEffect(() => store.subscribe(() => setVersion((v) => v + 1)), [store]);
  return store.state;
}

/** Receipts the agent owes: "delivered" for every customer message that arrived, "read" once the
 * chat is on screen. Each is sent once per page (the server's receipt events then count as sent). */
function useReceipts(state: DesktopState, visible: boolean) {
  const sent = useRef(new Set<string>());
  useEffect(() => {
    for (const chat of state.chats.values()) {
      if (chat.status !== "active") continue;
      const agentMarks = new Map<string, string>();
      for (const { event } of chat.events) {
        if (event.party_id !== chat.id && event.ref_msg_id
            && (event.event === "chat_session_message_read" || event.event === "chat_session_message_delivered")) {
          if (agentMarks.get(event.ref_msg_id) !== "read") agentMarks.set(event.ref_msg_id, event.event.endsWith("read") ? "read" : "delivered");
        }
      }
      const onScreen = visible && state.activeId === chat.id;
      for (const { event } of chat.events) {
        if (event.party_id !== chat.id || !event.msg_id
            || !CUSTOMER_EVENTS.has(event.event)) continue;
        const have = agentMarks.get(event.msg_id);
        const kind = onScreen ? "read" : "delivered";
        if (have === "read" || (have === "delivered" && kind === "delivered")) continue;
        const key = `${chat.id} ${event.msg_id} ${kind}`;
        if (sent.current.has(key)) continue;
        sent.current.add(key);
        api("POST", `/chats/${encodeURIComponent(chat.id)}/receipts`, { ref_msg_id: event.msg_id, kind })
          .catch(() => sent.current.delete(key));
      }
    }
  });
}

export function Desktop({ me, onSignedOut }: Props) {
  const store = useMemo(() => new Store(me), [me]);
  const state = useStore(store);
  const [directory, setDirectory] = useState<Directory | null>(null);
  const [view, setView] = useState<"chat" | "left-messages">("chat");
  const [detailsShown, setDetailsShown] = useState(false);
  const [listShown, setListShown] = useState(true);
  const [visible, setVisible] = useState(document.visibilityState === "visible");

  useEffect(() => {
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      onSignedOut();
    };
    const stopListening = onUnauthorized(end);
    store.onNewOffer = (chat, invitation) => {
      chime();
      notify(t("notificationTitle"), invitation ? t("invitedTo", { name: customerName(chat) })
        : t("notificationBody", { name: customerName(chat) }));
    };
    store.onDetailNeeded = (chatId) => {
      api<ChatDetail>("GET", `/chats/${encodeURIComponent(chatId)}`)
        .then((detail) => store.setDetail(chatId, detail), () => undefined);
    };
    const live = new LiveConnection(store, end);
    live.start();
    api<Directory>("GET", "/directory").then(setDirectory, () => undefined);
    const onVisibility = () => setVisible(document.visibilityState === "visible");
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      live.stop();
      stopListening();
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [store]);

  useReceipts(state, visible);

  // the directory's agent states and loads change: read it again when a chat arrives or leaves
  const chatCount = state.order.length;
  useEffect(() => {
    if (chatCount) api<Directory>("GET", "/directory").then(setDirectory, () => undefined);
  }, [chatCount]);

  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (!event.altKey || event.ctrlKey || event.metaKey) return;
      const key = event.key.toLowerCase();
      if (key === "r") {
        event.preventDefault();
        void setAgentState(store, store.state.agentState === "ready" ? "not_ready" : "ready");
      } else if (key === "a" && store.state.offers[0]) {
        event.preventDefault();
        void acceptOffer(store, store.state.offers[0].chat_id);
      } else if (key === "arrowdown" || key === "arrowup") {
        const order = store.state.order;
        if (!order.length) return;
        event.preventDefault();
        const at = order.indexOf(store.state.activeId ?? "");
        const next = key === "arrowdown" ? (at + 1) % order.length : (at - 1 + order.length) % order.length;
        setView("chat");
        store.select(order[next] ?? null);
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [store]);

  async function signOut() {
    try {
      await logOut();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        store.setNotice(t("error", { detail: String(error) }));
        return;
      }
    }
    onSignedOut();
  }

  const active = state.activeId ? state.chats.get(state.activeId) ?? null : null;
  const name = String(me["display_name"] ?? me.username);
  return (
    <div class={`fd-desktop${listShown ? " fd-desktop--list" : " fd-desktop--chat"}${detailsShown ? " fd-desktop--details" : ""}`}>
      <header class="fd-topbar">
        <h1 class="fd-topbar__title">{t("title")}</h1>
        <span class="fd-topbar__state fd-only-narrow" aria-hidden={!listShown ? undefined : "true"}>
          <span class={`fd-dot fd-dot--${state.agentState}`} aria-hidden="true" />
          {t(state.agentState === "ready" ? "ready" : state.agentState === "not_ready" ? "notReady" : "loggedOut")}
        </span>
        <span class="fd-topbar__me">{name}</span>
        <button type="button" class="fd-button fd-button--ghost" onClick={() => void signOut()}>{t("signOut")}</button>
      </header>
      {state.connection !== "live" && (
        <div class={`fd-banner fd-banner--${state.connection}`} role="status" data-testid="connection">
          {state.connection === "reconnecting" ? t("reconnecting") : t("connecting")}
        </div>
      )}
      {state.notice && (
        <div class="fd-banner fd-banner--error" role="alert">
          <span>{state.notice}</span>
          <button type="button" class="fd-button fd-button--ghost" onClick={() => store.setNotice(null)}>{t("dismiss")}</button>
        </div>
      )}
      <div class="fd-columns">
        <Sidebar state={state} store={store} view={view}
                 onOpenLeftMessages={() => { setView("left-messages"); setListShown(false); }}
                 onOpenChat={(id) => { setView("chat"); store.select(id); setListShown(false); }} />
        <main class="fd-main">
          {view === "left-messages" ? <LeftMessages store={store} />
            : active ? (
              <Conversation chat={active} store={store} myAgentId={me.agent_id}
                            onBack={() => setListShown(true)} detailsShown={detailsShown}
                            onToggleDetails={() => setDetailsShown((shown) => !shown)} />
            ) : <p class="fd-empty fd-main__empty">{t("pickChat")}</p>}
        </main>
        {view === "chat" && active && (
          <Details chat={active} store={store} directory={directory} myAgentId={me.agent_id}
                   onClose={() => setDetailsShown(false)} />
        )}
      </div>
      <footer class="fd-footer">{t("shortcuts")}</footer>
    </div>
  );
}
