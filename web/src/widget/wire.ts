// The wire shapes of the v1 Mobile/Web API that the widget uses (docs/customer-api.md).
// Server values follow the strict decoders: timestamps and ewt are strings of digits.

export interface ApiErrorBody {
  error_code: string;
  error_message: string;
}

export interface Availability {
  chat: string; // "available", or the entry's unavailable value
  ewt?: string;
}

export interface ExpectedParameters {
  parameters: Array<Record<string, string>>; // [{first_name: "FIRST_NAME"}, …]
}

export interface ChatTicket {
  chat_id: string;
  state: string;
  ewt?: string;
  is_new_chat: boolean;
}

export interface UploadedFile {
  file_id: string;
  file_name: string;
}

/** A field of a form in the configuration document (`definition.forms[].fields[]`). */
export interface WidgetFormField {
  name: string;
  label?: string;
  formFieldType?: string; // text | email | phone | selection_list | numerical_range_slider
  required?: boolean;
  options?: string[];
  minValue?: number;
  maxValue?: number;
}

export interface WidgetForm {
  id?: string;
  name: string;
  title?: string;
  submitButtonText?: string;
  cancelButtonText?: string;
  fields?: WidgetFormField[];
}

export interface WidgetDocument {
  definition?: {
    chatInitiations?: Array<{
      contactTab?: { agentsAvailableMsg?: string; outOfHoursMsg?: string };
    }>;
    forms?: WidgetForm[];
    chatWidgetStyling?: { color?: string; fileUploadEnabled?: boolean };
  };
}

/** A server event as the widget reads it: every field optional, checked where used. */
export interface ServerEvent {
  event: string;
  seq?: number;
  party_id?: string;
  msg_id?: string;
  msg?: string;
  msg_text?: string;
  timestamp?: string;
  state?: string;
  ewt?: string;
  type?: string; // party type: internal | scenario | external
  first_name?: string;
  last_name?: string;
  display_name?: string;
  ref_msg_id?: string;
  file_id?: string;
  file_name?: string;
  file_type?: string;
  form_request_id?: number | string;
  form_name?: string;
  form_timeout?: number | string;
  data?: unknown;
}

export type ClientEvent =
  | { event: "chat_session_message"; msg_id: string; msg: string; msg_text: string }
  | { event: "chat_session_typing"; msg: string }
  | { event: "chat_session_not_typing" }
  | { event: "chat_session_message_delivered" | "chat_session_message_read"; ref_msg_id: string }
  | { event: "chat_session_file"; msg_id: string; file_id: string; file_name: string; file_type: "image" | "attachment" }
  | { event: "chat_session_form_data"; form_request_id: number | string; form_name: string; data: Record<string, string> }
  | { event: "chat_form_data_cancel"; form_request_id: number | string; form_name: string }
  | { event: "chat_session_navigation"; msg_id: string; page: string; title: string }
  | { event: "chat_session_disconnect" }
  | { event: "chat_session_end" };

export interface EventsBody {
  events: ServerEvent[];
}
