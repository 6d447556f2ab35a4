// The live overview: `/supervisor/ws` pushes the tenant's overview at once and after every change.
// This client reconnects after a lost connection (growing pauses, a visible state), treats a silent
// connection as lost, and reports an ended session (4410, or 401 while reconnecting) and a refusal (4403).
import { ApiError, openSocket } from "../shared/api";
import type { FeedMessage, Overview } from "./wire";

export type FeedStatus = "connecting" | "live" | "reconnecting";

export interface FeedEvents {
  overview(overview: Overview, receivedAt: number): void;
  status(status: FeedStatus): void;
  signedOut(): void;
  forbidden(): void;
}

const CLOSE_FORBIDDEN = 4403;
const CLOSE_SESSION_ENDED = 4410;
const SILENCE_MS = 45_000; // the server sends something at least every 20 s
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

export class OverviewFeed {
  private socket: WebSocket | null = null;
  private stopped = false;
  private attempt = 0;
  private retry: number | undefined;
  private silence: number | undefined;

  constructor(private readonly on: FeedEvents) {}

  start(): void {
    this.on.status("connecting");
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retry);
    window.clearTimeout(this.silence);
    this.socket?.close();
    this.socket = null;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let socket: WebSocket;
    try {
      socket = await openSocket("/supervisor/ws");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.on.signedOut();
      else if (error instanceof ApiError && error.status === 403 && !/csrf/i.test(error.detail)) this.on.forbidden();
      else this.later();
      return;
    }
    if (this.stopped) {
      socket.close();
      return;
    }
    this.socket = socket;
    this.watchSilence();
    socket.onmessage = (message: MessageEvent<string>) => {
      this.watchSilence();
      const data = JSON.parse(message.data) as FeedMessage;
      if (data.type === "overview") {
        this.attempt = 0;
        this.on.status("live");
        this.on.overview(data.overview, performance.now());
      }
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      window.clearTimeout(this.silence);
      if (this.stopped) return;
      if (event.code === CLOSE_SESSION_ENDED) this.on.signedOut();
      else if (event.code === CLOSE_FORBIDDEN) this.on.forbidden();
      else this.later(); // 4401: the ticket was refused; a new one is asked for
    };
  }

  private watchSilence(): void {
    window.clearTimeout(this.silence);
    this.silence = window.setTimeout(() => this.socket?.close(), SILENCE_MS);
  }

  /** Try again after a pause that grows with each failed attempt. */
  private later(): void {
    if (this.stopped) return;
    this.on.status("reconnecting");
    const pause = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)] ?? 8000;
    this.attempt += 1;
    this.retry = window.setTimeout(() => void this.connect(), pause);
  }
}
