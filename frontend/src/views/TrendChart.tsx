// The full chart of one headline metric (issue #18), opened from its sparkline: the last 7 days
// of samples with the 7 days before them (dashed), following the live value; and the SPC XmR
// chart of its daily 08:00 series with the mean and process limits, special-cause points marked
// (docs/analytics.md). uPlot: canvas, fast, small; it fills the tile's width on a wall screen.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { type Chart, DAY_MS, type Headline, type History, points, useHistory } from "./trendData";

const WEEK_MS = 7 * DAY_MS;
const SPECIAL: Record<string, string> = { improvement: "#005eb8", concern: "#ed8b00", neutral: "#330072" };

// One uPlot on a div: made once, given new data as it comes, resized with its tile.
function Plot({ options, data, label, count }: { options: Omit<uPlot.Options, "width" | "height">; data: uPlot.AlignedData; label: string; count: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const made = new uPlot({ ...options, width: el.clientWidth || 600, height: 220 }, data, el);
    plot.current = made;
    const resize = new ResizeObserver(() => made.setSize({ width: el.clientWidth || 600, height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      made.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => plot.current?.setData(data), [data]);
  return <div ref={box} class="chart" role="img" aria-label={label} data-points={count} />;
}

// Both series on the same x (seconds): the week before shifted forward a week, nulls between.
function weekSeries(loaded: History, now: number, live: number | null): uPlot.AlignedData {
  const recent = points(loaded.recent.points, 0);
  if (live !== null) recent.push({ t: now, v: live });
  const before = points(loaded.before.points, WEEK_MS);
  const times = [...new Set([...recent, ...before].map((p) => p.t))].sort((a, b) => a - b);
  const at = (ps: typeof recent) => {
    const by = new Map(ps.map((p) => [p.t, p.v]));
    return times.map((t) => by.get(t) ?? null);
  };
  return [times.map((t) => t / 1000), at(recent), at(before)];
}

const KINDS = ["improvement", "concern", "neutral"];

// Values, mean, limits, then one points-only series per kind of special cause.
function spcSeries(chart: Chart): uPlot.AlignedData {
  const ps = chart.points;
  return [
    ps.map((p) => Date.parse(`${p.day}T12:00:00Z`) / 1000),
    ps.map((p) => p.value),
    ps.map((p) => p.mean),
    ps.map((p) => p.upper),
    ps.map((p) => p.lower),
    ...KINDS.map((kind) => ps.map((p) => (p.type.startsWith(`special_cause_${kind}`) ? p.value : null))),
  ];
}

const special = (kind: string): uPlot.Series => ({
  label: kind, stroke: SPECIAL[kind], paths: () => null, points: { show: true, size: 9, fill: SPECIAL[kind] },
});

export function TrendChart({ token, scope, headline, asOf, onClose }: {
  token: string; scope: string; headline: Headline; asOf: number; onClose: () => void;
}) {
  const loaded = useHistory(token, scope, headline.metric, asOf, WEEK_MS);
  const live = headline.value ?? null;
  if (!loaded) return <div class="trend-chart muted">Loading the chart…</div>;
  const week = weekSeries(loaded, asOf, live);
  const chart = loaded.chart;
  const unit = headline.unit.trim();
  return (
    <div class="trend-chart" data-testid="trend-chart">
      <div class="trend-chart-head">
        <h4>{headline.label}: last 7 days <span class="muted">(dashed: the 7 days before)</span></h4>
        <button type="button" class="link" onClick={onClose}>Close</button>
      </div>
      <Plot label={`${headline.label}, last 7 days`} count={week[0].length} data={week} options={{
        scales: { x: { time: true } },
        series: [{}, { label: headline.label, stroke: "#005eb8", width: 2, spanGaps: true, value: (_u, v) => (v == null ? "–" : `${v}${unit}`) },
          { label: "a week before", stroke: "#768692", dash: [4, 3], spanGaps: true }],
        axes: [{}, { label: unit || undefined }],
      }} />
      {chart && chart.points.length > 1 ? (
        <>
          <h4>SPC: {chart.series} <span class="muted">(mean and process limits; coloured points: special cause)</span></h4>
          <Plot label={`${headline.label}, SPC chart of ${chart.points.length} days`} count={chart.points.length} data={spcSeries(chart)} options={{
            scales: { x: { time: true } },
            series: [{}, { label: headline.label, stroke: "#425563", width: 1.5, points: { show: true, size: 5 } },
              { label: "mean", stroke: "#000", width: 1 },
              { label: "upper limit", stroke: "#768692", dash: [6, 4] },
              { label: "lower limit", stroke: "#768692", dash: [6, 4] },
              ...KINDS.map(special)],
          }} />
        </>
      ) : <p class="muted">Too little daily history for an SPC chart.</p>}
    </div>
  );
}
