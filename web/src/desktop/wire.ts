// The agent API's wire shapes the desktop uses (docs/agent-api.md): the live socket's messages and
// the REST answers. Only the fields the desktop reads are typed; the server may send more.

export type AgentState = "logged_out" | "not_ready" | "ready";

export interface ChatSummary {
  chat_id: string;
  state: string;
  app_id: string;
  client_kind: "web" | "mobile";
  created_at: number;
  parameters: Record<string, unknown>;
  from?: string;
  phone_number: string;
  case_id: string;
  /** only in offers: the server time at which the offer lapses (null: it never does) */
  offer_expires_at?: number | null;
}

export interface Party {
  party_id: string;
  type: string;
  display_name: string;
  agent_id: string;
  left_at: number | null;
}

export interface ChatDetail extends ChatSummary {
  queue_id: string;
  priority: number;
  parties: Party[];
}

export interface Snapshot {
  type: "snapshot";
  server_time?: number;
  agent: { agent_id: string; state: AgentState };
  offers: ChatSummary[];
  invitations: ChatSummary[];
  chats: ChatSummary[];
}

/** One event of a chat's log as agents receive it (`event` names the kind). */
export interface ChatEventBody {
  event: string;
  party_id?: string;
  msg_id?: string;
  msg?: string;
  msg_text?: string;
  timestamp?: string;
  ref_msg_id?: string;
  state?: string;
  display_name?: string;
  type?: string;
  file_id?: string;
  file_name?: string;
  file_type?: string;
  form_request_id?: number;
  form_name?: string;
  data?: unknown;
  latitude?: string;
  longitude?: string;
  url?: string | null;
  page?: string;
  title?: string;
  [field: string]: unknown;
}

export interface StreamEvent {
  type: "event";
  chat_id: string;
  seq: number;
  event: ChatEventBody;
}

export type ServerMessage = Snapshot | StreamEvent | { type: "pong" };

export interface SentMessage {
  seq: number;
  msg_id: string;
}

export interface QueueChoice {
  queue_id: string;
  name: string;
  dispositions: string[];
}

export interface Colleague {
  agent_id: string;
  username: string;
  display_name: string;
  state: AgentState;
  load: number;
  max_chats: number;
}

export interface Directory {
  queues: QueueChoice[];
  agents: Colleague[];
  forms: { name: string; title: string }[];
}

export interface EarlierChat {
  chat_id: string;
  state: string;
  queue_id: string;
  case_id: string;
  created_at: number;
  ended_at: number | null;
  end_reason: string;
  events: ChatEventBody[];
}

export interface LeftMessage {
  message_id: string;
  chat_id: string;
  queue_id: string;
  created_at: number;
  data: Record<string, unknown>;
  handled_by: string;
  handled_at: number | null;
}
