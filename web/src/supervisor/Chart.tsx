// A small live chart: the number of waiting customers and the longest wait over the last 15 minutes,
// drawn as SVG from the overviews this view received.
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "./i18n";
import { shortSecs } from "./format";

export interface Sample {
  at: number; // performance.now() of the overview, ms
  waiting: number;
  longest: number; // seconds
}

export const CHART_SPAN_MS = 15 * 60 * 1000;
const H = 150; // px; the width follows the chart's box (drawn 1:1, so text is never stretched)
const PAD_L = 34;
const PAD_R = 46;
const PAD_T = 10;
const PAD_B = 20;

/** The samples of the chart's window, plus the one just before it (the line enters from the edge). */
export function keepRecent(samples: Sample[], now: number): Sample[] {
  const start = now - CHART_SPAN_MS;
  let first = samples.findIndex((s) => s.at >= start);
  if (first === -1) first = samples.length;
  return samples.slice(Math.max(0, first - 1));
}

/** The top of the count axis: the smallest of 4, 10, 20, 40, 100, … that holds `value` (its half is whole). */
function countTop(value: number): number {
  for (let scale = 1; ; scale *= 10) {
    for (const k of [4, 10, 20]) if (value <= k * scale) return k * scale;
  }
}

const SECS_TOPS = [60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400];

/** The top of the wait axis: a round number of minutes or hours that holds `secs`. */
function secsTop(secs: number): number {
  return SECS_TOPS.find((top) => secs <= top) ?? Math.ceil(secs / 86400) * 86400;
}

/** Step line points (values hold until the next overview) for one series. */
function path(W: number, samples: Sample[], now: number, value: (s: Sample) => number, max: number): string {
  const start = now - CHART_SPAN_MS;
  const x = (at: number) => PAD_L + ((Math.max(at, start) - start) / CHART_SPAN_MS) * (W - PAD_L - PAD_R);
  const y = (v: number) => PAD_T + (1 - v / max) * (H - PAD_T - PAD_B);
  let d = "";
  samples.forEach((s, i) => {
    const px = x(s.at).toFixed(1);
    const py = y(value(s)).toFixed(1);
    d += i === 0 ? `M${px},${py}` : `H${px}V${py}`;
  });
  if (samples.length) d += `H${x(now).toFixed(1)}`;
  return d;
}

export function Chart({ samples, now }: { samples: Sample[]; now: number }) {
  const box = useRef<HTMLDivElement>(null);
  const [W, setW] = useState(600);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setW(Math.max(200, Math.round(element.clientWidth))));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  const last = samples[samples.length - 1];
  const maxWaiting = countTop(Math.max(0, ...samples.map((s) => s.waiting)));
  const maxLongest = secsTop(Math.max(0, ...samples.map((s) => s.longest)));
  const summary = last
    ? `${t("chartWaiting")}: ${last.waiting}; ${t("chartLongest")}: ${shortSecs(last.longest)}`
    : t("chartNoData");
  return (
    <figure class="sv-chart" aria-labelledby="sv-chart-title">
      <figcaption>
        <span id="sv-chart-title" class="sv-card__title">{t("chartTitle")}</span>
        <span class="sv-chart__legend">
          <span class="sv-key sv-key--waiting">{t("chartWaiting")}</span>
          <span class="sv-key sv-key--longest">{t("chartLongest")}</span>
        </span>
      </figcaption>
      <div ref={box} class="sv-chart__box">
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`${t("chartSpan")}. ${summary}`}>
        {[0, 0.5, 1].map((f) => {
          const y = PAD_T + (1 - f) * (H - PAD_T - PAD_B);
          return (
            <g key={f}>
              <line class="sv-chart__grid" x1={PAD_L} x2={W - PAD_R} y1={y} y2={y} />
              <text class="sv-chart__axis" x={PAD_L - 6} y={y + 4} text-anchor="end">{Math.round(maxWaiting * f)}</text>
              <text class="sv-chart__axis" x={W - PAD_R + 6} y={y + 4}>{shortSecs(maxLongest * f)}</text>
            </g>
          );
        })}
        <text class="sv-chart__axis" x={PAD_L} y={H - 4}>{t("chartStart")}</text>
        <text class="sv-chart__axis" x={W - PAD_R} y={H - 4} text-anchor="end">{t("chartNow")}</text>
        <path class="sv-chart__longest" d={path(W, samples, now, (s) => s.longest, maxLongest)} />
        <path class="sv-chart__waiting" d={path(W, samples, now, (s) => s.waiting, maxWaiting)} />
      </svg>
      </div>
      <p class="sv-chart__note">{t("chartSpan")}</p>
    </figure>
  );
}
