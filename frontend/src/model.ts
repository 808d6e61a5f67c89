// Applying deltas to view data. Deltas carry absolute values, so applying one twice is harmless.
// Shapes the service publishes in its schema come from src/openapi.ts (generated); the board
// views not yet in the schema are written here (issue #19).
import type { Change } from "./board";
import type { components } from "./openapi";

type Schemas = components["schemas"];

export type Counts = Partial<Record<
  "core_beds" | "open_beds" | "occupied" | "free" | "unavailable" | "closed" | "escalation_open" | "virtual_occupied",
  number
>>;
export type Unit = { id: string; site: string; code: string; name: string; kind: string; specialty: string | null; counts: Counts };
export type Bed = { unit: string; code: string; bay: string | null; kind: string; status: string; occupied: boolean; occupied_since: string | null };
export type Reading = Schemas["ReadingOut"];
export type Opel = Schemas["OpelView"];
export type QueueItem = { incident_id: string; vehicle: string | null; category: number; arrived_at: string; band: number };
export type SiteMetrics = {
  as_of: string;
  received_at?: number;
  beds: Record<string, number | null>;
  ed: Record<string, number | string | null>;
  ambulance: Record<string, any> & { queue: QueueItem[] };
  discharges: Record<string, any>;
  opel: Opel | null;
};
export type SiteSummary = {
  site: string;
  as_of: string;
  received_at?: number;
  opel_level: number | null;
  opel_declared: number | null;
  opel_score: number | null;
  occupancy_pct: number | null;
  free: number | null;
  escalation_open: number | null;
  ed_in_department: number | null;
  ed_over_12h: number | null;
  four_hour_pct: number | null;
  ambulances_waiting: number | null;
  ambulance_queue: QueueItem[];
  en_route: number | null;
  hours_lost: number | null;
  nctr: number | null;
  nctr_pct: number | null;
  nctr_by_pathway?: Record<string, number>;
  handovers_today?: number | null;
  discharged_today?: number | null;
  ed_departed_today?: number | null;
  dta_waiting?: number | null;
  occupied?: number | null;
};
export type SiteView = {
  site: { code: string; name: string };
  units: Unit[];
  beds: Record<string, Bed>;
  now: string;
  metrics: SiteMetrics;
};
export type SystemView = {
  sites: { code: string; name: string; kind: string }[];
  units: Unit[];
  now: string;
  summaries: Record<string, SiteSummary>;
  system_opel: Opel | null;
};

export function applyChanges(_view: string, data: any, changes: Change[]): any {
  const next = { ...data };
  if (data.units) {
    const units = new Map<string, Unit>(data.units.map((u: Unit) => [u.id, u]));
    for (const change of changes) {
      const unit = units.get(change.key);
      if (change.kind === "unit" && unit) units.set(change.key, { ...unit, counts: change.data as Counts });
    }
    next.units = [...units.values()];
  }
  if (data.beds) {
    next.beds = { ...data.beds };
    for (const change of changes) if (change.kind === "bed") next.beds[change.key] = change.data as Bed;
  }
  const received = Date.now();
  const whole = changes.filter((c) => c.kind === "discharges").pop();
  if (whole) return { ...whole.data };
  for (const change of changes) {
    if (change.kind === "metrics") next.metrics = { ...change.data, received_at: received };
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

export type Match = { home: string; name: string; local_authority: string; bed_type: string; admittable: number; reported_at: string; stale: boolean; neighbour: boolean };
export type Person = {
  ref: string; site: string | null; ward: string | null; pathway: string | null; status: string; ready_at: string;
  days_since_ready: number; delay_reason: string | null; needs_bed_type: string | null; expected_discharge_date: string | null; matches: Match[];
};
export type Home = Schemas["HomeOut"];
export type DischargesView = {
  local_authority: Schemas["LocalAuthorityOut"];
  now: string;
  pending: Person[];
  summary: { waiting: number; by_pathway: Record<string, number>; longest_days: number | null; over_7_days: number; admittable_fresh_by_bed_type: Record<string, number> };
  homes: Home[];
};
