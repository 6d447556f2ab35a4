// The report columns' headings (the CSV keeps the API's column names; a heading's title shows it).
import { language } from "./i18n";

type Labels = Record<string, string>;

const en: Labels = {
  queue_id: "Queue",
  offered: "Offered",
  answered: "Answered",
  abandoned: "Abandoned",
  failed: "Failed",
  other_unanswered: "Other unanswered",
  waiting: "Waiting",
  wait_p50_secs: "Wait p50 (s)",
  wait_p90_secs: "Wait p90 (s)",
  wait_p99_secs: "Wait p99 (s)",
  handle_avg_secs: "Handle avg (s)",
  handle_p90_secs: "Handle p90 (s)",
  answered_within_sl: "Within SL",
  service_level: "Service level",
  ewt_samples: "EWT samples",
  ewt_abs_error_p50_secs: "EWT error p50 (s)",
  ewt_rel_error_p50: "EWT rel. error p50",
  agent_id: "Agent id",
  username: "Username",
  display_name: "Name",
  team: "Team",
  offers: "Offers",
  accepted: "Accepted",
  rejected: "Rejected",
  timed_out: "Timed out",
  withdrawn: "Withdrawn",
  pending: "Pending",
  chats_handled: "Chats handled",
  wrap_ups: "Wrap-ups",
  wrap_ups_by_disposition: "By disposition",
  surveys: "Surveys",
  rating_avg: "Rating avg",
  ratings: "Ratings",
};

const de: Labels = {
  queue_id: "Warteschlange",
  offered: "Angeboten",
  answered: "Angenommen",
  abandoned: "Abgebrochen",
  failed: "Gescheitert",
  other_unanswered: "Sonst unbeantwortet",
  waiting: "Wartend",
  wait_p50_secs: "Wartezeit p50 (s)",
  wait_p90_secs: "Wartezeit p90 (s)",
  wait_p99_secs: "Wartezeit p99 (s)",
  handle_avg_secs: "Bearbeitung Ø (s)",
  handle_p90_secs: "Bearbeitung p90 (s)",
  answered_within_sl: "Im Servicelevel",
  service_level: "Servicelevel",
  ewt_samples: "EWT-Stichproben",
  ewt_abs_error_p50_secs: "EWT-Fehler p50 (s)",
  ewt_rel_error_p50: "EWT-Fehler rel. p50",
  agent_id: "Agenten-ID",
  username: "Benutzername",
  display_name: "Name",
  team: "Team",
  offers: "Angebote",
  accepted: "Angenommen",
  rejected: "Abgelehnt",
  timed_out: "Zeit abgelaufen",
  withdrawn: "Zurückgezogen",
  pending: "Offen",
  chats_handled: "Bearbeitete Chats",
  wrap_ups: "Nachbearbeitungen",
  wrap_ups_by_disposition: "Nach Ergebnis",
  surveys: "Umfragen",
  rating_avg: "Bewertung Ø",
  ratings: "Bewertungen",
};

const labels = language === "de" ? de : en;

/** The heading of a report column; a column this table does not know is shown by its name. */
export function columnLabel(column: string): string {
  return labels[column] ?? column;
}
