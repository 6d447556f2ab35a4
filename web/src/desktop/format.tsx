// Small renderers shared by the desktop's views. Everything from a customer is rendered as text;
// only http(s) and mailto links become links, opened in a new tab without a referrer.

import type { ComponentChildren } from "preact";
import { language } from "./i18n";

const LINK = /\b(https?:\/\/[^\s<>"']+|mailto:[^\s<>"']+)/gi;

/** Text with its http(s)/mailto addresses as links (no other markup is ever produced). */
export function Linkified({ text }: { text: string }) {
  const parts: ComponentChildren[] = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    const index = match.index ?? 0;
    if (index > last) parts.push(text.slice(last, index));
    const href = match[0].replace(/[.,;:!?)]+$/, "");
    parts.push(<a href={href} target="_blank" rel="noopener noreferrer">{href}</a>);
    last = index + href.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return <>{parts}</>;
}

/** A link only for http(s) addresses; anything else is shown as plain text. */
export function SafeLink({ href, children }: { href: string; children: ComponentChildren }) {
  return /^https?:\/\//i.test(href)
    ? <a href={href} target="_blank" rel="noopener noreferrer">{children}</a>
    : <span>{children}</span>;
}

const timeFormat = new Intl.DateTimeFormat(language, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });

/** "14:05" for an event timestamp (a string of epoch seconds). */
export function clock(timestamp: string | number | undefined): string {
  const secs = Number(timestamp);
  return Number.isFinite(secs) && secs > 0 ? timeFormat.format(new Date(secs * 1000)) : "";
}

export function dateTime(secs: number): string {
  return dateFormat.format(new Date(secs * 1000));
}

/** A value of pre-chat data or a form answer as one line of text. */
export function valueText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** "first_name" → "First name": a pre-chat or form key as a label. */
export function humanKey(key: string): string {
  const words = key.replace(/[_-]+/g, " ").trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : key;
}

/** Pre-chat data as label/value rows; an object value (such as the widget's user_platform) becomes
 * one row per field, labelled "User platform › browser". */
export function flatPairs(data: Record<string, unknown>): [string, string][] {
  const rows: [string, string][] = [];
  for (const [key, value] of Object.entries(data)) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [inner, innerValue] of Object.entries(value as Record<string, unknown>)) {
        const text = valueText(innerValue);
        if (text) rows.push([`${humanKey(key)} › ${inner}`, text]);
      }
    } else {
      const text = valueText(value);
      if (text) rows.push([humanKey(key), text]);
    }
  }
  return rows;
}
