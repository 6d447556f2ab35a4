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

const BROWSERS: [RegExp, string][] = [
  [/Edg(?:e|A|iOS)?\/(\d+)/, "Edge"],
  [/OPR\/(\d+)/, "Opera"],
  [/(?:Firefox|FxiOS)\/(\d+)/, "Firefox"],
  [/(?:Chrome|CriOS|Chromium)\/(\d+)/, "Chrome"],
  [/Version\/(\d+)[.\d]* (?:Mobile\/\S+ )?Safari\//, "Safari"],
];
const SYSTEMS: [RegExp, string][] = [
  [/Windows/, "Windows"],
  [/iPhone|iPad|iPod/, "iOS"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/Android/, "Android"],
  [/CrOS/, "ChromeOS"],
  [/Linux/, "Linux"],
];

/** A browser's user agent string as "Chrome 156 on Linux"; the string itself when nothing is recognised. */
export function browserSummary(userAgent: string): string {
  const browser = BROWSERS.map(([pattern, name]) => {
    const match = pattern.exec(userAgent);
    return match ? `${name} ${match[1] ?? ""}`.trim() : "";
  }).find(Boolean);
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (!browser) return userAgent;
  return system ? `${browser} on ${system}` : browser;
}

/** The widget's ``user_platform`` ({browser, description}) as "Browser" and "Channel" rows. */
function platformRows(platform: Record<string, unknown>): [string, string][] {
  const rows: [string, string][] = [];
  const browser = valueText(platform["browser"]);
  if (browser) rows.push(["Browser", browserSummary(browser)]);
  const description = valueText(platform["description"]);
  if (description) rows.push(["Channel", description]);
  for (const [inner, innerValue] of Object.entries(platform)) {
    const text = valueText(innerValue);
    if (inner !== "browser" && inner !== "description" && text) rows.push([humanKey(inner), text]);
  }
  return rows;
}

/** Pre-chat data as label/value rows; the widget's user_platform becomes "Browser" ("Chrome 156 on
 * Linux") and "Channel"; another object value becomes one row per field ("Order › number"). */
export function flatPairs(data: Record<string, unknown>): [string, string][] {
  const rows: [string, string][] = [];
  for (const [key, value] of Object.entries(data)) {
    if (key === "user_platform" && value && typeof value === "object" && !Array.isArray(value)) {
      rows.push(...platformRows(value as Record<string, unknown>));
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
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
