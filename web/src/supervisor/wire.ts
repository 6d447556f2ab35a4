// The wire shapes of the supervisor API this view reads (docs/supervisors.md, docs/agent-api.md).

export interface QueueView {
  queue_id: string;
  name: string;
  waiting: number;
  longest_wait_secs: number;
  ewt_new_chat_secs: number | null;
  estimates: Record<string, number>;
  agents_logged_in: number;
  agents_ready: number;
}

export type AgentState = "logged_out" | "not_ready" | "ready";

export interface AgentView {
  agent_id: string;
  username: string;
  display_name: string;
  role: string;
  team: string;
  skills: Record<string, number>;
  state: AgentState;
  state_since: number;
  chats: string[];
  offers: string[];
  load: number;
  max_chats: number;
}

export interface ChatAgent {
  agent_id: string;
  display_name: string;
  party_id: string;
  joined_at: number;
}

export interface ChatView {
  chat_id: string;
  state: string;
  queue_id: string;
  app_id: string;
  created_at: number;
  queued_at: number | null;
  connected_at: number | null;
  waiting_secs: number | null;
  connected_secs: number | null;
  offered_agent_id: string;
  agents: ChatAgent[];
  monitors: string[];
  customer_name: string; // from the pre-chat first_name / last_name; "" when none
}

export interface Overview {
  tenant: string;
  now: number;
  queues: QueueView[];
  agents: AgentView[];
  chats: ChatView[];
}

/** A message of `/supervisor/ws`. */
export type FeedMessage = { type: "overview"; overview: Overview } | { type: "ping" } | { type: "pong" };

export interface Party {
  party_id: string;
  type?: string;
  display_name?: string;
  agent_id?: string;
  [field: string]: unknown;
}

/** `GET /chats/{id}` as far as the monitor reads it. */
export interface ChatSummary {
  chat_id: string;
  state: string;
  queue_id?: string;
  parameters?: Record<string, unknown>;
  parties?: Party[];
  [field: string]: unknown;
}

/** One chat event (`GET /chats/{id}/events`); the payload's fields depend on its `event` name. */
export interface ChatEventPayload {
  event: string;
  msg?: string;
  msg_id?: string;
  party_id?: string;
  from?: string;
  agent_id?: string;
  display_name?: string;
  first_name?: string;
  last_name?: string;
  type?: string;
  state?: string;
  timestamp?: string;
  [field: string]: unknown;
}

export interface ChatEvent {
  seq: number;
  event: ChatEventPayload;
}

export interface ChatEvents {
  chat_id: string;
  events: ChatEvent[];
}

export type ReportKind = "queues" | "agents" | "surveys/queues" | "surveys/agents";

export type ReportCell = string | number | boolean | null | Record<string, number>;
export type ReportRow = Record<string, ReportCell>;

/** A report's JSON answer: its rows are under `queues` or `agents`. */
export interface ReportAnswer {
  tenant: string;
  since: number;
  until: number;
  generated_at: number;
  service_level_secs?: number;
  queues?: ReportRow[];
  agents?: ReportRow[];
}
