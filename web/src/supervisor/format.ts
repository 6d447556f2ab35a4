// Durations, times and counts as the view shows them.
import { language } from "./i18n";

/** `m:ss`, or `h:mm:ss` from an hour on; negative or unknown is "—". */
export function duration(secs: number | null | undefined): string {
  if (secs === null || secs === undefined || !Number.isFinite(secs) || secs < 0) return "—";
  const whole = Math.floor(secs);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

/** A short, human label of a number of seconds for chart axes ("45 s", "3 min"). */
export function shortSecs(secs: number): string {
  if (secs < 60) return `${Math.round(secs)} s`;
  const round = (value: number) => String(Math.round(value * 10) / 10);
  if (secs < 5400) return `${round(secs / 60)} min`;
  return `${round(secs / 3600)} h`;
}

const dateTime = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });

export function epochToText(epochSecs: number): string {
  return dateTime.format(new Date(epochSecs * 1000));
}

/** A report cell as text: numbers with at most 2 decimals, fractions named `service_level` as percent,
 * dictionaries as `key=value` pairs. */
export function cellText(column: string, value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "number") {
    if (column === "service_level") return `${(value * 100).toFixed(1)} %`;
    if (column === "ewt_rel_error_p50") return `${(value * 100).toFixed(1)} %`;
    return Number.isInteger(value) ? String(value) : value.toFixed(2);
  }
  if (typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, count]) => count !== 0)
      .map(([key, count]) => `${key}=${String(count)}`)
      .join("; ") || "—";
  }
  return String(value);
}
