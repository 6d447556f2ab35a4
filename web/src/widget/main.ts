// The customer widget (/widget.js): one <script src=".../widget.js" data-app-id="…" data-tenant-url="…" async>
// on any page gives a chat button and window that speak the v1 Mobile/Web API (docs/widget.md).
import { h, render } from "preact";
import { CustomerApi } from "./api";
import { App } from "./App";
import { translator } from "./i18n";
import { readOptions, widgetScript } from "./options";
import { ChatSession } from "./session";
import { WidgetStore } from "./store";
import styles from "./widget.css?inline";

const HOST_ID = "frontdesk-widget";

function adoptStyles(root: ShadowRoot): void {
  // a constructed sheet works under a strict style-src; older browsers get a <style> element
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet.prototype.replaceSync === "function") {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(styles);
    root.adoptedStyleSheets = [sheet];
    return;
  }
  const style = document.createElement("style");
  style.textContent = styles;
  root.appendChild(style);
}

function mount(): void {
  if (document.getElementById(HOST_ID)) return; // the script was included twice
  const options = readOptions(widgetScript());
  if (!options.appId) {
    console.warn("frontdesk widget: the script tag needs data-app-id");
    return;
  }
  const host = document.createElement("div");
  host.id = HOST_ID;
  host.lang = options.lang;
  const root = host.attachShadow({ mode: "open" });
  adoptStyles(root);
  if (options.colour) host.style.setProperty("--fd-accent", options.colour);
  const t = translator(options.lang);
  const store = new WidgetStore(options.appId, options.tenantUrl);
  const api = new CustomerApi(options.server, options.appId, store.clientId(), options.tenantUrl);
  const session = new ChatSession(api, store, t);
  const container = document.createElement("div");
  root.appendChild(container);
  document.body.appendChild(host);
  render(h(App, { session, t, lang: options.lang, title: options.title }), container);
  void session.init();
}

if (document.body) mount();
else document.addEventListener("DOMContentLoaded", mount, { once: true });
