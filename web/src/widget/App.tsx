// The widget's view: the launcher button and the chat window (a dialog), rendered in a shadow root.
// Text is rendered as text (Preact escapes it); the widget never renders HTML.
import { useEffect, useRef, useState } from "preact/hooks";
import type { StringKey, Translate } from "./i18n";
import type { ChatSession, ChatState, PrechatField } from "./session";
import { type TextKind, TextInput } from "./TextInput";
import { Transcript } from "./Transcript";

interface Props {
  session: ChatSession;
  t: Translate;
  lang: string;
  title: string;
}

function useSessionState(session: ChatSession): ChatState {
  const [state, setState] = useState(session.state);
  useEffect(() => session.subscribe(setState), [session]);
  return state;
}

const ChatIcon = () => (
  <svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true" focusable="false">
    <path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z" />
  </svg>
);

const CloseIcon = ({ size = 22 }: { size?: number }) => (
  <svg viewBox="0 0 24 24" width={size} height={size} aria-hidden="true" focusable="false">
    <path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" d="M6 6l12 12M18 6L6 18" />
  </svg>
);

export function App({ session, t, lang, title }: Props) {
  const state = useSessionState(session);
  const launcher = useRef<HTMLButtonElement>(null);
  const body = useRef<HTMLDivElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  const wasOpen = useRef(state.open);
  const unread = state.open ? 0 : state.unseen;

  useEffect(() => {
    if (state.open && !wasOpen.current) {
      // into the window: the first field or the message box, else its close button
      const target = body.current?.querySelector<HTMLElement>("[data-autofocus]") ??
        body.current?.querySelector<HTMLElement>("input, textarea, select, button") ?? closeButton.current;
      target?.focus();
    }
    wasOpen.current = state.open;
  }, [state.open]);

  useEffect(() => {
    const onVisible = () => session.markRead();
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, [session]);

  const close = () => {
    session.setOpen(false);
    launcher.current?.focus();
  };

  const heading = title || t("title");
  let subtitle = t("subtitle");
  if (state.agentName) subtitle = state.agentName;
  else if (state.phase === "offline") subtitle = t("offlineShort");

  return (
    <div
      class="root"
      onKeyDown={(e) => {
        if (e.key === "Escape" && state.open) {
          e.stopPropagation();
          close();
        }
      }}
    >
      <div
        id="fd-window"
        class="window"
        role="dialog"
        aria-modal="false"
        aria-labelledby="fd-title"
        aria-describedby="fd-subtitle"
        hidden={!state.open}
      >
        <div class="header">
          <div class="avatar" aria-hidden="true">{state.agentName ? state.agentName.slice(0, 1).toUpperCase() : <ChatIcon />}</div>
          <div class="heading">
            <h2 id="fd-title">{heading}</h2>
            <p id="fd-subtitle">{subtitle}</p>
          </div>
          {state.phase === "chat" && !state.ending && (
            <button type="button" class="header-action" disabled={state.ending} onClick={() => void session.endChat()}>
              {t("endChat")}
            </button>
          )}
          <button type="button" class="icon-button" ref={closeButton} aria-label={t("close")} onClick={close}>
            <CloseIcon />
          </button>
        </div>
        <div class="body" ref={body}>
          <Body state={state} session={session} t={t} lang={lang} />
        </div>
      </div>
      <button
        type="button"
        class="launcher"
        ref={launcher}
        aria-expanded={state.open ? "true" : "false"}
        aria-controls="fd-window"
        aria-label={state.open ? t("launcherClose") : t("launcherOpen")}
        onClick={() => (state.open ? close() : session.setOpen(true))}
      >
        {state.open ? <CloseIcon size={26} /> : <ChatIcon />}
        {unread > 0 && <span class="badge" aria-hidden="true">{unread > 9 ? "9+" : unread}</span>}
      </button>
    </div>
  );
}

function Body({ state, session, t, lang }: { state: ChatState; session: ChatSession; t: Translate; lang: string }) {
  switch (state.phase) {
    case "loading":
      return <p class="placeholder" role="status">{t("loading")}</p>;
    case "offline":
      return (
        <section class="offline" aria-labelledby="fd-offline-title">
          <div class="moon" aria-hidden="true">
            <svg viewBox="0 0 24 24" width="40" height="40"><path fill="currentColor" d="M20 14.5A8.5 8.5 0 0 1 9.5 4a8.5 8.5 0 1 0 10.5 10.5z" /></svg>
          </div>
          <h3 id="fd-offline-title">{t("offlineTitle")}</h3>
          <p class="offline-text">{state.offlineText || (state.error ? t("unavailable") : t("offlineBody"))}</p>
        </section>
      );
    case "prechat":
    case "starting":
      return <Prechat state={state} session={session} t={t} />;
    default:
      return <Transcript state={state} session={session} t={t} lang={lang} />;
  }
}

const FIELD_KINDS: Record<string, { label: StringKey; type: TextKind; autocomplete: string }> = {
  FIRST_NAME: { label: "firstName", type: "text", autocomplete: "given-name" },
  LAST_NAME: { label: "lastName", type: "text", autocomplete: "family-name" },
  EMAIL: { label: "email", type: "email", autocomplete: "email" },
  PHONE: { label: "phone", type: "tel", autocomplete: "tel" },
  ACCOUNT: { label: "account", type: "text", autocomplete: "off" },
  COMPANY: { label: "company", type: "text", autocomplete: "organization" },
};

function fieldLabel(field: PrechatField, t: Translate): string {
  const known = FIELD_KINDS[field.kind];
  if (known) return t(known.label);
  const words = field.name.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function Prechat({ state, session, t }: { state: ChatState; session: ChatSession; t: Translate }) {
  const starting = state.phase === "starting";
  return (
    <form
      class="prechat"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        const values: Record<string, string> = {};
        for (const field of state.prechat) values[field.name] = String(data.get(`p-${field.name}`) ?? "");
        void session.start(values, String(data.get("question") ?? ""));
      }}
    >
      <p class="intro">{t("prechatIntro")}</p>
      {state.prechat.map((field, index) => {
        const kind = FIELD_KINDS[field.kind];
        const id = `fd-p-${index}`;
        return (
          <div class="field" key={field.name}>
            <label for={id}>{fieldLabel(field, t)}</label>
            <TextInput kind={kind?.type ?? "text"} id={id} name={`p-${field.name}`} autocomplete={kind?.autocomplete}
              maxLength={200} disabled={starting} autofocus={index === 0} />
          </div>
        );
      })}
      <div class="field">
        <label for="fd-question">{t("question")}</label>
        <textarea id="fd-question" name="question" rows={3} maxLength={4000} disabled={starting}
          data-autofocus={state.prechat.length === 0 ? "" : undefined} />
      </div>
      {state.error && <p class="error" role="alert">{state.error}</p>}
      <button type="submit" class="primary" disabled={starting}>{starting ? t("connecting") : t("startChat")}</button>
    </form>
  );
}
