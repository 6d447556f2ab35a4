// The v1 Mobile/Web API as the widget calls it: the MOBILE-API-140-327-PLAIN Authorization header,
// `tenantUrl` on every call, JSON bodies, credentialed CORS (the embedding site's origin must be in
// the entry's allowed_origins; frontdesk's own pages are same-origin).
import type {
  ApiErrorBody, Availability, ChatTicket, ClientEvent, EventsBody, ExpectedParameters, UploadedFile, WidgetDocument,
} from "./wire";

export const CHAT_GONE = "5005";

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  return typeof value === "object" && value !== null && typeof (value as ApiErrorBody).error_code === "string";
}

export class CustomerApi {
  readonly base: string;

  constructor(server: string, readonly appId: string, readonly clientId: string, readonly tenantUrl: string) {
    this.base = server.replace(/\/+$/, "") + "/clientweb/api/v1";
  }

  private url(path: string, query: Record<string, string> = {}): string {
    const params = new URLSearchParams({ tenantUrl: this.tenantUrl, ...query });
    return `${this.base}/${path}?${params.toString()}`;
  }

  private async call<T>(method: string, path: string, init: { body?: BodyInit; json?: unknown;
    query?: Record<string, string>; signal?: AbortSignal } = {}): Promise<T> {
    const headers: Record<string, string> = {
      Authorization: `MOBILE-API-140-327-PLAIN appId="${this.appId}", clientId="${this.clientId}"`,
    };
    let body = init.body;
    if (init.json !== undefined) {
      headers["Content-Type"] = "application/json; charset=utf-8";
      body = JSON.stringify(init.json);
    }
    const response = await fetch(this.url(path, init.query), {
      method, headers, body, credentials: "include", cache: "no-store", signal: init.signal,
    });
    let parsed: unknown = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      if (isErrorBody(parsed)) throw new ApiError(response.status, parsed.error_code, parsed.error_message);
      throw new ApiError(response.status, "", `HTTP ${response.status}`);
    }
    return parsed as T;
  }

  configuration(): Promise<WidgetDocument> {
    return this.call("GET", "configuration");
  }

  availability(): Promise<Availability> {
    return this.call("GET", "availability");
  }

  parameters(): Promise<ExpectedParameters> {
    return this.call("GET", "parameters");
  }

  requestChat(body: { phone_number: string; from: string; parameters: Record<string, unknown>;
    initial_message?: { event: "chat_session_message"; msg: string; msg_id: string } }): Promise<ChatTicket> {
    return this.call("POST", "chats", { json: body });
  }

  send(chatId: string, event: ClientEvent): Promise<EventsBody> {
    return this.call("POST", `chats/${encodeURIComponent(chatId)}/events`, { json: { events: [event] } });
  }

  /** The long poll with frontdesk's explicit cursor: the events after `after`, each with its `seq`. */
  poll(chatId: string, after: number, signal: AbortSignal): Promise<EventsBody> {
    return this.call("GET", `chats/${encodeURIComponent(chatId)}/events`, { query: { after: String(after) }, signal });
  }

  /** The history after `after` (each event with its `seq`), including the customer's own events. */
  history(chatId: string, after: number): Promise<EventsBody> {
    return this.call("GET", `chats/${encodeURIComponent(chatId)}/history`, { query: { after: String(after) } });
  }

  upload(file: File): Promise<UploadedFile> {
    const form = new FormData();
    form.append("file-upload-input", file, file.name);
    return this.call("POST", "files", { body: form });
  }

  /** Where a chat's file is downloaded (no Authorization needed: ids are random). */
  fileUrl(chatId: string, fileId: string): string {
    return `${this.base}/chats/${encodeURIComponent(chatId)}/files/${encodeURIComponent(fileId)}`;
  }
}
