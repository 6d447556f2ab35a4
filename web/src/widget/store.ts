// What the widget keeps in the browser: a stable random clientId (localStorage, per appId), and the
// open chat of this tab (sessionStorage): its id, the last event seq handled and the forms answered,
// so a reloaded page resumes the same chat and shows every message exactly once. The open chat's id
// is also in localStorage, so a new tab of the same site shows that chat instead of a new one.

import { randomHex } from "../shared/random";

export interface SavedChat {
  chatId: string;
  lastSeq: number;
  open: boolean;
  answers: Record<string, string>; // form_request_id → what the customer did (sent, cancelled, shared, …)
}

function safe<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback; // storage disabled (privacy mode, sandboxed frames)
  }
}

export class WidgetStore {
  private readonly clientKey: string;
  private readonly chatKey: string;
  private memoryClientId = "";

  constructor(appId: string, tenantUrl: string) {
    this.clientKey = `frontdesk.client.${tenantUrl}.${appId}`;
    this.chatKey = `frontdesk.chat.${tenantUrl}.${appId}`;
  }

  clientId(): string {
    if (this.memoryClientId) return this.memoryClientId;
    const stored = safe(() => localStorage.getItem(this.clientKey), null);
    this.memoryClientId = stored && /^[0-9a-f]{32}$/.test(stored) ? stored : randomHex(16);
    if (this.memoryClientId !== stored) safe(() => localStorage.setItem(this.clientKey, this.memoryClientId), undefined);
    return this.memoryClientId;
  }

  loadChat(): SavedChat | null {
    const raw = safe(() => sessionStorage.getItem(this.chatKey), null);
    if (!raw) return null;
    try {
      const value = JSON.parse(raw) as Partial<SavedChat>;
      if (typeof value.chatId !== "string" || !value.chatId) return null;
      return {
        chatId: value.chatId,
        lastSeq: typeof value.lastSeq === "number" ? value.lastSeq : 0,
        open: value.open === true,
        answers: typeof value.answers === "object" && value.answers !== null ? value.answers : {},
      };
    } catch {
      return null;
    }
  }

  saveChat(chat: SavedChat): void {
    safe(() => sessionStorage.setItem(this.chatKey, JSON.stringify(chat)), undefined);
    safe(() => localStorage.setItem(this.chatKey, chat.chatId), undefined);
  }

  /** The chat this browser has open (in any tab), for a tab that has none of its own. */
  openChatId(): string {
    return safe(() => localStorage.getItem(this.chatKey), null) ?? "";
  }

  forgetChat(): void {
    safe(() => sessionStorage.removeItem(this.chatKey), undefined);
    safe(() => localStorage.removeItem(this.chatKey), undefined);
  }
}
