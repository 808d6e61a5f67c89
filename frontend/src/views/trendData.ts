// What the trend views share (Trends.tsx, TrendChart.tsx): the API's shapes and the points.
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
