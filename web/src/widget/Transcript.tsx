// The chat itself: the message log (role="log"), the queue and connection notices, the typing
// indicator and the composer; forms and location requests as cards in the log.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Translate } from "./i18n";
import type { ChatSession, ChatState, FileItem, FormItem, Item, LocationItem, MessageItem } from "./session";
import { TextInput } from "./TextInput";
import { segments } from "./text";
import type { WidgetFormField } from "./wire";

interface Props {
  state: ChatState;
  session: ChatSession;
  t: Translate;
  lang: string;
}

function clock(ms: number, lang: string): string {
  return new Date(ms).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
}

function Text({ text }: { text: string }) {
  return (
    <>
      {segments(text).map((part, i) =>
        part.kind === "link" ? (
          <a key={i} href={part.href} target="_blank" rel="noopener noreferrer">{part.text}</a>
        ) : (
          <span key={i}>{part.text}</span>
        ))}
    </>
  );
}

function Status({ item, t }: { item: MessageItem | FileItem; t: Translate }) {
  if (!item.mine) return null;
  if (item.status === "failed") return <span class="status failed">{t("sendFailed", { error: item.error })}</span>;
  if (item.status === "read") return <span class="status read">✓✓ {t("read")}</span>;
  if (item.status === "delivered") return <span class="status">✓✓ {t("delivered")}</span>;
  if (item.status === "sent") return <span class="status">✓</span>;
  return <span class="status">…</span>;
}

function Message({ item, t, lang }: { item: MessageItem; t: Translate; lang: string }) {
  return (
    <div class={item.mine ? "row mine" : "row theirs"} data-kind="message">
      <div class="bubble">
        {!item.mine && <span class="author">{item.author}</span>}
        <p class="text"><Text text={item.text} /></p>
        <span class="meta"><time>{clock(item.time, lang)}</time> <Status item={item} t={t} /></span>
      </div>
    </div>
  );
}

function FileMessage({ item, t, lang }: { item: FileItem; t: Translate; lang: string }) {
  let content;
  if (item.status === "failed") {
    content = <p class="text error" role="alert">{t("uploadFailed", { name: item.name, error: item.error })}</p>;
  } else if (!item.url) {
    content = <p class="text">{t("uploading", { name: item.name })}</p>;
  } else if (item.image) {
    content = (
      <a class="image-link" href={item.url} target="_blank" rel="noopener noreferrer">
        <img src={item.url} alt={t("imageAlt", { name: item.name })} loading="lazy" />
      </a>
    );
  } else {
    content = (
      <a class="file-link" href={item.url} target="_blank" rel="noopener noreferrer" download={item.name}>
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
          <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"
            d="M12 3v12m0 0l-4-4m4 4l4-4M5 19h14" />
        </svg>
        <span class="file-name">{item.name}</span>
        <span class="visually-hidden"> ({t("download")})</span>
      </a>
    );
  }
  return (
    <div class={item.mine ? "row mine" : "row theirs"} data-kind="file">
      <div class="bubble file">
        {!item.mine && <span class="author">{item.author}</span>}
        {content}
        {item.status !== "failed" && <span class="meta"><time>{clock(item.time, lang)}</time> <Status item={item} t={t} /></span>}
      </div>
    </div>
  );
}

function FormField({ field, id, disabled }: { field: WidgetFormField; id: string; disabled: boolean }) {
  const label = field.label || field.name;
  const kind = field.formFieldType ?? "text";
  if (kind === "numerical_range_slider") {
    const min = field.minValue ?? 0;
    const max = field.maxValue ?? 10;
    const values = Array.from({ length: Math.max(0, Math.min(max - min, 20)) + 1 }, (_, i) => min + i);
    return (
      <fieldset class="field rating">
        <legend>{label}</legend>
        <div class="scale">
          {values.map((v) => (
            <label key={v} class="scale-option">
              <input type="radio" name={field.name} value={String(v)} required={field.required} disabled={disabled} />
              <span>{v}</span>
            </label>
          ))}
        </div>
      </fieldset>
    );
  }
  if (kind === "selection_list") {
    return (
      <div class="field">
        <label for={id}>{label}</label>
        <select id={id} name={field.name} required={field.required} disabled={disabled}>
          <option value="" />
          {(field.options ?? []).map((option) => <option key={option} value={option}>{option}</option>)}
        </select>
      </div>
    );
  }
  const type = kind === "email" ? "email" : kind === "phone" ? "tel" : "text";
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <TextInput kind={type} id={id} name={field.name} required={field.required} disabled={disabled} maxLength={1000} />
    </div>
  );
}

function FormCard({ item, session, t }: { item: FormItem; session: ChatSession; t: Translate }) {
  const title = item.form.title || item.form.name;
  const headingId = `fd-form-${item.key}`;
  if (item.state === "sent" || item.state === "cancelled") {
    return (
      <div class="card done" data-kind="form">
        <p class="card-title">{title}</p>
        <p>{item.state === "sent" ? t("formSent") : t("formCancelled")}</p>
      </div>
    );
  }
  const busy = item.state === "sending";
  return (
    <form
      class="card"
      data-kind="form"
      aria-labelledby={headingId}
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        const answer: Record<string, string> = {};
        for (const field of item.form.fields ?? []) answer[field.name] = String(data.get(field.name) ?? "");
        void session.submitForm(item.key, answer);
      }}
    >
      <p class="card-title" id={headingId}>{title}</p>
      {(item.form.fields ?? []).map((field, i) => (
        <FormField key={field.name} field={field} id={`fd-f-${item.key}-${i}`} disabled={busy} />
      ))}
      {item.error && <p class="error" role="alert">{item.error}</p>}
      <div class="actions">
        <button type="button" class="secondary" disabled={busy} onClick={() => void session.cancelForm(item.key)}>
          {item.form.cancelButtonText || t("cancel")}
        </button>
        <button type="submit" class="primary" disabled={busy}>{item.form.submitButtonText || t("submit")}</button>
      </div>
    </form>
  );
}

function LocationCard({ item, session, t }: { item: LocationItem; session: ChatSession; t: Translate }) {
  if (item.state === "shared" || item.state === "declined" || item.state === "failed") {
    const text = item.state === "shared" ? t("locationShared") : item.state === "declined" ? t("locationDeclined")
      : t("locationUnavailable");
    return <div class="card done" data-kind="location"><p>{text}</p></div>;
  }
  const busy = item.state === "locating";
  return (
    <div class="card" data-kind="location">
      <p>{t("locationAsk", { name: item.author })}</p>
      <div class="actions">
        <button type="button" class="secondary" disabled={busy} onClick={() => session.declineLocation(item.key)}>
          {t("dontShare")}
        </button>
        <button type="button" class="primary" disabled={busy} onClick={() => session.shareLocation(item.key)}>
          {t("shareLocation")}
        </button>
      </div>
    </div>
  );
}

function Entry({ item, session, t, lang }: { item: Item; session: ChatSession; t: Translate; lang: string }) {
  switch (item.kind) {
    case "message":
      return <Message item={item} t={t} lang={lang} />;
    case "file":
      return <FileMessage item={item} t={t} lang={lang} />;
    case "form":
      return <FormCard item={item} session={session} t={t} />;
    case "location":
      return <LocationCard item={item} session={session} t={t} />;
    default:
      return <p class={`notice ${item.tone}`} data-kind="notice">{item.text}</p>;
  }
}

/** The estimated wait as the customer reads it; "" when the server has no estimate (ewt "0"). */
function queueText(ewtSecs: number, t: Translate): string {
  if (ewtSecs <= 0) return "";
  return ewtSecs >= 90 ? t("ewtMinutes", { n: Math.round(ewtSecs / 60) }) : t("ewtSoon");
}

export function Transcript({ state, session, t, lang }: Props) {
  const log = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const [draft, setDraft] = useState("");

  useLayoutEffect(() => {
    const el = log.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [state.items.length, state.typing.length, state.items]);

  useEffect(() => {
    if (state.phase === "chat" && state.open) input.current?.focus({ preventScroll: true });
  }, [state.phase]);

  const submit = () => {
    const text = draft;
    if (!text.trim()) return;
    setDraft("");
    if (input.current) input.current.style.height = "";
    void session.sendMessage(text);
  };
  const live = state.phase === "chat";

  return (
    <div class="chat">
      {state.queue && live && (
        <div class="banner" role="status">
          <strong>{t("queued")}</strong>
          {state.queue.ewtSecs > 0 && <span>{queueText(state.queue.ewtSecs, t)}</span>}
        </div>
      )}
      {state.reconnecting && <div class="banner warning" role="status">{t("reconnecting")}</div>}
      <div class="log" ref={log} role="log" aria-live="polite" aria-label={t("logLabel")} tabIndex={0}>
        {state.items.map((item) => <Entry key={item.key} item={item} session={session} t={t} lang={lang} />)}
      </div>
      <div class="typing" aria-live="polite">
        {state.typing.length > 0 && (
          <span><span class="dots" aria-hidden="true"><i /><i /><i /></span>{t("typing", { name: state.typing.join(", ") })}</span>
        )}
      </div>
      {live ? (
        <form class="composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
          {state.textFormPending && <p class="hint">{t("textFormHint")}</p>}
          <div class="composer-row">
            <input ref={fileInput} type="file" class="visually-hidden" tabIndex={-1} aria-hidden="true"
              onChange={(e) => {
                const files = e.currentTarget.files;
                if (files) for (const file of Array.from(files)) void session.sendFile(file);
                e.currentTarget.value = "";
              }} />
            <button type="button" class="icon-button attach" aria-label={t("attach")} onClick={() => fileInput.current?.click()}>
              <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
                <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"
                  d="M20 11.5l-8.2 8.2a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8" />
              </svg>
            </button>
            <textarea
              ref={input}
              class="message-input"
              rows={1}
              aria-label={t("messageLabel")}
              placeholder={t("placeholder")}
              maxLength={8000}
              value={draft}
              data-autofocus=""
              onInput={(e) => {
                const box = e.currentTarget;
                setDraft(box.value);
                session.typing(box.value);
                box.style.height = "auto"; // grows with the text, up to its max-height
                box.style.height = `${box.scrollHeight + 2}px`;
              }}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                  e.preventDefault();
                  submit();
                }
              }}
            />
            <button type="submit" class="send" aria-label={t("send")} disabled={!draft.trim()}>
              <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
                <path fill="currentColor" d="M3.4 20.4l17.4-7.5a1 1 0 0 0 0-1.8L3.4 3.6a.9.9 0 0 0-1.3 1l1.8 6.2 9.1 1.2-9.1 1.2-1.8 6.2a.9.9 0 0 0 1.3 1z" />
              </svg>
            </button>
          </div>
        </form>
      ) : (
        <div class="ended">
          <button type="button" class="primary" onClick={() => void session.newChat()}>{t("newChat")}</button>
        </div>
      )}
    </div>
  );
}
