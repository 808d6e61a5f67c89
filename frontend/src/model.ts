// Applying deltas to view data. Deltas carry absolute values, so applying one twice is harmless.
// Every shape here is the service's, generated from its schema into src/openapi.ts (the REST
// views and the websocket frames alike: docs/board-protocol.md); none is written by hand.
import type { components } from "./openapi";

type Schemas = components["schemas"];

export type Counts = Schemas["UnitCounts"];
export type Unit = Schemas["UnitView"];
export type Bed = Schemas["BedView"];
export type Reading = Schemas["ReadingOut"];
export type Opel = Schemas["OpelView"];
export type QueueItem = Schemas["QueuedAmbulance"];
export type Change = DeltaFrame["changes"][number];
export type DeltaFrame = Schemas["DeltaFrame"];
export type BoardFrame = Schemas["BoardFrame"];
export type ClientMessage = Schemas["ClientMessage"];
export type Permissions = Schemas["Permissions"];
/** When a value computed at ``as_of`` reached this browser (engine time from data age). */
type Received = { received_at?: number };
export type SiteMetrics = Schemas["SiteFlow"] & Received;
export type SiteSummary = Schemas["SiteSummary"] & Received;
export type SiteView = Omit<Schemas["SiteView"], "metrics"> & { metrics: SiteMetrics | null };
export type SystemView = Omit<Schemas["SystemView"], "summaries"> & { summaries: Record<string, SiteSummary> };
export type DischargesView = Schemas["DischargesView"];
export type CareHomesView = Schemas["CareHomesView"];
export type Person = Schemas["WaitingPerson"];
export type Match = Schemas["MatchOut"];
export type Home = Schemas["HomeOut"];
export type ViewData = SiteView | SystemView | DischargesView | CareHomesView;

export type MetricsPatch = Schemas["SiteFlowPatch"];

/** A change that needs what the client does not hold (a patch of metrics it never had): the
 * view must be reloaded. */
export class NeedsSnapshot extends Error {}

const PATCHED_GROUPS = ["beds", "ed", "ambulance", "discharges"] as const;

/** Metrics with a patch applied: each group's changed fields replace the held ones; a member
 * the patch leaves out did not change (docs/board-protocol.md). */
export function patchMetrics(held: SiteMetrics | null | undefined, patch: MetricsPatch, received: number): SiteMetrics {
  if (!held) throw new NeedsSnapshot("a metrics patch without the metrics it patches");
  const next: any = { ...held, as_of: patch.as_of, received_at: received };
  for (const group of PATCHED_GROUPS) {
    const fields = patch[group];
    if (fields) next[group] = { ...held[group], ...fields };
  }
  if ("opel" in patch) next.opel = patch.opel ?? null;
  return next;
}

export function applyChanges(_view: string, data: ViewData, changes: Change[]): ViewData {
  // The whole of a discharge or care-home view replaces what is held.
  const whole = changes.filter((c) => c.kind === "discharges" || c.kind === "carehomes").pop();
  if (whole) return { ...whole.data };
  const next = { ...data } as any;
  if ("units" in data) {
    const units = new Map<string, Unit>(data.units.map((u) => [u.id, u]));
    for (const change of changes) {
      const unit = units.get(change.key);
      if (change.kind === "unit" && unit) units.set(change.key, { ...unit, counts: change.data });
    }
    next.units = [...units.values()];
  }
  if ("beds" in data) {
    next.beds = { ...data.beds };
    for (const change of changes) if (change.kind === "bed") next.beds[change.key] = change.data;
  }
  const received = Date.now();
  for (const change of changes) {
    if (change.kind === "metrics") next.metrics = { ...change.data, received_at: received };
    else if (change.kind === "metrics_patch") next.metrics = patchMetrics(next.metrics, change.data, received);
    else if (change.kind === "site_summary")
      next.summaries = { ...next.summaries, [change.key]: { ...change.data, received_at: received } };
    else if (change.kind === "system_opel") next.system_opel = change.data;
  }
  if (changes.length === 0) {
    // A snapshot: note when it arrived, so engine time can be told from its as_of.
    if (next.metrics && !next.metrics.received_at) next.metrics = { ...next.metrics, received_at: received };
    if (next.summaries) {
      next.summaries = Object.fromEntries(
        Object.entries(next.summaries as Record<string, SiteSummary>).map(([k, v]) => [k, { ...v, received_at: v.received_at ?? received }]),
      );
    }
  }
  return next;
}

export function total(units: Unit[], key: keyof Counts): number {
  return units.reduce((sum, unit) => sum + (unit.counts[key] ?? 0), 0);
}

export function occupancy(units: Unit[]): number | null {
  const open = total(units, "open_beds");
  return open ? (100 * total(units, "occupied")) / open : null;
}

/** The engine's time now, from a value computed at ``as_of`` and received at ``received_at``. */
export function engineNow(asOf: string | undefined, receivedAt: number | undefined, now: number): number {
  if (!asOf || !receivedAt) return now;
  return Date.parse(asOf) + (now - receivedAt);
}
