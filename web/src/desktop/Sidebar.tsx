// The left column: the agent's own state (always visible), incoming offers with their countdown,
// conference invitations, the chats held with unread counts, and the way to the left messages.

import { useEffect, useState } from "preact/hooks";
import { api } from "../shared/api";
import { prepareAlerts } from "./alerts";
import { errorText } from "./Conversation";
import { t } from "./i18n";
import { type DesktopState, type Offer, type Store, customerName, unreadMessageIds } from "./store";
import type { AgentState, ChatSummary } from "./wire";

const STATE_LABEL: Record<AgentState, "ready" | "notReady" | "loggedOut"> = {
  ready: "ready", not_ready: "notReady", logged_out: "loggedOut",
};

export async function setAgentState(store: Store, state: "ready" | "not_ready"): Promise<void> {
  prepareAlerts();
  try {
    const agent = await api<{ state: AgentState }>("POST", "/state", { state });
    store.setAgentState(agent.state);
  } catch (error) {
    store.setNotice(t("error", { detail: errorText(error) }));
  }
}

export async function acceptOffer(store: Store, chatId: string): Promise<void> {
  prepareAlerts();
  try {
    await api("POST", `/chats/${encodeURIComponent(chatId)}/accept`);
    store.select(chatId);
  } catch (error) {
    store.setNotice(t("error", { detail: errorText(error) }));
  }
}

async function act(store: Store, path: string): Promise<void> {
  try {
    await api("POST", path);
  } catch (error) {
    store.setNotice(t("error", { detail: errorText(error) }));
  }
}

function StateSwitch({ state, store }: { state: DesktopState; store: Store }) {
  const ready = state.agentState === "ready";
  return (
    <div class="fd-state">
      <div class="fd-state__now" aria-live="polite">
        <span class={`fd-dot fd-dot--${state.agentState}`} aria-hidden="true" />
        <span class="fd-visually-hidden">{t("stateLabel")}: </span>
        <strong data-testid="agent-state">{t(STATE_LABEL[state.agentState])}</strong>
      </div>
      <button type="button" class={`fd-button ${ready ? "" : "fd-button--primary"}`} data-testid="toggle-state"
              aria-keyshortcuts="Alt+R"
              onClick={() => void setAgentState(store, ready ? "not_ready" : "ready")}>
        {ready ? t("goNotReady") : t("goReady")}
      </button>
    </div>
  );
}

function Countdown({ offer }: { offer: Offer }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 250);
    return () => window.clearInterval(timer);
  }, []);
  if (offer.deadline === null) return <span class="fd-offer__time">{t("noTimeout")}</span>;
  const left = Math.max(0, Math.ceil((offer.deadline - now) / 1000));
  return <span class="fd-offer__time" role="timer" data-testid="offer-countdown">{t("acceptWithin", { n: left })}</span>;
}

function Offers({ state, store }: { state: DesktopState; store: Store }) {
  if (state.offers.length === 0 && state.invitations.length === 0) return null;
  return (
    <section class="fd-offers" aria-label={t("offers")}>
      {state.offers.map((offer, index) => (
        <article key={offer.chat_id} class="fd-offer" aria-label={t("notificationBody", { name: customerName(offer) })}>
          <div class="fd-offer__head">
            <strong>{customerName(offer)}</strong>
            <Countdown offer={offer} />
          </div>
          <OfferDetails chat={offer} />
          <div class="fd-offer__buttons">
            <button type="button" class="fd-button fd-button--primary" aria-keyshortcuts={index === 0 ? "Alt+A" : undefined}
                    onClick={() => void acceptOffer(store, offer.chat_id)}>{t("accept")}</button>
            <button type="button" class="fd-button"
                    onClick={() => void act(store, `/chats/${encodeURIComponent(offer.chat_id)}/reject`)}>{t("reject")}</button>
          </div>
        </article>
      ))}
      {state.invitations.map((inv) => (
        <article key={inv.chat_id} class="fd-offer fd-offer--invite">
          <div class="fd-offer__head"><strong>{t("invitedTo", { name: customerName(inv) })}</strong></div>
          <div class="fd-offer__buttons">
            <button type="button" class="fd-button fd-button--primary"
                    onClick={async () => {
                      await act(store, `/chats/${encodeURIComponent(inv.chat_id)}/join`);
                      store.select(inv.chat_id);
                    }}>{t("join")}</button>
            <button type="button" class="fd-button"
                    onClick={() => void act(store, `/chats/${encodeURIComponent(inv.chat_id)}/decline`)}>{t("decline")}</button>
          </div>
        </article>
      ))}
    </section>
  );
}

function OfferDetails({ chat }: { chat: ChatSummary }) {
  const question = chat.parameters["question"] ?? chat.parameters["subject"];
  return typeof question === "string" && question ? <p class="fd-offer__text">{question}</p> : null;
}

interface ListProps {
  state: DesktopState;
  store: Store;
  view: "chat" | "left-messages";
  onOpenLeftMessages: () => void;
  onOpenChat: (chatId: string) => void;
}

export function Sidebar({ state, store, view, onOpenLeftMessages, onOpenChat }: ListProps) {
  return (
    <nav class="fd-sidebar" aria-label={t("chats")}>
      <StateSwitch state={state} store={store} />
      <Offers state={state} store={store} />
      <h2 class="fd-sidebar__title">{t("chats")}</h2>
      {state.order.length === 0 ? <p class="fd-empty">{t("noChats")}</p> : (
        <ul class="fd-chatlist">
          {state.order.map((id) => {
            const chat = state.chats.get(id);
            if (!chat) return null;
            const unread = unreadMessageIds(chat).length;
            const last = [...chat.events].reverse().find((e) => e.event.event === "chat_session_message");
            const current = view === "chat" && state.activeId === id;
            return (
              <li key={id}>
                <button type="button" class={`fd-chatlist__item${current ? " fd-chatlist__item--current" : ""}`}
                        aria-current={current ? "true" : undefined} data-chat-id={id}
                        onClick={() => onOpenChat(id)}>
                  <span class="fd-chatlist__name">{customerName(chat.summary)}</span>
                  {unread > 0 && <span class="fd-badge" data-testid="unread" aria-label={t("unread", { n: unread })}>{unread}</span>}
                  <span class="fd-chatlist__last">
                    {chat.status !== "active" ? (chat.status === "ended" ? t("ended") : t("left"))
                      : chat.customerTyping !== null ? t("typing", { name: "" }).trim() : last?.event.msg_text ?? ""}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <button type="button" class={`fd-button fd-button--ghost fd-sidebar__left${view === "left-messages" ? " fd-button--current" : ""}`}
              onClick={onOpenLeftMessages}>{t("leftMessages")}</button>
    </nav>
  );
}
