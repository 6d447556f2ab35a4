// What the embedding <script> tag asks for: data-app-id, data-tenant-url, data-server, data-lang,
// data-title, data-colour (docs/widget.md).
import { pickLanguage } from "./i18n";

export interface WidgetOptions {
  appId: string;
  tenantUrl: string;
  server: string; // the frontdesk origin the API is called on
  lang: string;
  title: string; // "" = the translated default
  colour: string; // a CSS colour; "" = the default
}

const COLOUR = /^(#[0-9a-f]{3,8}|[a-z]+|rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\))$/i;

/** The script element that loaded the widget (async scripts still see currentScript while they run). */
export function widgetScript(): HTMLScriptElement | null {
  const current = document.currentScript;
  if (current instanceof HTMLScriptElement) return current;
  return document.querySelector<HTMLScriptElement>("script[data-app-id][src*='widget.js']");
}

export function readOptions(script: HTMLScriptElement | null): WidgetOptions {
  const data = script?.dataset ?? {};
  const src = script?.src ? new URL(script.src, location.href) : new URL(location.href);
  const server = data.server ? new URL(data.server, location.href).origin : src.origin;
  const colour = (data.colour ?? data.color ?? "").trim();
  return {
    appId: data.appId ?? "",
    tenantUrl: data.tenantUrl ?? new URL(server).host,
    server,
    lang: pickLanguage(data.lang ? [data.lang] : [...navigator.languages, navigator.language]),
    title: (data.title ?? "").slice(0, 80),
    colour: COLOUR.test(colour) ? colour : "",
  };
}
