// The desktop's state: the agent's state, offers, invitations and every chat it holds (with the
// chat's events in sequence order). One store, changed only through its methods; views subscribe.
//
// Exactly once: an event is applied only when its `seq` is above the chat's cursor (`lastSeq`), so
// a replay after a reconnect (the hello sends these cursors) can never show a message twice.

import type { AgentInfo } from "../shared/api";
import type { AgentState, ChatDetail, ChatEventBody, ChatSummary, Snapshot, StreamEvent } from "./wire";

export type Connection = "connecting" | "live" | "reconnecting";
export type ChatStatus = "active" | "ended" | "left";

export interface LoggedEvent {
  seq: number;
  event: ChatEventBody;
}

export interface ChatState {
  id: string;
  summary: ChatSummary;
  detail: ChatDetail | null;
  events: LoggedEvent[];
  lastSeq: number;
  status: ChatStatus;
  /** the customer's draft while typing ("" = typing without a preview), null = not typing */
  customerTyping: string | null;
  /** other agents typing, by party id */
  agentsTyping: Set<string>;
  page: { page: string; title: string } | null;
  wrappedUp: boolean;
}

export interface Offer extends ChatSummary {
  /** local clock (ms) at which the offer lapses; null: no time limit */
  deadline: number | null;
}

export interface DesktopState {
  me: AgentInfo;
  agentState: AgentState;
  connection: Connection;
  offers: Offer[];
  invitations: ChatSummary[];
  chats: Map<string, ChatState>;
  order: string[];
  activeId: string | null;
  /** a problem to show the agent (an action the server refused, an upload too large) */
  notice: string | null;
}

/** What the customer says or sends: these count as unread until an agent marks them read. */
export const CUSTOMER_EVENTS = new Set(["chat_session_message", "chat_session_file", "chat_session_location",
                                 "chat_session_form_data"]);

type Listener = () => void;

export class Store {
  state: DesktopState;
  private listeners = new Set<Listener>();
  /** called for an offer or invitation this page had not seen before */
  onNewOffer: (chat: ChatSummary, invitation: boolean) => void = () => {};
  /** called when a chat needs its details (parties, queue) read again */
  onDetailNeeded: (chatId: string) => void = () => {};

  constructor(me: AgentInfo) {
    this.state = {
      me, agentState: (me.state as AgentState | undefined) ?? "not_ready", connection: "connecting",
      offers: [], invitations: [], chats: new Map(), order: [], activeId: null, notice: null,
    };
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(patch: Partial<DesktopState> = {}): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }

  /** The hello's cursors: the last sequence number seen of every chat still held. */
  cursors(): Record<string, number> {
    const cursors: Record<string, number> = {};
    for (const chat of this.state.chats.values()) if (chat.status === "active") cursors[chat.id] = chat.lastSeq;
    return cursors;
  }

  setConnection(connection: Connection): void {
    if (connection !== this.state.connection) this.changed({ connection });
  }

  setAgentState(agentState: AgentState): void {
    this.changed({ agentState });
  }

  setNotice(notice: string | null): void {
    this.changed({ notice });
  }

  select(chatId: string | null): void {
    this.changed({ activeId: chatId });
  }

  applySnapshot(snapshot: Snapshot): void {
    const now = Date.now();
    const serverNow = snapshot.server_time ?? now / 1000;
    const known = new Map(this.state.offers.map((o) => [o.chat_id, o]));
    const offers: Offer[] = snapshot.offers.map((offer) => {
      const before = known.get(offer.chat_id);
      const expires = offer.offer_expires_at;
      const deadline = expires === undefined || expires === null ? null
        : now + Math.max(0, expires - serverNow) * 1000;
      return { ...offer, deadline: before && before.deadline !== null && deadline !== null
        ? Math.min(before.deadline, deadline) : deadline };
    });
    const seenInvitations = new Set(this.state.invitations.map((i) => i.chat_id));
    for (const offer of snapshot.offers) if (!known.has(offer.chat_id)) this.onNewOffer(offer, false);
    for (const inv of snapshot.invitations) if (!seenInvitations.has(inv.chat_id)) this.onNewOffer(inv, true);

    const chats = new Map(this.state.chats);
    const order = [...this.state.order];
    const held = new Set(snapshot.chats.map((c) => c.chat_id));
    let activeId = this.state.activeId;
    for (const summary of snapshot.chats) {
      const existing = chats.get(summary.chat_id);
      if (existing) {
        chats.set(summary.chat_id, { ...existing, summary: { ...existing.summary, ...summary },
                                     status: existing.status === "ended" ? "ended" : "active" });
      } else {
        chats.set(summary.chat_id, {
          id: summary.chat_id, summary, detail: null, events: [], lastSeq: 0, status: "active",
          customerTyping: null, agentsTyping: new Set(), page: null, wrappedUp: false,
        });
        order.push(summary.chat_id);
        this.onDetailNeeded(summary.chat_id);
        activeId ??= summary.chat_id;
      }
    }
    for (const [id, chat] of chats) {
      if (chat.status === "active" && !held.has(id)) chats.set(id, { ...chat, status: "left", customerTyping: null });
    }
    this.changed({ agentState: snapshot.agent.state, offers, invitations: snapshot.invitations, chats, order,
                   activeId, connection: "live" });
  }

  applyEvent(message: StreamEvent): void {
    const chat = this.state.chats.get(message.chat_id);
    if (!chat || message.seq <= chat.lastSeq) return; // not ours any more, or already shown
    const event = message.event;
    const next: ChatState = { ...chat, lastSeq: message.seq };
    const fromCustomer = event.party_id === chat.id;
    switch (event.event) {
      case "chat_session_typing":
        if (fromCustomer) next.customerTyping = typeof event.msg === "string" ? event.msg : "";
        else if (event.party_id) next.agentsTyping = new Set(chat.agentsTyping).add(event.party_id);
        break;
      case "chat_session_not_typing":
        if (fromCustomer) next.customerTyping = null;
        else if (event.party_id) {
          next.agentsTyping = new Set(chat.agentsTyping);
          next.agentsTyping.delete(event.party_id);
        }
        break;
      case "chat_session_navigation":
        next.page = { page: event.page ?? "", title: event.title ?? "" };
        next.events = [...chat.events, { seq: message.seq, event }];
        break;
      case "chat_session_ended":
        next.status = "ended";
        next.customerTyping = null;
        next.agentsTyping = new Set();
        next.events = [...chat.events, { seq: message.seq, event }];
        break;
      case "frontdesk_wrap_up":
        if (event.agent_id === this.state.me.agent_id) next.wrappedUp = true;
        next.events = [...chat.events, { seq: message.seq, event }];
        break;
      case "chat_session_party_joined":
      case "chat_session_party_left":
        this.onDetailNeeded(chat.id);
        if (event.party_id && chat.agentsTyping.has(event.party_id)) {
          next.agentsTyping = new Set(chat.agentsTyping);
          next.agentsTyping.delete(event.party_id);
        }
        next.events = [...chat.events, { seq: message.seq, event }];
        break;
      default:
        // a message ends its author's typing
        if (fromCustomer && CUSTOMER_EVENTS.has(event.event)) next.customerTyping = null;
        else if (event.party_id && chat.agentsTyping.has(event.party_id)
                 && (event.event === "chat_session_message" || event.event === "chat_session_file")) {
          next.agentsTyping = new Set(chat.agentsTyping);
          next.agentsTyping.delete(event.party_id);
        }
        next.events = [...chat.events, { seq: message.seq, event }];
    }
    const chats = new Map(this.state.chats);
    chats.set(chat.id, next);
    this.changed({ chats });
  }

  setDetail(chatId: string, detail: ChatDetail): void {
    const chat = this.state.chats.get(chatId);
    if (!chat) return;
    const chats = new Map(this.state.chats);
    chats.set(chatId, { ...chat, detail });
    this.changed({ chats });
  }

  markWrappedUp(chatId: string): void {
    const chat = this.state.chats.get(chatId);
    if (!chat) return;
    const chats = new Map(this.state.chats);
    chats.set(chatId, { ...chat, wrappedUp: true });
    this.changed({ chats });
  }

  /** Takes a chat that ended or was left off the list (after its wrap-up, or when the agent closes it). */
  close(chatId: string): void {
    const chats = new Map(this.state.chats);
    chats.delete(chatId);
    const order = this.state.order.filter((id) => id !== chatId);
    const activeId = this.state.activeId === chatId ? (order[0] ?? null) : this.state.activeId;
    this.changed({ chats, order, activeId });
  }
}

/** Customer messages of the chat that no agent has marked read yet (the chat's unread count). */
export function unreadMessageIds(chat: ChatState): string[] {
  const read = new Set<string>();
  for (const { event } of chat.events) {
    if (event.event === "chat_session_message_read" && event.party_id !== chat.id && event.ref_msg_id) {
      read.add(event.ref_msg_id);
    }
  }
  const unread: string[] = [];
  for (const { event } of chat.events) {
    if (event.party_id === chat.id && CUSTOMER_EVENTS.has(event.event) && event.msg_id && !read.has(event.msg_id)) {
      unread.push(event.msg_id);
    }
  }
  return unread;
}

/** What the customer reported for each of this agent's messages: delivered, read (or nothing yet). */
export function receiptsOf(chat: ChatState): Map<string, "delivered" | "read"> {
  const marks = new Map<string, "delivered" | "read">();
  for (const { event } of chat.events) {
    if (event.party_id !== chat.id || !event.ref_msg_id) continue;
    if (event.event === "chat_session_message_read") marks.set(event.ref_msg_id, "read");
    else if (event.event === "chat_session_message_delivered" && marks.get(event.ref_msg_id) !== "read") {
      marks.set(event.ref_msg_id, "delivered");
    }
  }
  return marks;
}

/** The customer's name from the pre-chat data, or a short form of the chat id. */
export function customerName(summary: ChatSummary): string {
  const p = summary.parameters;
  const text = (key: string) => (typeof p[key] === "string" ? (p[key] as string).trim() : "");
  const full = [text("first_name"), text("last_name")].filter(Boolean).join(" ");
  return full || text("name") || text("email") || summary.from || summary.phone_number || `#${summary.chat_id.slice(0, 6)}`;
}
