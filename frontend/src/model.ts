// Applying deltas to view data. Deltas carry absolute values, so applying one twice is harmless.
import type { Change } from "./board";

export type Counts = Partial<Record<
  "core_beds" | "open_beds" | "occupied" | "free" | "unavailable" | "closed" | "escalation_open" | "virtual_occupied",
  number
>>;
export type Unit = { id: string; site: string; code: string; name: string; kind: string; specialty: string | null; counts: Counts };
export type Bed = { unit: string; code: string; bay: string | null; kind: string; status: string; occupied: boolean; occupied_since: string | null };
export type SiteView = { site: { code: string; name: string }; units: Unit[]; beds: Record<string, Bed> };
export type SystemView = { sites: { code: string; name: string; kind: string }[]; units: Unit[] };

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
  return next;
}

export function total(units: Unit[], key: keyof Counts): number {
  return units.reduce((sum, unit) => sum + (unit.counts[key] ?? 0), 0);
}

export function occupancy(units: Unit[]): number | null {
  const open = total(units, "open_beds");
  return open ? (100 * total(units, "occupied")) / open : null;
}
