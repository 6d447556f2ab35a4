// The widget's chat: availability, the pre-chat form, the chat itself and its long poll, kept as a
// plain state object the view renders. One rule per concern:
// - one outstanding poll at a time, with the explicit cursor (`after` = the last seq handled),
//   backing off on errors and stopping on 5005 (the chat is over);
// - the chat id, the last seq and the forms answered are kept in sessionStorage, so a reloaded page
//   reads the history once (with seqs) and then polls after it: every message is shown exactly once;
// - the customer's own messages are shown when sent (the server never echoes them), and come back
//   from history (party_id == chat id) after a reload.
import { randomHex } from "../shared/random";
import { ApiError, CHAT_GONE, CustomerApi } from "./api";
import type { Translate } from "./i18n";
import type { SavedChat, WidgetStore } from "./store";
import { escapeHtml, textFromHtml } from "./text";
import type { ClientEvent, ServerEvent, WidgetDocument, WidgetForm } from "./wire";

export type Phase = "loading" | "offline" | "prechat" | "starting" | "chat" | "ended";
export type Delivery = "sending" | "sent" | "delivered" | "read" | "failed";

export interface MessageItem {
  kind: "message";
  key: string;
  mine: boolean;
  author: string;
  text: string;
  msgId: string;
  time: number; // epoch ms
  status: Delivery;
  error: string;
}

export interface FileItem {
  kind: "file";
  key: string;
  mine: boolean;
  author: string;
  name: string;
  url: string; // "" while it uploads
  image: boolean;
  msgId: string;
  time: number;
  status: Delivery;
  error: string;
}

export interface NoticeItem {
  kind: "notice";
  key: string;
  text: string;
  tone: "info" | "warning";
}

export interface FormItem {
  kind: "form";
  key: string;
  requestId: string;
  formName: string;
  form: WidgetForm;
  author: string;
  state: "pending" | "sending" | "sent" | "cancelled";
  error: string;
}

export interface LocationItem {
  kind: "location";
  key: string;
  requestId: string;
  author: string;
  state: "pending" | "locating" | "shared" | "declined" | "failed";
}

export type Item = MessageItem | FileItem | NoticeItem | FormItem | LocationItem;

export interface PrechatField {
  name: string;
  kind: string; // FIRST_NAME, LAST_NAME, EMAIL, PHONE, ACCOUNT, COMPANY, TEXT
}

export interface ChatState {
  phase: Phase;
  open: boolean;
  items: Item[];
  typing: string[]; // names of the parties typing now
  queue: { ewtSecs: number } | null;
  agentName: string; // the agent connected now ("" before)
  reconnecting: boolean;
  offlineText: string;
  prechat: PrechatField[];
  error: string;
  textFormPending: boolean;
  ending: boolean; // the customer asked to end; a survey may still run
  unseen: number; // agent messages and files that arrived while the window was closed
}

interface Party {
  name: string;
  type: string;
}

const POLL_ABORT_MS = 30_000; // the server holds a poll at most ~12 s
// An empty answer this soon means another poll of the chat superseded ours (the same chat open in
// two tabs): wait a little, so that two tabs do not supersede each other in a tight loop.
const QUICK_EMPTY_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
const TYPING_RESEND_MS = 2_000;
const TYPING_IDLE_MS = 5_000;
const AGENT_TYPING_MS = 30_000;
const DEFAULT_OFFLINE = "offline"; // the default configuration document's outOfHoursMsg ("Offline")

type Listener = (state: ChatState) => void;

function secondsToMs(timestamp: string | undefined): number {
  const secs = Number(timestamp);
  return Number.isFinite(secs) && secs > 0 ? (secs > 1e11 ? secs : secs * 1000) : Date.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message || error.code;
  if (error instanceof Error) return error.message;
  return String(error);
}

const RANK: Record<Delivery, number> = { failed: 0, sending: 1, sent: 2, delivered: 3, read: 4 };

export class ChatSession {
  state: ChatState = {
    phase: "loading", open: false, items: [], typing: [], queue: null, agentName: "", reconnecting: false,
    offlineText: "", prechat: [], error: "", textFormPending: false, ending: false, unseen: 0,
  };

  private readonly listeners = new Set<Listener>();
  private readonly parties = new Map<string, Party>();
  private readonly typingTimers = new Map<string, number>();
  private readonly unread: string[] = []; // agent msg_ids not yet acknowledged as read
  private readonly undelivered: string[] = []; // agent msg_ids of the batch being applied
  private readonly seenMessages = new Set<string>();
  private document: WidgetDocument | null = null;
  private saved: SavedChat | null = null;
  private generation = 0; // bumps when a chat ends or starts: stale loops stop
  private pollAbort: AbortController | null = null;
  private typingSentAt = 0;
  private typingIdle = 0;
  private typingTrailing = 0;
  private textFormId = "";
  private keys = 0;

  constructor(private readonly api: CustomerApi, private readonly store: WidgetStore,
              private readonly t: Translate) {}

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private update(change: Partial<ChatState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener(this.state);
  }

  private key(): string {
    this.keys += 1;
    return `i${this.keys}`;
  }

  private get chatId(): string {
    return this.saved?.chatId ?? "";
  }

  // ---- start-up ----------------------------------------------------------------------------

  async init(): Promise<void> {
    // a reloaded page shows its window as it was at once, not after the configuration arrived
    const saved = this.store.loadChat();
    if (saved) this.update({ open: saved.open });
    this.document = await this.api.configuration().catch(() => null);
    if (saved && await this.resume(saved)) return;
    // the chat this browser has open in another tab
    const elsewhere = this.store.openChatId();
    if (elsewhere && await this.resume({ chatId: elsewhere, lastSeq: 0, open: false, answers: {} })) return;
    await this.checkAvailability();
  }

  private async checkAvailability(): Promise<void> {
    try {
      const availability = await this.api.availability();
      if (availability.chat !== "available") {
        this.update({ phase: "offline", offlineText: this.configuredOfflineText() });
        return;
      }
      const expected = await this.api.parameters().catch(() => ({ parameters: [] }));
      const prechat: PrechatField[] = [];
      for (const entry of expected.parameters) {
        for (const [name, kind] of Object.entries(entry)) prechat.push({ name, kind });
      }
      this.update({ phase: "prechat", prechat, error: "" });
    } catch (error) {
      this.update({ phase: "offline", offlineText: "", error: errorText(error) });
    }
  }

  private configuredOfflineText(): string {
    const text = this.document?.definition?.chatInitiations?.[0]?.contactTab?.outOfHoursMsg?.trim() ?? "";
    return text.toLowerCase() === DEFAULT_OFFLINE ? "" : text;
  }

  /** A chat this tab had before the reload (or this browser has in another tab): its history (with
   * seqs) once, then the poll after it. While the server cannot be reached it retries, backing off. */
  private async resume(saved: SavedChat): Promise<boolean> {
    this.saved = saved;
    const generation = this.generation;
    let backoff = 0;
    for (;;) {
      try {
        const history = await this.api.history(saved.chatId, 0);
        if (generation !== this.generation) return true;
        this.update({ phase: "chat", items: [], reconnecting: false });
        let last = saved.lastSeq;
        for (const event of history.events) {
          this.apply(event, true);
          if (typeof event.seq === "number") last = Math.max(last, event.seq);
        }
        if (this.state.phase !== "chat") return true; // the chat ended while the page was away
        saved.lastSeq = last;
        this.persist();
        this.navigation();
        void this.pollLoop(this.generation);
        return true;
      } catch (error) {
        if (error instanceof ApiError && (error.code === CHAT_GONE || error.status === 404)) {
          this.store.forgetChat();
          this.saved = null;
          return false;
        }
        backoff = Math.min(backoff ? backoff * 2 : 1000, MAX_BACKOFF_MS);
        this.update({ phase: "chat", reconnecting: true });
        await sleep(backoff);
        if (generation !== this.generation) return true;
      }
    }
  }

  // ---- opening and closing -------------------------------------------------------------------

  setOpen(open: boolean): void {
    this.update(open ? { open, unseen: 0 } : { open });
    if (this.saved) {
      this.saved.open = open;
      this.persist();
    }
    if (open) this.markRead();
  }

  /** Read receipts for the agent's messages once the customer can see them. */
  markRead(): void {
    if (!this.state.open || document.visibilityState !== "visible" || !this.chatId) return;
    while (this.unread.length) {
      const id = this.unread.shift();
      if (id) void this.send({ event: "chat_session_message_read", ref_msg_id: id }).catch(() => undefined);
    }
  }

  // ---- starting a chat -----------------------------------------------------------------------

  async start(values: Record<string, string>, question: string): Promise<void> {
    if (this.state.phase === "starting") return;
    this.update({ phase: "starting", error: "" });
    const parameters: Record<string, unknown> = {};
    let phone = "";
    for (const field of this.state.prechat) {
      const value = (values[field.name] ?? "").trim();
      if (!value) continue;
      parameters[field.name] = value;
      if (field.kind === "PHONE") phone = value;
    }
    parameters.user_platform = { browser: navigator.userAgent.slice(0, 200), description: "frontdesk widget" };
    const text = question.trim();
    const msgId = text ? this.newMsgId() : "";
    try {
      const ticket = await this.api.requestChat({
        phone_number: phone, from: "", parameters,
        ...(text ? { initial_message: { event: "chat_session_message", msg: escapeHtml(text), msg_id: msgId } } : {}),
      });
      this.generation += 1;
      this.saved = { chatId: ticket.chat_id, lastSeq: 0, open: this.state.open, answers: {} };
      this.persist();
      if (!ticket.is_new_chat) {
        // this browser already had a chat open (another tab): show it from its history
        await this.resume(this.saved);
        return;
      }
      const items: Item[] = text ? [this.ownMessage(text, msgId, "sent")] : [];
      this.update({ phase: "chat", items, queue: null });
      this.navigation();
      void this.pollLoop(this.generation);
    } catch (error) {
      this.update({ phase: "prechat", error: this.t("startFailed", { error: errorText(error) }) });
    }
  }

  private navigation(): void {
    void this.send({ event: "chat_session_navigation", msg_id: this.newMsgId(), page: location.href.slice(0, 1000),
      title: document.title.slice(0, 300) }).catch(() => undefined);
  }

  /** After the end: back to the start (availability, pre-chat form). */
  async newChat(): Promise<void> {
    this.generation += 1;
    this.resetChat();
    this.update({ phase: "loading", items: [], error: "" });
    await this.checkAvailability();
  }

  private resetChat(): void {
    this.saved = null;
    this.parties.clear();
    this.unread.length = 0;
    this.seenMessages.clear();
    this.textFormId = "";
    this.store.forgetChat();
    this.update({ typing: [], queue: null, agentName: "", reconnecting: false, textFormPending: false, ending: false });
  }

  // ---- sending -------------------------------------------------------------------------------

  private newMsgId(): string {
    return "w" + randomHex(8);
  }

  private send(event: ClientEvent): Promise<unknown> {
    return this.api.send(this.chatId, event);
  }

  private ownMessage(text: string, msgId: string, status: Delivery): MessageItem {
    return { kind: "message", key: this.key(), mine: true, author: this.t("you"), text, msgId, time: Date.now(),
      status, error: "" };
  }

  async sendMessage(raw: string): Promise<void> {
    const text = raw.trim();
    if (!text || this.state.phase !== "chat") return;
    const msgId = this.newMsgId();
    const item = this.ownMessage(text, msgId, "sending");
    this.append(item);
    this.stopTyping(false);
    try {
      await this.send({ event: "chat_session_message", msg_id: msgId, msg: escapeHtml(text), msg_text: text });
      this.setDelivery(msgId, "sent");
      if (this.textFormId) {
        // a text form (form_name ""): the next typed text is its answer
        const requestId = this.textFormId;
        this.textFormId = "";
        this.remember(requestId, "sent");
        this.update({ textFormPending: false });
        await this.send({ event: "chat_session_form_data", form_request_id: Number(requestId), form_name: "",
          data: { text } }).catch(() => undefined);
      }
    } catch (error) {
      this.patch<MessageItem>(item.key, { status: "failed", error: errorText(error) });
    }
  }

  /** The customer is typing: a typing event with the draft (the agent's typing preview), at most
   * every two seconds (the latest draft goes out at the end of the two seconds), and not_typing once
   * the draft is empty or idle for five seconds. */
  typing(draft: string): void {
    if (this.state.phase !== "chat") return;
    window.clearTimeout(this.typingIdle);
    window.clearTimeout(this.typingTrailing);
    if (!draft.trim()) {
      this.stopTyping(true);
      return;
    }
    const sendDraft = () => {
      this.typingSentAt = Date.now();
      void this.send({ event: "chat_session_typing", msg: draft.slice(0, 2000) }).catch(() => undefined);
    };
    const wait = this.typingSentAt + TYPING_RESEND_MS - Date.now();
    if (wait <= 0) sendDraft();
    else this.typingTrailing = window.setTimeout(sendDraft, wait);
    this.typingIdle = window.setTimeout(() => this.stopTyping(true), TYPING_IDLE_MS);
  }

  private stopTyping(notify: boolean): void {
    window.clearTimeout(this.typingIdle);
    window.clearTimeout(this.typingTrailing);
    if (this.typingSentAt && notify) void this.send({ event: "chat_session_not_typing" }).catch(() => undefined);
    this.typingSentAt = 0;
  }

  async sendFile(file: File): Promise<void> {
    if (this.state.phase !== "chat") return;
    const msgId = this.newMsgId();
    const image = file.type.startsWith("image/") && file.type !== "image/svg+xml";
    const item: FileItem = { kind: "file", key: this.key(), mine: true, author: this.t("you"), name: file.name,
      url: "", image, msgId, time: Date.now(), status: "sending", error: "" };
    this.append(item);
    try {
      const uploaded = await this.api.upload(file);
      await this.send({ event: "chat_session_file", msg_id: msgId, file_id: uploaded.file_id,
        file_name: uploaded.file_name, file_type: image ? "image" : "attachment" });
      this.patch<FileItem>(item.key, { name: uploaded.file_name, url: this.api.fileUrl(this.chatId, uploaded.file_id),
        status: "sent" });
    } catch (error) {
      this.patch<FileItem>(item.key, { status: "failed", error: errorText(error) });
    }
  }

  async submitForm(key: string, data: Record<string, string>): Promise<void> {
    const item = this.find<FormItem>(key);
    if (!item || item.state !== "pending") return;
    this.patch<FormItem>(key, { state: "sending", error: "" });
    try {
      await this.send({ event: "chat_session_form_data", form_request_id: Number(item.requestId),
        form_name: item.formName, data });
      this.remember(item.requestId, "sent");
      this.patch<FormItem>(key, { state: "sent" });
    } catch (error) {
      // a refused answer changes nothing on the server: the form can be answered again
      this.patch<FormItem>(key, { state: "pending", error: errorText(error) });
    }
  }

  async cancelForm(key: string): Promise<void> {
    const item = this.find<FormItem>(key);
    if (!item || item.state !== "pending") return;
    this.remember(item.requestId, "cancelled");
    this.patch<FormItem>(key, { state: "cancelled" });
    await this.send({ event: "chat_form_data_cancel", form_request_id: Number(item.requestId),
      form_name: item.formName }).catch(() => undefined);
  }

  /** The location is read and sent only after the customer agreed (this call is that consent). */
  shareLocation(key: string): void {
    const item = this.find<LocationItem>(key);
    if (!item || item.state !== "pending") return;
    this.patch<LocationItem>(key, { state: "locating" });
    if (!("geolocation" in navigator)) {
      this.declineLocation(key, "failed");
      return;
    }
    navigator.geolocation.getCurrentPosition((position) => {
      const lat = position.coords.latitude.toFixed(6);
      const lon = position.coords.longitude.toFixed(6);
      this.remember(item.requestId, "shared");
      this.patch<LocationItem>(key, { state: "shared" });
      void this.send({ event: "chat_session_form_data", form_request_id: Number(item.requestId),
        form_name: "RequestLocation", data: { location_lat: lat, location_lon: lon,
          location_url: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}` } }).catch(() => undefined);
    }, () => this.declineLocation(key, "failed"), { timeout: 20_000, maximumAge: 60_000 });
  }

  declineLocation(key: string, state: "declined" | "failed" = "declined"): void {
    const item = this.find<LocationItem>(key);
    if (!item || item.state === "shared" || item.state === "declined" || item.state === "failed") return;
    this.remember(item.requestId, state);
    this.patch<LocationItem>(key, { state });
    void this.send({ event: "chat_form_data_cancel", form_request_id: Number(item.requestId),
      form_name: "RequestLocation" }).catch(() => undefined);
  }

  /** End chat: the agent leaves; a survey the entry runs may still show its form, then it ends. */
  async endChat(): Promise<void> {
    if (this.state.phase !== "chat" || this.state.ending) return;
    this.update({ ending: true });
    this.stopTyping(false);
    try {
      await this.send({ event: "chat_session_disconnect" });
    } catch (error) {
      if (error instanceof ApiError && error.code === CHAT_GONE) this.finish("");
      else this.update({ ending: false, error: errorText(error) });
    }
  }

  // ---- the poll ------------------------------------------------------------------------------

  private async pollLoop(generation: number): Promise<void> {
    let backoff = 0;
    while (generation === this.generation && this.state.phase === "chat" && this.saved) {
      const abort = new AbortController();
      this.pollAbort = abort;
      const timer = window.setTimeout(() => abort.abort(), POLL_ABORT_MS);
      const started = Date.now();
      try {
        const body = await this.api.poll(this.saved.chatId, this.saved.lastSeq, abort.signal);
        if (generation !== this.generation) return;
        backoff = 0;
        if (!body.events.length && Date.now() - started < QUICK_EMPTY_MS) await sleep(QUICK_EMPTY_MS);
        if (this.state.reconnecting) this.update({ reconnecting: false });
        for (const event of body.events) {
          if (typeof event.seq === "number") {
            if (event.seq <= this.saved.lastSeq) continue;
            this.saved.lastSeq = event.seq;
          }
          this.apply(event, false);
          if (this.state.phase !== "chat" || !this.saved) break;
        }
        this.flushReceipts();
        if (this.saved) this.persist();
      } catch (error) {
        if (generation !== this.generation) return;
        if (error instanceof ApiError && error.code === CHAT_GONE) {
          this.finish("");
          return;
        }
        backoff = Math.min(backoff ? backoff * 2 : 1000, MAX_BACKOFF_MS);
        this.update({ reconnecting: true });
        await sleep(backoff);
      } finally {
        window.clearTimeout(timer);
        if (this.pollAbort === abort) this.pollAbort = null;
      }
    }
  }

  // ---- server events -------------------------------------------------------------------------

  private partyName(partyId: string | undefined): string {
    const party = partyId ? this.parties.get(partyId) : undefined;
    if (party?.name) return party.name;
    return party?.type === "scenario" ? this.t("assistant") : this.t("agent");
  }

  /** One server event (from the poll, or from history after a reload: `replayed`). */
  apply(event: ServerEvent, replayed: boolean): void {
    const chatId = this.chatId;
    const mine = event.party_id !== undefined && event.party_id === chatId;
    switch (event.event) {
      case "chat_session_party_joined": {
        const name = (event.display_name || [event.first_name, event.last_name].filter(Boolean).join(" ")).trim();
        this.parties.set(event.party_id ?? "", { name, type: event.type ?? "" });
        if (event.type === "internal") {
          this.append(this.notice(this.t("joined", { name: name || this.t("agent") })));
          this.update({ agentName: name || this.t("agent"), queue: null });
        }
        break;
      }
      case "chat_session_party_left": {
        const party = this.parties.get(event.party_id ?? "");
        this.clearTyping(event.party_id ?? "");
        if (party?.type === "internal") {
          this.append(this.notice(this.t("left", { name: party.name || this.t("agent") })));
          if (this.state.agentName === party.name) this.update({ agentName: "" });
        }
        break;
      }
      case "chat_session_status":
        if (event.state === "queued") this.update({ queue: { ewtSecs: Number(event.ewt) || 0 } });
        else if (event.state === "failed") this.finish("");
        else if (event.state === "connected" || event.state === "connecting") this.update({ queue: null });
        break;
      case "chat_session_message": {
        const text = event.msg_text ?? textFromHtml(event.msg ?? "");
        const msgId = event.msg_id ?? "";
        if (msgId && this.seenMessages.has(msgId)) break;
        if (msgId) this.seenMessages.add(msgId);
        if (mine) {
          this.append({ ...this.ownMessage(text, msgId, "sent"), time: secondsToMs(event.timestamp) });
          break;
        }
        this.clearTyping(event.party_id ?? "");
        this.append({ kind: "message", key: this.key(), mine: false, author: this.partyName(event.party_id), text,
          msgId, time: secondsToMs(event.timestamp), status: "sent", error: "" });
        if (!replayed && msgId) this.acknowledge(msgId);
        if (!replayed) this.countUnseen();
        break;
      }
      case "chat_session_file": {
        const fileId = event.file_id ?? "";
        const name = event.file_name || "file";
        const image = event.file_type === "image";
        this.clearTyping(event.party_id ?? "");
        this.append({ kind: "file", key: this.key(), mine, author: mine ? this.t("you") : this.partyName(event.party_id),
          name, url: fileId ? this.api.fileUrl(chatId, fileId) : "", image, msgId: event.msg_id ?? "",
          time: secondsToMs(event.timestamp), status: "sent", error: "" });
        if (!mine && !replayed && event.msg_id) this.acknowledge(event.msg_id);
        if (!mine && !replayed) this.countUnseen();
        break;
      }
      case "chat_session_typing":
      case "chat_session_not_typing":
        if (!mine && !replayed) this.setTyping(event.party_id ?? "", event.event === "chat_session_typing");
        break;
      case "chat_session_message_delivered":
      case "chat_session_message_read":
        if (!mine && event.ref_msg_id) {
          this.setDelivery(event.ref_msg_id, event.event === "chat_session_message_read" ? "read" : "delivered");
        }
        break;
      case "chat_session_form_show":
        this.showForm(event);
        break;
      case "chat_session_timeout_warning":
        this.append(this.notice(event.msg_text || (event.msg ? textFromHtml(event.msg) : "") ||
          this.t("inactivityWarning"), "warning"));
        break;
      case "chat_session_inactivity_timeout":
        this.finish(event.msg_text || (event.msg ? textFromHtml(event.msg) : "") || this.t("inactivityEnded"));
        break;
      case "chat_session_ended":
        this.finish("");
        break;
      default:
        break; // the customer's own receipts, navigation, location, end/disconnect; unknown events
    }
  }

  private showForm(event: ServerEvent): void {
    const requestId = String(event.form_request_id ?? "");
    const formName = event.form_name ?? "";
    const author = this.partyName(event.party_id);
    const answer = this.saved?.answers[requestId] ?? ""; // what this tab did before a reload
    if (formName === "RequestLocation") {
      const state = answer === "shared" || answer === "declined" || answer === "failed" ? answer : "pending";
      this.append({ kind: "location", key: this.key(), requestId, author, state });
      return;
    }
    if (formName === "") {
      if (!answer) {
        this.textFormId = requestId;
        this.update({ textFormPending: true });
      }
      return;
    }
    const form = this.document?.definition?.forms?.find((f) => f.name === formName || f.id === formName);
    if (!form) {
      this.append(this.notice(this.t("formMissing")));
      if (!answer) {
        this.remember(requestId, "cancelled");
        void this.send({ event: "chat_form_data_cancel", form_request_id: Number(requestId), form_name: formName })
          .catch(() => undefined);
      }
      return;
    }
    const state = answer === "sent" || answer === "cancelled" ? answer : "pending";
    this.append({ kind: "form", key: this.key(), requestId, formName, form, author, state, error: "" });
  }

  /** Delivered (and, when seen, read) receipts go out after the whole batch was applied, and only
   * while the chat goes on: a batch that ends the chat needs none (the server would refuse them). */
  private acknowledge(msgId: string): void {
    this.undelivered.push(msgId);
  }

  private flushReceipts(): void {
    const ids = this.undelivered.splice(0);
    if (this.state.phase !== "chat" || !this.chatId) return;
    for (const id of ids) {
      void this.send({ event: "chat_session_message_delivered", ref_msg_id: id }).catch(() => undefined);
      this.unread.push(id);
    }
    this.markRead();
  }

  private countUnseen(): void {
    if (!this.state.open) this.update({ unseen: this.state.unseen + 1 });
  }

  private setTyping(partyId: string, typing: boolean): void {
    window.clearTimeout(this.typingTimers.get(partyId));
    this.typingTimers.delete(partyId);
    if (typing) this.typingTimers.set(partyId, window.setTimeout(() => this.clearTyping(partyId), AGENT_TYPING_MS));
    this.refreshTyping();
  }

  private clearTyping(partyId: string): void {
    window.clearTimeout(this.typingTimers.get(partyId));
    if (this.typingTimers.delete(partyId)) this.refreshTyping();
  }

  private refreshTyping(): void {
    this.update({ typing: [...this.typingTimers.keys()].map((id) => this.partyName(id)) });
  }

  /** The chat is over: show why, stop polling, forget it (a reload starts afresh). */
  private finish(text: string): void {
    if (this.state.phase === "ended") return;
    this.generation += 1;
    this.pollAbort?.abort();
    window.clearTimeout(this.typingIdle);
    window.clearTimeout(this.typingTrailing);
    this.typingSentAt = 0;
    this.undelivered.length = 0;
    for (const timer of this.typingTimers.values()) window.clearTimeout(timer);
    this.typingTimers.clear();
    this.append(this.notice(text || this.t("ended"), text ? "warning" : "info"));
    this.saved = null;
    this.store.forgetChat();
    this.update({ phase: "ended", typing: [], queue: null, agentName: "", reconnecting: false,
      textFormPending: false, ending: false });
  }

  // ---- items -----------------------------------------------------------------------------------

  private notice(text: string, tone: "info" | "warning" = "info"): NoticeItem {
    return { kind: "notice", key: this.key(), text, tone };
  }

  private append(item: Item): void {
    this.update({ items: [...this.state.items, item] });
  }

  private find<T extends Item>(key: string): T | undefined {
    return this.state.items.find((i) => i.key === key) as T | undefined;
  }

  private patch<T extends Item>(key: string, change: Partial<T>): void {
    this.update({ items: this.state.items.map((i) => (i.key === key ? { ...i, ...change } as Item : i)) });
  }

  private setDelivery(msgId: string, status: Delivery): void {
    this.update({
      items: this.state.items.map((i) =>
        (i.kind === "message" || i.kind === "file") && i.mine && i.msgId === msgId && RANK[status] > RANK[i.status]
          ? { ...i, status } : i),
    });
  }

  private remember(requestId: string, answer: string): void {
    if (!this.saved) return;
    this.saved.answers[requestId] = answer;
    this.persist();
  }

  private persist(): void {
    if (this.saved) this.store.saveChat(this.saved);
  }
}
