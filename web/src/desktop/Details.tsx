// The right column: who the customer is (pre-chat data, the page they are on), what the agent can
// do with the chat (forms, a question, location; transfer, conference, leave, end; wrap-up), and
// the customer's earlier chats.

import { useEffect, useState } from "preact/hooks";
import { api } from "../shared/api";
import { errorText } from "./Conversation";
import { Linkified, SafeLink, clock, dateTime, flatPairs } from "./format";
import { t } from "./i18n";
import { type ChatState, type Store, customerName } from "./store";
import type { Directory, EarlierChat } from "./wire";

const FORM_TIMEOUT_SECS = 300;

interface Props {
  chat: ChatState;
  store: Store;
  directory: Directory | null;
  myAgentId: string;
  /** closes the details when they are shown over the conversation (a narrower window) */
  onClose?: () => void;
}

function useAction(store: Store) {
  const [busy, setBusy] = useState(false);
  async function run(method: string, path: string, body?: unknown): Promise<boolean> {
    setBusy(true);
    try {
      await api(method, path, body);
      return true;
    } catch (error) {
      store.setNotice(t("error", { detail: errorText(error) }));
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { busy, run };
}

function PreChat({ chat }: { chat: ChatState }) {
  const entries = flatPairs(chat.summary.parameters);
  return (
    <section class="fd-panel" aria-labelledby={`pre-${chat.id}`}>
      <h3 id={`pre-${chat.id}`}>{t("preChat")}</h3>
      {entries.length === 0 ? <p class="fd-empty">{t("noPreChat")}</p> : (
        <dl class="fd-pairs" data-testid="pre-chat">
          {entries.map(([key, value]) => <div key={key}><dt>{key}</dt><dd><Linkified text={value} /></dd></div>)}
        </dl>
      )}
      <p class="fd-muted">{t("started", { time: dateTime(chat.summary.created_at) })}</p>
      <h3>{t("currentPage")}</h3>
      {chat.page ? (
        <p data-testid="current-page"><SafeLink href={chat.page.page}>{chat.page.title || chat.page.page}</SafeLink></p>
      ) : <p class="fd-empty">{t("noPage")}</p>}
    </section>
  );
}

function Asks({ chat, store, directory }: Props) {
  const { busy, run } = useAction(store);
  const [form, setForm] = useState("");
  const [question, setQuestion] = useState("");
  const path = `/chats/${encodeURIComponent(chat.id)}`;
  const forms = directory?.forms ?? [];
  const chosen = form || forms[0]?.name || "";
  return (
    <section class="fd-panel" aria-labelledby={`ask-${chat.id}`}>
      <h3 id={`ask-${chat.id}`}>{t("actions")}</h3>
      {forms.length === 0 ? <p class="fd-empty">{t("formNone")}</p> : (
        <form class="fd-row" onSubmit={(e) => {
          e.preventDefault();
          void run("POST", `${path}/forms`, { form_name: chosen, timeout_secs: FORM_TIMEOUT_SECS });
        }}>
          <label class="fd-grow">
            <span class="fd-label">{t("pushForm")}</span>
            <select value={chosen} onChange={(e) => setForm(e.currentTarget.value)}>
              {forms.map((f) => <option key={f.name} value={f.name}>{f.title}</option>)}
            </select>
          </label>
          <button type="submit" class="fd-button" disabled={busy}>{t("pushFormButton")}</button>
        </form>
      )}
      <form class="fd-row" onSubmit={async (e) => {
        e.preventDefault();
        const text = question.trim();
        if (!text) return;
        // the question is a message; the customer's next typed message comes back as its answer
        if (await run("POST", `${path}/messages`, { text }) &&
            await run("POST", `${path}/forms`, { form_name: "", timeout_secs: FORM_TIMEOUT_SECS })) setQuestion("");
      }}>
        <label class="fd-grow">
          <span class="fd-label">{t("questionLabel")}</span>
          <input value={question} maxLength={500} onInput={(e) => setQuestion(e.currentTarget.value)} />
        </label>
        <button type="submit" class="fd-button" disabled={busy || !question.trim()}>{t("askButton")}</button>
      </form>
      <button type="button" class="fd-button" disabled={busy}
              onClick={() => void run("POST", `${path}/location-request`, { timeout_secs: FORM_TIMEOUT_SECS })}>
        {t("askLocation")}
      </button>
    </section>
  );
}

function Handoffs({ chat, store, directory, myAgentId }: Props) {
  const { busy, run } = useAction(store);
  const [target, setTarget] = useState("");
  const [invitee, setInvitee] = useState("");
  const [confirmEnd, setConfirmEnd] = useState(false);
  const path = `/chats/${encodeURIComponent(chat.id)}`;
  const agents = directory?.agents ?? [];
  const queues = directory?.queues ?? [];
  const othersInChat = (chat.detail?.parties ?? []).filter((p) => p.type === "internal" && p.left_at === null
                                                            && p.agent_id !== myAgentId).length;
  const stateName = (s: string) => t(s === "ready" ? "ready" : s === "not_ready" ? "notReady" : "loggedOut");
  return (
    <section class="fd-panel" aria-labelledby={`hand-${chat.id}`}>
      <h3 id={`hand-${chat.id}`}>{t("transfer")}</h3>
      <form class="fd-row" onSubmit={(e) => {
        e.preventDefault();
        const [kind, id] = target.split(":", 2);
        if (!id) return;
        void run("POST", `${path}/transfer`, kind === "queue" ? { queue: id } : { agent: id });
      }}>
        <label class="fd-grow">
          <span class="fd-label">{t("transferTo")}</span>
          <select value={target} onChange={(e) => setTarget(e.currentTarget.value)} data-testid="transfer-target">
            <option value="">—</option>
            <optgroup label={t("queues")}>
              {queues.map((q) => <option key={q.queue_id} value={`queue:${q.queue_id}`}>{t("toQueue", { name: q.name })}</option>)}
            </optgroup>
            <optgroup label={t("agents")}>
              {agents.map((a) => (
                <option key={a.agent_id} value={`agent:${a.agent_id}`} disabled={a.state === "logged_out"}>
                  {t("toAgent", { name: a.display_name, state: stateName(a.state), load: a.load, max: a.max_chats })}
                </option>
              ))}
            </optgroup>
          </select>
        </label>
        <button type="submit" class="fd-button" disabled={busy || !target}>{t("transfer")}</button>
      </form>
      <form class="fd-row" onSubmit={(e) => {
        e.preventDefault();
        if (invitee) void run("POST", `${path}/invite`, { agent: invitee });
      }}>
        <label class="fd-grow">
          <span class="fd-label">{t("invite")}</span>
          <select value={invitee} onChange={(e) => setInvitee(e.currentTarget.value)} data-testid="invite-target">
            <option value="">—</option>
            {agents.map((a) => (
              <option key={a.agent_id} value={a.agent_id} disabled={a.state === "logged_out"}>
                {t("toAgent", { name: a.display_name, state: stateName(a.state), load: a.load, max: a.max_chats })}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="fd-button" disabled={busy || !invitee}>{t("inviteButton")}</button>
      </form>
      <div class="fd-row">
        {othersInChat > 0 && (
          <button type="button" class="fd-button" disabled={busy}
                  onClick={() => void run("POST", `${path}/leave`)}>{t("leave")}</button>
        )}
        {confirmEnd ? (
          <>
            <span class="fd-grow">{t("confirmEnd")}</span>
            <button type="button" class="fd-button fd-button--danger" disabled={busy}
                    onClick={async () => { setConfirmEnd(false); await run("POST", `${path}/end`); }}>{t("end")}</button>
            <button type="button" class="fd-button" onClick={() => setConfirmEnd(false)}>{t("dismiss")}</button>
          </>
        ) : (
          <button type="button" class="fd-button fd-button--danger" onClick={() => setConfirmEnd(true)}>{t("end")}</button>
        )}
      </div>
    </section>
  );
}

function WrapUp({ chat, store, directory }: Props) {
  const { busy, run } = useAction(store);
  const queue = directory?.queues.find((q) => q.queue_id === chat.detail?.queue_id);
  const choices = queue?.dispositions ?? [];
  const [disposition, setDisposition] = useState("");
  const [notes, setNotes] = useState("");
  const chosen = disposition || (choices.length ? (choices[0] ?? "") : "");
  return (
    <section class="fd-panel" aria-labelledby={`wrap-${chat.id}`}>
      <h3 id={`wrap-${chat.id}`}>{t("wrapUp")}</h3>
      {chat.wrappedUp ? <p role="status">{t("wrapUpSaved")}</p> : (
        <form class="fd-stack" onSubmit={async (e) => {
          e.preventDefault();
          if (await run("POST", `/chats/${encodeURIComponent(chat.id)}/wrapup`, { disposition: chosen.trim(), notes })) {
            store.markWrappedUp(chat.id);
          }
        }}>
          <label>
            <span class="fd-label">{t("disposition")}</span>
            {choices.length ? (
              <select value={chosen} onChange={(e) => setDisposition(e.currentTarget.value)}>
                {choices.map((c) => <option key={c} value={c}>{c}</option>)}
              </select>
            ) : <input value={disposition} required maxLength={128} onInput={(e) => setDisposition(e.currentTarget.value)} />}
          </label>
          <label>
            <span class="fd-label">{t("notes")}</span>
            <textarea rows={3} value={notes} maxLength={4000} onInput={(e) => setNotes(e.currentTarget.value)} />
          </label>
          <button type="submit" class="fd-button fd-button--primary" disabled={busy || !chosen.trim()}>{t("saveWrapUp")}</button>
        </form>
      )}
      <button type="button" class="fd-button fd-button--ghost" onClick={() => store.close(chat.id)}>{t("closeChat")}</button>
    </section>
  );
}

function History({ chat }: { chat: ChatState }) {
  const [earlier, setEarlier] = useState<EarlierChat[] | null>(null);
  useEffect(() => {
    let live = true;
    setEarlier(null);
    api<EarlierChat[]>("GET", `/chats/${encodeURIComponent(chat.id)}/customer-history`)
      .then((found) => { if (live) setEarlier(found); }, () => { if (live) setEarlier([]); });
    return () => { live = false; };
  }, [chat.id]);
  return (
    <section class="fd-panel" aria-labelledby={`hist-${chat.id}`}>
      <h3 id={`hist-${chat.id}`}>{t("history")}</h3>
      {earlier === null ? <p class="fd-muted">…</p> : earlier.length === 0 ? <p class="fd-empty">{t("noHistory")}</p> : (
        <ul class="fd-history" data-testid="history">
          {earlier.map((old) => (
            <li key={old.chat_id}>
              <details>
                <summary>{dateTime(old.created_at)} · {old.queue_id}{old.case_id ? ` · ${old.case_id}` : ""}</summary>
                <ol class="fd-history__log">
                  {old.events.filter((e) => e.event === "chat_session_message").map((e, i) => (
                    <li key={i} class={e.party_id === old.chat_id ? "fd-history__customer" : ""}>
                      <time>{clock(e.timestamp)}</time> <Linkified text={e.msg_text ?? ""} />
                    </li>
                  ))}
                </ol>
              </details>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function Details(props: Props) {
  const { chat } = props;
  return (
    <aside class="fd-details" aria-label={t("details") + ": " + customerName(chat.summary)}
           onKeyDown={(e) => { if (e.key === "Escape" && props.onClose) props.onClose(); }}>
      {props.onClose && (
        <button type="button" class="fd-button fd-button--ghost fd-only-medium fd-details__close"
                onClick={props.onClose}>{t("closeDetails")}</button>
      )}
      {chat.status !== "active" && <WrapUp {...props} />}
      <PreChat chat={chat} />
      {chat.status === "active" && <Asks {...props} />}
      {chat.status === "active" && <Handoffs {...props} />}
      <History chat={chat} />
    </aside>
  );
}
