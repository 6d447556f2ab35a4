// The reports as tables over a date range, each with its CSV download (the report endpoint's own CSV).
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../shared/api";
import { columnLabel } from "./columns";
import { cellText, epochToText } from "./format";
import { reportPath, reportUrl } from "./http";
import { t, type MessageKey } from "./i18n";
import type { ReportAnswer, ReportKind, ReportRow } from "./wire";

const KINDS: { kind: ReportKind; label: MessageKey }[] = [
  { kind: "queues", label: "reportQueues" },
  { kind: "agents", label: "reportAgents" },
  { kind: "surveys/queues", label: "reportSurveyQueues" },
  { kind: "surveys/agents", label: "reportSurveyAgents" },
];

function isoDay(date: Date): string {
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${date.getFullYear()}-${m}-${d}`;
}

/** Local midnight of a `YYYY-MM-DD` day, in epoch seconds; `plusDays` moves it on. */
function dayStart(day: string, plusDays = 0): number {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + plusDays).getTime() / 1000;
}

export function Reports({ onUnauthorized }: { onUnauthorized(): void }) {
  const today = new Date();
  const weekAgo = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6);
  const [kind, setKind] = useState<ReportKind>("queues");
  const [from, setFrom] = useState(isoDay(weekAgo));
  const [to, setTo] = useState(isoDay(today));
  const [answer, setAnswer] = useState<ReportAnswer | null>(null);
  const [problem, setProblem] = useState("");
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState({ kind, from, to });

  const since = dayStart(shown.from);
  const until = dayStart(shown.to, 1);

  async function load(which: { kind: ReportKind; from: string; to: string }) {
    const start = dayStart(which.from);
    const end = dayStart(which.to, 1);
    if (!(start < end)) {
      setProblem(t("errorRange"));
      return;
    }
    setBusy(true);
    setProblem("");
    try {
      setAnswer(await api<ReportAnswer>("GET", reportPath(which.kind, start, end, "json")));
      setShown(which);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onUnauthorized();
      else setProblem(t("errorGeneric", { detail: error instanceof ApiError ? error.detail : String(error) }));
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => void load({ kind, from, to }), [kind]);

  const rows: ReportRow[] = answer ? answer.queues ?? answer.agents ?? [] : [];
  const columns = rows[0] ? Object.keys(rows[0]) : [];
  const title = t(KINDS.find((k) => k.kind === shown.kind)?.label ?? "reportQueues");
  return (
    <section class="sv-section sv-reports" aria-labelledby="sv-reports-title">
      <h2 id="sv-reports-title" class="sv-section__title">{t("reports")}</h2>
      <div class="sv-tabs sv-tabs--small" role="group" aria-label={t("reports")}>
        {KINDS.map((k) => (
          <button key={k.kind} type="button" aria-pressed={kind === k.kind} class="sv-tab"
                  onClick={() => setKind(k.kind)}>{t(k.label)}</button>
        ))}
      </div>
      <form class="sv-range" onSubmit={(e) => { e.preventDefault(); void load({ kind, from, to }); }}>
        <label>{t("from")}<input type="date" name="from" value={from} required onInput={(e) => setFrom(e.currentTarget.value)} /></label>
        <label>{t("to")}<input type="date" name="to" value={to} required onInput={(e) => setTo(e.currentTarget.value)} /></label>
        <button type="submit" class="sv-btn sv-btn--primary" disabled={busy}>{t("show")}</button>
        <a class="sv-btn" href={reportUrl(shown.kind, since, until, "csv")} download>{t("downloadCsv")}</a>
      </form>
      {problem && <p class="sv-problem" role="alert">{problem}</p>}
      {answer && (
        <p class="sv-sub" data-field="range">
          {t("reportRange", { since: epochToText(answer.since), until: epochToText(answer.until), at: epochToText(answer.generated_at) })}
        </p>
      )}
      {answer && rows.length === 0 && <p class="sv-empty">{t("noRows")}</p>}
      {rows.length > 0 && (
        <div class="sv-table-wrap" role="region" aria-label={title} tabIndex={0}>
          <table class="sv-table sv-table--report" data-report={shown.kind}>
            <caption class="sv-visually-hidden">{title}</caption>
            <thead>
              <tr>{columns.map((c) => <th key={c} scope="col" title={c} data-column={c}>{columnLabel(c)}</th>)}</tr>
            </thead>
            <tbody>
              {rows.map((row, i) => (
                <tr key={i}>{columns.map((c) => <td key={c} class={typeof row[c] === "number" ? "sv-num" : ""}>{cellText(c, row[c])}</td>)}</tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
