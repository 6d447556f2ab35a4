// The desktop's live connection: the agent WebSocket, opened with a single-use ticket, resumed after
// any loss (network, server restart) with the store's per-chat cursors so nothing is lost or repeated.
//
// Close 4410 (the session ended) and a 401 for a new ticket end the desktop: back to the login page.
// Any other loss shows "reconnecting" and tries again, backing off from 0.5 s to 5 s. A socket that
// stops answering pings (a silent network loss) is closed and replaced.

import { ApiError, openSocket } from "../shared/api";
import type { Store } from "./store";
import type { ServerMessage } from "./wire";

const SESSION_ENDED = 4410;
const PING_EVERY_MS = 15_000;
const PONG_WITHIN_MS = 10_000;
const MAX_BACKOFF_MS = 5_000;

export class LiveConnection {
  private socket: WebSocket | null = null;
  private stopped = false;
  private backoff = 500;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private pongTimer: number | undefined;

  constructor(
    private readonly store: Store,
    private readonly onSessionEnded: () => void,
  ) {}

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.clearPing();
    this.socket?.close(1000);
    this.socket = null;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let socket: WebSocket;
    try {
      socket = await openSocket("/ws");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.end();
        return;
      }
      this.retry();
      return;
    }
    if (this.stopped) {
      socket.close(1000);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "hello", cursors: this.store.cursors() }));
      this.schedulePing(socket);
    };
    socket.onmessage = (message: MessageEvent<string>) => {
      let data: ServerMessage;
      try {
        data = JSON.parse(message.data) as ServerMessage;
      } catch {
        return;
      }
      if (data.type === "snapshot") {
        this.backoff = 500;
        this.store.applySnapshot(data);
      } else if (data.type === "event") {
        this.store.applyEvent(data);
      } else if (data.type === "pong") {
        window.clearTimeout(this.pongTimer);
      }
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clearPing();
      if (event.code === SESSION_ENDED) this.end();
      else this.retry();
    };
  }

  private schedulePing(socket: WebSocket): void {
    this.clearPing();
    this.pingTimer = window.setInterval(() => {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify({ type: "ping" }));
      window.clearTimeout(this.pongTimer);
      this.pongTimer = window.setTimeout(() => socket.close(4000, "no pong"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  private clearPing(): void {
    window.clearInterval(this.pingTimer);
    window.clearTimeout(this.pongTimer);
  }

  private retry(): void {
    if (this.stopped) return;
    this.store.setConnection("reconnecting");
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  private end(): void {
    this.stop();
    this.onSessionEnded();
  }
}
