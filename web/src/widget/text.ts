// Message text: always rendered as text. The widget never renders HTML; links are recognised in
// the plain text and only http(s) and mailto links become anchors.

export type Segment = { kind: "text"; text: string } | { kind: "link"; text: string; href: string };

const LINK = /\b(https?:\/\/[^\s<>"']+|mailto:[^\s<>"']+|www\.[^\s<>"']+)/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;

export function safeHref(raw: string): string | null {
  const candidate = raw.startsWith("www.") ? "https://" + raw : raw;
  try {
    const url = new URL(candidate);
    return url.protocol === "http:" || url.protocol === "https:" || url.protocol === "mailto:" ? url.href : null;
  } catch {
    return null;
  }
}

export function segments(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    const start = match.index;
    let found = match[0];
    const trail = TRAILING.exec(found);
    if (trail) found = found.slice(0, found.length - trail[0].length);
    const href = safeHref(found);
    if (!href || !found) continue;
    if (start > last) out.push({ kind: "text", text: text.slice(last, start) });
    out.push({ kind: "link", text: found, href });
    last = start + found.length;
  }
  if (last < text.length) out.push({ kind: "text", text: text.slice(last) });
  return out;
}

/** The plain text of a server `msg` (HTML: escaped text, `<br>` for newlines), for events without
 * `msg_text`. Parsed in an inert document: nothing in it runs or loads. */
export function textFromHtml(html: string): string {
  const doc = new DOMParser().parseFromString(html.replace(/<br\s*\/?>/gi, "\n"), "text/html");
  return doc.body.textContent ?? "";
}

/** What the widget sends as `msg`: the text HTML-escaped, as Bright Pattern's widget sends it. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;").replace(/\n/g, "<br>");
}
