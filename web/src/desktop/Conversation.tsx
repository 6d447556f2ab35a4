// The conversation in the middle: the chat's events as messages and notices, the customer's typing
// (with the draft preview), receipts on the agent's messages, and the composer (text, files by
// picker or drag and drop; typing is reported to the customer).

import { useEffect, useRef, useState } from "preact/hooks";
import { AGENT_API, ApiError, api } from "../shared/api";
import { randomHex } from "../shared/random";
import { Linkified, SafeLink, clock, valueText } from "./format";
import { t } from "./i18n";
import { type ChatState, type LoggedEvent, type Store, customerName, receiptsOf } from "./store";
import type { ChatEventBody, Party } from "./wire";

const TYPING_IDLE_MS = 3_000;

interface Props {
  chat: ChatState;
  store: Store;
  myAgentId: string;
  onBack: () => void;
  onToggleDetails: () => void;
  detailsShown: boolean;
}

function partyName(chat: ChatState, partyId: string | undefined, myPartyIds: Set<string>): string {
  if (!partyId) return t("system");
  if (partyId === chat.id) return customerName(chat.summary);
  if (myPartyIds.has(partyId)) return t("you");
  const party = chat.detail?.parties.find((p: Party) => p.party_id === partyId);
  if (party) return party.display_name || t("system");
  const joined = chat.events.find((e) => e.event.event === "chat_session_party_joined" && e.event.party_id === partyId);
  return joined?.event.display_name || t("system");
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.detail || `HTTP ${error.status}`;
  return error instanceof Error ? error.message : String(error);
}

function FileBody({ chatId, event }: { chatId: string; event: ChatEventBody }) {
  const url = `${AGENT_API}/chats/${encodeURIComponent(chatId)}/files/${encodeURIComponent(event.file_id ?? "")}`;
  const name = event.file_name || "file";
  if (event.file_type === "image") {
    return (
      <a class="fd-file fd-file--image" href={url} download={name} aria-label={t("download", { name })}>
        <img src={url} alt={name} loading="lazy" />
      </a>
    );
  }
  return (
    <a class="fd-file" href={url} download={name}>
      <svg aria-hidden="true" class="fd-file__icon" width="18" height="18" viewBox="0 0 24 24" fill="none"
           stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
        <path d="M14 3H6a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z" /><path d="M14 3v6h6" />
      </svg>
      <span class="fd-file__name">{name}</span>
    </a>
  );
}

function FormAnswer({ event }: { event: ChatEventBody }) {
  const data = event.data;
  const entries = data && typeof data === "object" && !Array.isArray(data) ? Object.entries(data as Record<string, unknown>) : [];
  return (
    <div class="fd-card">
      <div class="fd-card__title">
        {event.form_name ? t("formAnswer", { name: event.form_name }) : t("questionAnswer")}
      </div>
      {entries.length === 0 ? <p>{t("noAnswer")}</p> : (
        <dl class="fd-pairs">
          {entries.map(([key, value]) => (
            <div key={key}><dt>{key}</dt><dd>{valueText(value)}</dd></div>
          ))}
        </dl>
      )}
    </div>
  );
}

/** A notice line for events that are not messages (null: nothing to show). */
function noticeFor(chat: ChatState, event: ChatEventBody, name: (id?: string) => string): string | null {
  switch (event.event) {
    case "chat_session_party_joined":
      return event.type === "external" ? null : t("joinedChat", { name: event.display_name || name(event.party_id) });
    case "chat_session_party_left":
      return event.party_id === chat.id ? null : t("leftChat", { name: name(event.party_id) });
    case "chat_session_ended":
      return t("chatEnded");
    case "chat_session_status":
      return event.state === "queued" ? t("statusQueued") : null;
    case "chat_session_form_show":
      return event.form_name === "RequestLocation" ? t("locationAsked")
        : event.form_name ? t("formSent", { name: event.form_name }) : t("questionSent");
    case "chat_form_data_cancel":
    case "chat_session_secure_form_cancel":
      return t("formCancelled", { name: event.form_name || "?" });
    case "frontdesk_form_expired":
      return t("formExpired");
    case "chat_session_case_set":
      return event.case_id ? t("caseSet", { id: valueText(event.case_id) }) : null;
    case "chat_session_navigation":
      return t("navigated", { title: event.title || event.page || "?" });
    case "frontdesk_transferred":
      return t("transferred");
    case "frontdesk_invited":
      return t("invited");
    case "frontdesk_invitation_declined":
      return t("invitationDeclined");
    case "frontdesk_whisper":
      return t("whisper", { text: valueText(event.msg_text ?? event.msg ?? event.text) });
    case "chat_session_timeout_warning":
    case "chat_session_inactivity_timeout":
      return valueText(event.msg);
    default:
      return null;
  }
}

function Item({ chat, item, myPartyIds, marks }: { chat: ChatState; item: LoggedEvent; myPartyIds: Set<string>;
                                                   marks: Map<string, "delivered" | "read"> }) {
  const { event } = item;
  const name = (id?: string) => partyName(chat, id, myPartyIds);
  const mine = !!event.party_id && myPartyIds.has(event.party_id);
  const who = event.party_id === chat.id ? "customer" : mine ? "mine" : "agent";
  if (event.event === "chat_session_message" || event.event === "chat_session_file"
      || event.event === "chat_session_location" || event.event === "chat_session_form_data") {
    const mark = mine && event.msg_id ? marks.get(event.msg_id) : undefined;
    let body;
    if (event.event === "chat_session_message") body = <p class="fd-bubble__text"><Linkified text={event.msg_text ?? ""} /></p>;
    else if (event.event === "chat_session_file") body = <FileBody chatId={chat.id} event={event} />;
    else if (event.event === "chat_session_form_data") body = <FormAnswer event={event} />;
    else {
      const lat = valueText(event.latitude);
      const lon = valueText(event.longitude);
      const map = `https://www.openstreetmap.org/?mlat=${encodeURIComponent(lat)}&mlon=${encodeURIComponent(lon)}#map=16/${encodeURIComponent(lat)}/${encodeURIComponent(lon)}`;
      body = (
        <div class="fd-card">
          <div class="fd-card__title">{t("location", { lat, lon })}</div>
          <SafeLink href={map}>{t("openMap")}</SafeLink>
        </div>
      );
    }
    return (
      <li class={`fd-msg fd-msg--${who}`} data-seq={item.seq}>
        <div class="fd-bubble">
          {who !== "mine" && <span class="fd-bubble__who">{name(event.party_id)}</span>}
          {body}
          <span class="fd-bubble__meta">
            <time>{clock(event.timestamp)}</time>
            {mine && (
              <span class={`fd-receipt fd-receipt--${mark ?? "sent"}`} data-receipt={mark ?? "sent"}
                    title={t(mark ?? "sent")}>
                <span aria-hidden="true">{mark ? "✓✓" : "✓"}</span>
                <span class="fd-visually-hidden">{t(mark ?? "sent")}</span>
              </span>
            )}
          </span>
        </div>
      </li>
    );
  }
  const notice = noticeFor(chat, event, name);
  if (notice === null) return null;
  return <li class={`fd-notice${event.event === "frontdesk_whisper" ? " fd-notice--whisper" : ""}`}
             data-seq={item.seq}>{notice}</li>;
}

function Composer({ chat, store }: { chat: ChatState; store: Store }) {
  const [text, setText] = useState("");
  const [uploading, setUploading] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const typingSent = useRef(false);
  const unsent = useRef<{ text: string; key: string } | null>(null);
  const idleTimer = useRef<number | undefined>(undefined);
  const fileInput = useRef<HTMLInputElement>(null);
  const path = `/chats/${encodeURIComponent(chat.id)}`;
  const open = chat.status === "active";

  function sendTyping(typing: boolean) {
    if (typingSent.current === typing) return;
    typingSent.current = typing;
    api("POST", `${path}/typing`, { typing }).catch(() => undefined);
  }

  useEffect(() => () => {
    window.clearTimeout(idleTimer.current);
    if (typingSent.current) api("POST", `${path}/typing`, { typing: false }).catch(() => undefined);
  }, [path]);

  function onInput(value: string) {
    setText(value);
    if (!open) return;
    sendTyping(value.trim() !== "");
    window.clearTimeout(idleTimer.current);
    idleTimer.current = window.setTimeout(() => sendTyping(false), TYPING_IDLE_MS);
  }

  async function send() {
    const message = text.trim();
    if (!message || !open) return;
    window.clearTimeout(idleTimer.current);
    typingSent.current = false; // a message ends the agent's typing for the customer
    setText("");
    // a message that failed keeps its key: sent again (the answer may have been lost, not the
    // message), the server answers with the message already sent instead of sending it twice
    const earlier = unsent.current;
    const key = earlier && earlier.text === message ? earlier.key : randomHex(16);
    try {
      await api("POST", `${path}/messages`, { text: message, client_msg_id: key });
      unsent.current = null;
    } catch (error) {
      unsent.current = { text: message, key };
      setText(message);
      store.setNotice(t("error", { detail: errorText(error) }));
    }
  }

  async function upload(files: FileList | File[]) {
    for (const file of Array.from(files)) {
      setUploading(file.name);
      const form = new FormData();
      form.append("file", file, file.name);
      try {
        await api("POST", `${path}/files`, form);
      } catch (error) {
        store.setNotice(t("error", { detail: errorText(error) }));
      } finally {
        setUploading(null);
      }
    }
  }

  return (
    <form class={`fd-composer${dragging ? " fd-composer--drop" : ""}`}
          onSubmit={(e) => { e.preventDefault(); void send(); }}
          onDragOver={(e) => { if (open) { e.preventDefault(); setDragging(true); } }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragging(false);
            if (open && e.dataTransfer?.files.length) void upload(e.dataTransfer.files);
          }}>
      {dragging && <div class="fd-composer__drop" aria-hidden="true">{t("dropHere")}</div>}
      {uploading && <p class="fd-composer__status" role="status">{t("uploading", { name: uploading })}</p>}
      <label class="fd-visually-hidden" for={`fd-text-${chat.id}`}>{t("messageLabel")}</label>
      <textarea id={`fd-text-${chat.id}`} class="fd-composer__text" rows={2} value={text} disabled={!open}
                placeholder={t("messagePlaceholder")}
                onInput={(e) => onInput(e.currentTarget.value)}
                onBlur={() => sendTyping(false)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                    e.preventDefault();
                    void send();
                  }
                }} />
      <div class="fd-composer__buttons">
        <input ref={fileInput} type="file" multiple class="fd-visually-hidden" tabIndex={-1} aria-hidden="true"
               data-testid="file-input"
               onChange={(e) => {
                 const files = e.currentTarget.files;
                 if (files?.length) void upload(Array.from(files));
                 e.currentTarget.value = "";
               }} />
        <button type="button" class="fd-button fd-button--ghost" disabled={!open}
                onClick={() => fileInput.current?.click()} aria-label={t("attach")} title={t("attach")}>
          <svg aria-hidden="true" width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor"
               stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
            <path d="M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9" />
          </svg>
        </button>
        <button type="submit" class="fd-button fd-button--primary" disabled={!open || !text.trim()}>{t("send")}</button>
      </div>
    </form>
  );
}

export function Conversation({ chat, store, myAgentId, onBack, onToggleDetails, detailsShown }: Props) {
  const list = useRef<HTMLOListElement>(null);
  const myPartyIds = new Set((chat.detail?.parties ?? []).filter((p) => p.agent_id === myAgentId).map((p) => p.party_id));
  const marks = receiptsOf(chat);
  const count = chat.events.length;
  useEffect(() => {
    const element = list.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, [count, chat.id]);
  const name = customerName(chat.summary);
  const typingAgents = [...chat.agentsTyping].filter((id) => !myPartyIds.has(id));
  return (
    <section class="fd-conversation" aria-label={name}>
      <header class="fd-conversation__head">
        <button type="button" class="fd-button fd-button--ghost fd-only-narrow" onClick={onBack}>
          <span aria-hidden="true">← </span>{t("back")}
        </button>
        <div class="fd-conversation__title">
          <h2>{name}</h2>
          <span class={`fd-pill fd-pill--${chat.status}`}>
            {chat.status === "active" ? chat.summary.state : chat.status === "ended" ? t("ended") : t("left")}
          </span>
        </div>
        <button type="button" class="fd-button fd-button--ghost fd-only-medium" aria-expanded={detailsShown}
                onClick={onToggleDetails}>{detailsShown ? t("hideDetails") : t("showDetails")}</button>
      </header>
      <ol class="fd-log" ref={list} aria-live="polite" aria-relevant="additions" tabIndex={0}
          aria-label={t("conversation")}>
        {chat.events.map((item, index) => {
          // "You left" just before "The chat ended" says nothing more: the end says it
          const next = chat.events[index + 1];
          if (item.event.event === "chat_session_party_left" && item.event.party_id && myPartyIds.has(item.event.party_id)
              && next?.event.event === "chat_session_ended") return null;
          return <Item key={item.seq} chat={chat} item={item} myPartyIds={myPartyIds} marks={marks} />;
        })}
      </ol>
      <div class="fd-typing" aria-live="polite">
        {chat.customerTyping !== null && (
          <p class="fd-typing__line">
            {chat.customerTyping
              ? t("typingPreview", { name, text: chat.customerTyping })
              : t("typing", { name })}
          </p>
        )}
        {typingAgents.map((id) => <p key={id} class="fd-typing__line">{t("typing", { name: partyName(chat, id, myPartyIds) })}</p>)}
      </div>
      {chat.status === "active" ? <Composer key={chat.id} chat={chat} store={store} /> : (
        <p class="fd-composer fd-composer--closed" role="status">
          {chat.status === "ended" ? t("chatEnded") : t("youLeftChat")}
        </p>
      )}
    </section>
  );
}
