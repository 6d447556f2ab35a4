// Messages customers left when no agent could take their chat: read them, mark them handled.

import { useEffect, useState } from "preact/hooks";
import { api } from "../shared/api";
import { errorText } from "./Conversation";
import { Linkified, dateTime, valueText } from "./format";
import { t } from "./i18n";
import type { Store } from "./store";
import type { LeftMessage } from "./wire";

export function LeftMessages({ store }: { store: Store }) {
  const [messages, setMessages] = useState<LeftMessage[] | null>(null);

  async function load() {
    try {
      setMessages(await api<LeftMessage[]>("GET", "/left-messages?handled=false"));
    } catch (error) {
      store.setNotice(t("error", { detail: errorText(error) }));
    }
  }

  useEffect(() => void load(), []);

  return (
    <section class="fd-conversation fd-left" aria-labelledby="fd-left-title">
      <header class="fd-conversation__head">
        <h2 id="fd-left-title">{t("leftMessages")}</h2>
        <button type="button" class="fd-button fd-button--ghost" onClick={() => void load()}>{t("refresh")}</button>
      </header>
      {messages === null ? <p class="fd-muted">…</p> : messages.length === 0 ? <p class="fd-empty">{t("noLeftMessages")}</p> : (
        <ul class="fd-left__list">
          {messages.map((m) => (
            <li key={m.message_id} class="fd-card" data-message-id={m.message_id}>
              <div class="fd-card__title">{dateTime(m.created_at)} · {m.queue_id}</div>
              <dl class="fd-pairs">
                {Object.entries(m.data).map(([key, value]) => (
                  <div key={key}><dt>{key}</dt><dd><Linkified text={valueText(value)} /></dd></div>
                ))}
              </dl>
              <button type="button" class="fd-button" onClick={async () => {
                try {
                  await api("POST", `/left-messages/${encodeURIComponent(m.message_id)}/handled`);
                  setMessages((all) => (all ?? []).filter((x) => x.message_id !== m.message_id));
                } catch (error) {
                  store.setNotice(t("error", { detail: errorText(error) }));
                }
              }}>{t("markHandled")}</button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
