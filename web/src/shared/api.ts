// The agent API as the staff pages use it: the browser session cookie (fd_session, HttpOnly) is sent
// by the browser; every state-changing request repeats the fd_csrf cookie in X-CSRF-Token; the live
// WebSocket is opened with a single-use ticket, never with a long-lived token in its URL.

export const AGENT_API = "/agent/api/v1";
const CSRF_COOKIE = "fd_csrf";
const CSRF_HEADER = "X-CSRF-Token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** An answer of the agent API other than 2xx: the HTTP status and the server's `detail` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail || `HTTP ${status}`);
  }
}

export function readCookie(name: string): string {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

function detailOf(body: unknown): string {
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d as { msg?: string }).msg ?? "").join("; ");
  }
  return "";
}

const unauthorizedListeners = new Set<() => void>();

/** Calls `listener` whenever the agent API answers 401 (the session ended or expired); returns an
 * unsubscribe function. The staff pages use it to go back to their login screen from anywhere. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** Sends a request to the agent API; `body` is sent as JSON unless it is FormData. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (!SAFE_METHODS.has(method)) headers[CSRF_HEADER] = readCookie(CSRF_COOKIE);
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(AGENT_API + path, { method, headers, body: payload, credentials: "same-origin" });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null; // not JSON (a proxy's error page): the status says enough
  }
  if (response.status === 401) for (const listener of [...unauthorizedListeners]) listener();
  if (!response.ok) throw new ApiError(response.status, detailOf(parsed));
  return parsed as T;
}

/** Opens one of the agent API's WebSockets (`/ws`, `/supervisor/ws`) with a fresh single-use ticket. */
export async function openSocket(path: string, query: Record<string, string> = {}): Promise<WebSocket> {
  const { ticket } = await api<{ ticket: string; expires_in_secs: number }>("POST", "/ws-ticket");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams({ ...query, ticket });
  return new WebSocket(`${scheme}//${location.host}${AGENT_API}${path}?${params.toString()}`);
}

export interface AgentInfo {
  agent_id: string;
  username: string;
  [field: string]: unknown;
}

/** The signed-in agent of this browser, or null when there is no live session. Without the fd_csrf
 * cookie there is no session to ask about (the browser would log the 401 as a console error). */
export async function currentAgent(): Promise<AgentInfo | null> {
  if (!readCookie(CSRF_COOKIE)) return null;
  try {
    return await api<AgentInfo>("GET", "/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export function logIn(username: string, password: string, tenant: string): Promise<AgentInfo> {
  return api<AgentInfo>("POST", "/session", { username, password, tenant });
}

export function logOut(): Promise<unknown> {
  return api("DELETE", "/session");
}
