// Trends on every board (issue #18): for each headline metric, a sparkline of the last 24 h with
// the same 24 h a week before (dashed), ending at the live value, and the SPC variation and
// assurance icons of its daily 08:00 series (Making Data Count: docs/analytics.md). A click
// opens the full chart (TrendChart.tsx), which follows the live value.
import { useState } from "preact/hooks";
import type { SiteMetrics } from "../model";
import { TrendChart } from "./TrendChart";
import { type Chart, DAY_MS, type Headline, type Point, points, useHistory } from "./trendData";

export type { Headline } from "./trendData";


export function siteHeadlines(m: SiteMetrics): Headline[] {
  return [
    { metric: "beds.occupancy_pct", label: "G&A occupancy", unit: "%", value: m.beds.occupancy_pct },
    { metric: "ed.in_department", label: "In ED", unit: "", value: m.ed.in_department },
    { metric: "ed.four_hour_pct", label: "4-hour %", unit: "%", value: m.ed.four_hour_pct },
    { metric: "ambulance.handover_mean_minutes", label: "Handover mean", unit: " min", value: m.ambulance.handover_mean_minutes },
    { metric: "discharges.nctr", label: "No criteria to reside", unit: "", value: m.discharges.nctr },
  ];
}

const MIN_SPAN_MS = 30 * 60_000; // less than half an hour of samples is not a trend

const VARIATION: Record<string, [string, string]> = {
  common_cause: ["≈", "Common cause variation: no signal"],
  improvement_high: ["▲", "Special cause: improvement (high)"],
  improvement_low: ["▼", "Special cause: improvement (low)"],
  concern_high: ["▲", "Special cause: concern (high)"],
  concern_low: ["▼", "Special cause: concern (low)"],
  neutral_high: ["▲", "Special cause: neither better nor worse (high)"],
  neutral_low: ["▼", "Special cause: neither better nor worse (low)"],
};


function Sparkline({ day, week, now, live }: { day: Point[]; week: Point[]; now: number; live: number | null }) {
  const current = live === null ? day : [...day, { t: now, v: live }];
  const all = [...current, ...week];
  const span = current.length ? current[current.length - 1].t - current[0].t : 0;
  if (span < MIN_SPAN_MS) return <span class="muted spark-empty">no trend yet</span>;
  const lo = Math.min(...all.map((p) => p.v));
  const hi = Math.max(...all.map((p) => p.v));
  const x = (t: number) => ((t - (now - DAY_MS)) / DAY_MS) * 120;
  const y = (v: number) => (hi === lo ? 15 : 28 - ((v - lo) / (hi - lo)) * 26);
  const line = (ps: Point[]) => ps.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  return (
    <svg class="spark" viewBox="0 0 120 30" role="img" aria-label={`last 24 hours: ${current.length} points`}>
      {week.length > 1 && <polyline class="spark-week" points={line(week)} />}
      <polyline class="spark-day" points={line(current)} data-points={current.length} />
    </svg>
  );
}

export function SpcIcons({ chart }: { chart: Chart | null }) {
  if (!chart || chart.points.length < 2) return <span class="spc muted" title="Too little daily history for SPC">SPC –</span>;
  const [symbol, text] = VARIATION[chart.variation] ?? ["?", chart.variation];
  const kind = chart.variation.split("_")[0];
  return (
    <span class={`spc spc-${kind}`} title={`${text} — ${chart.series}, ${chart.points.length} days`} data-variation={chart.variation}>
      {symbol}
      {chart.assurance && <span class={`assurance assurance-${chart.assurance}`} title={`Assurance: ${chart.assurance.replace("_", " ")}`}> ●</span>}
    </span>
  );
}

function Trend({ token, scope, headline, asOf, open, onOpen }: {
  token: string; scope: string; headline: Headline; asOf: number; open: boolean; onOpen: () => void;
}) {
  const data = useHistory(token, scope, headline.metric, asOf, DAY_MS);
  const live = headline.value ?? null;
  return (
    <button type="button" class={open ? "trend open" : "trend"} data-testid={`trend-${headline.metric}`} onClick={onOpen}
      aria-expanded={open} title="Show the full chart">
      <div class="trend-head">
        <span class="stat-label">{headline.label}</span> <SpcIcons chart={data?.chart ?? null} />
      </div>
      <div class="stat-value">{live === null ? "–" : `${Math.round(live * 10) / 10}${headline.unit}`}</div>
      {data ? <Sparkline day={points(data.recent.points, 0)} week={points(data.before.points, 7 * DAY_MS)} now={asOf} live={live} /> : <span class="muted">…</span>}
    </button>
  );
}

export function TrendsTile({ token, scope, asOf, headlines }: { token: string; scope: string; asOf: string; headlines: Headline[] }) {
  const [open, setOpen] = useState<string | null>(null);
  const at = Date.parse(asOf);
  const shown = headlines.find((h) => h.metric === open);
  return (
    <section class="tile trends" aria-label="Trends" data-testid="trends">
      <h3>Last 24 h <span class="muted">(dashed: same time last week; icons: SPC on 08:00 daily values; click for the chart)</span></h3>
      <div class="trend-grid">
        {headlines.map((h) => (
          <Trend key={h.metric} token={token} scope={scope} headline={h} asOf={at} open={h.metric === open}
            onOpen={() => setOpen(h.metric === open ? null : h.metric)} />
        ))}
      </div>
      {shown && <TrendChart key={shown.metric} token={token} scope={scope} headline={shown} asOf={at} onClose={() => setOpen(null)} />}
    </section>
  );
}
