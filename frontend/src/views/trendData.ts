// What the trend views share (Trends.tsx, TrendChart.tsx): the API's shapes, the points, and
// one metric's samples and SPC chart fetched every 5 minutes.
import { useEffect, useRef, useState } from "preact/hooks";
import { getJson } from "../api";
import type { components } from "../openapi";

export type Samples = components["schemas"]["MetricSamples"];
export type Chart = components["schemas"]["SpcChart"];
// A headline metric of a board: its catalogue name (the samples' metric) and its live value.
export type Headline = { metric: string; label: string; unit: string; value: number | null | undefined };
export type Point = { t: number; v: number };

export const DAY_MS = 86_400_000;

export function points(samples: { at: string; value: number | null }[], shift: number): Point[] {
  return samples.filter((s) => s.value !== null).map((s) => ({ t: Date.parse(s.at) + shift, v: s.value as number }));
}

const REFRESH_MS = 5 * 60_000;
const iso = (t: number) => new Date(t).toISOString();

export type History = { recent: Samples; before: Samples; chart: Chart | null };

// The metric's samples over ``span`` ms before the engine's time, the same span a week earlier,
// and its SPC chart — fetched now and every 5 minutes.
export function useHistory(token: string, scope: string, metric: string, asOf: number, span: number): History | null {
  const [data, setData] = useState<History | null>(null);
  const latest = useRef(asOf); // the engine's time now (its clock may run ahead in a demo)
  latest.current = asOf;
  useEffect(() => {
    let gone = false;
    const load = async () => {
      const now = latest.current;
      const base = `/api/v1/metric-samples?scope=${encodeURIComponent(scope)}&metric=${metric}&limit=10000`;
      const week = 7 * DAY_MS;
      const [recent, before, chart] = await Promise.all([
        getJson<Samples>(token, `${base}&since=${iso(now - span)}`),
        getJson<Samples>(token, `${base}&since=${iso(now - week - span)}&until=${iso(now - week)}`),
        getJson<Chart>(token, `/api/v1/spc?scope=${encodeURIComponent(scope)}&metric=${metric}`).catch(() => null),
      ]);
      if (!gone) setData({ recent, before, chart });
    };
    load().catch(() => undefined);
    const timer = setInterval(() => load().catch(() => undefined), REFRESH_MS);
    return () => {
      gone = true;
      clearInterval(timer);
    };
  }, [token, scope, metric, span]);
  return data;
}
