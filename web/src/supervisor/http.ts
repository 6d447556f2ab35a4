// What the view needs beyond the shared API client: a chat's events read with a held (long) request
// that can be abandoned when the monitor closes.
import { AGENT_API, ApiError } from "../shared/api";
import type { ChatEvents } from "./wire";

export const EVENTS_HOLD_SECS = 25; // the server holds an events request at most this long

/** `GET /chats/{id}/events?after=…&wait=…`: the chat's events after `after`, held until one arrives. */
export async function chatEvents(chatId: string, after: number, signal: AbortSignal): Promise<ChatEvents> {
  const query = new URLSearchParams({ after: String(after), wait: String(EVENTS_HOLD_SECS) });
  const response = await fetch(`${AGENT_API}/chats/${encodeURIComponent(chatId)}/events?${query.toString()}`, {
    credentials: "same-origin",
    signal,
  });
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = parsed && typeof parsed === "object" && "detail" in parsed ? String((parsed as { detail: unknown }).detail) : "";
    throw new ApiError(response.status, detail);
  }
  return parsed as ChatEvents;
}

/** A report's path under the agent API (JSON, or the CSV), for a `[since, until)` range in epoch seconds. */
export function reportPath(kind: string, since: number, until: number, format: "json" | "csv"): string {
  const query = new URLSearchParams({ since: String(since), until: String(until), format });
  return `/reports/${kind}?${query.toString()}`;
}

/** The report's full URL (the CSV download link). */
export function reportUrl(kind: string, since: number, until: number, format: "json" | "csv"): string {
  return AGENT_API + reportPath(kind, since, until, format);
}

/** After the server ended the session (a 401, or the stream closed with 4410), forget the page-readable
 * CSRF cookie of that session: a reload then shows the sign-in form without asking the server first. */
export function forgetEndedSession(): void {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `fd_csrf=; Max-Age=0; Path=/; SameSite=Strict${secure}`;
}
