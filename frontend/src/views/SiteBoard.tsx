import type { Session } from "../api";
import type { ViewState } from "../board";
import { engineNow, occupancy, total, type Bed, type SiteView, type Unit } from "../model";
import { Freshness, Stat, useNow } from "./common";
import { AmbulanceTile, DischargesTile, EdTile, OpelBadge, OpelTile } from "./flow";
import { ForecastTile } from "./Forecast";
import { siteHeadlines, TrendsTile } from "./Trends";

function bedClass(bed: Bed): string {
  if (bed.occupied) return "bed occupied";
  if (bed.status === "C") return "bed closed";
  if (bed.status !== "U") return "bed unavailable";
  return "bed free";
}

function bedLabel(bed: Bed): string {
  const state = bed.occupied ? "occupied" : bed.status === "C" ? "closed" : bed.status === "U" ? "free" : "unavailable";
  return `${bed.code}${bed.kind !== "core" ? ` (${bed.kind})` : ""}: ${state}`;
}

function WardTile({ unit, beds }: { unit: Unit; beds: [string, Bed][] }) {
  const c = unit.counts;
  return (
    <section class="tile ward" aria-label={`${unit.name} beds`} data-unit={unit.id}>
      <header>
        <h3>{unit.name}</h3>
        <span class="muted">{unit.specialty ?? unit.kind}</span>
      </header>
      <p class="ward-numbers">
        <strong data-testid={`free-${unit.id}`}>{c.free ?? 0}</strong> free ·{" "}
        <span>{c.occupied ?? 0}</span>/<span>{c.open_beds ?? 0}</span> occupied
        {(c.escalation_open ?? 0) > 0 && <span class="badge esc"> +{c.escalation_open} escalation</span>}
        {(c.closed ?? 0) > 0 && <span class="badge closed"> {c.closed} closed</span>}
      </p>
      <div class="beds">
        {beds.map(([id, bed]) => (
          <span key={id} role="img" class={bedClass(bed)} title={bedLabel(bed)} aria-label={bedLabel(bed)} data-bed={id} />
        ))}
      </div>
    </section>
  );
}

export function SiteBoard({ state, session }: { state: ViewState; session: Session }) {
  const view = state.data as SiteView;
  const metrics = view.metrics;
  const now = engineNow(metrics?.as_of, metrics?.received_at, useNow());
  const canDeclare = session.permissions.declare_opel; // for the boards it may open
  const wards = view.units.filter((u) => u.kind === "ward" || u.kind === "assessment");
  const pct = occupancy(wards);
  const bedsByUnit = new Map<string, [string, Bed][]>();
  for (const entry of Object.entries(view.beds)) {
    const list = bedsByUnit.get(entry[1].unit) ?? [];
    list.push(entry);
    bedsByUnit.set(entry[1].unit, list);
  }
  return (
    <div class="board">
      <header class="board-header">
        <h2>
          {view.site.name} <span class="muted">({view.site.code})</span>{" "}
          <OpelBadge level={metrics?.opel?.declared?.level ?? metrics?.opel?.computed_level} />
        </h2>
        <Freshness updatedAt={state.updatedAt} />
      </header>
      {metrics && (
        <div class="flow-grid">
          <AmbulanceTile amb={metrics.ambulance} now={now} />
          <EdTile ed={metrics.ed} now={now} />
          <DischargesTile dis={metrics.discharges} />
          <OpelTile opel={metrics.opel} scope={view.site.code} token={session.token} canDeclare={canDeclare} />
        </div>
      )}
      {metrics && <TrendsTile token={session.token} scope={view.site.code} asOf={metrics.as_of} headlines={siteHeadlines(metrics)} />}
      {metrics && <ForecastTile token={session.token} site={view.site.code} />}
      <section class="tile summary" aria-label="Site beds summary">
        <Stat label="G&A occupancy" value={pct === null ? "–" : `${pct.toFixed(1)}%`} hint="occupied ÷ open G&A beds" />
        <Stat label="Free beds" value={total(wards, "free")} />
        <Stat label="Occupied" value={total(wards, "occupied")} />
        <Stat label="Open beds" value={total(wards, "open_beds")} />
        <Stat label="Escalation open" value={total(wards, "escalation_open")} />
        <Stat label="Closed" value={total(wards, "closed")} />
      </section>
      <div class="wards">
        {wards.map((unit) => (
          <WardTile key={unit.id} unit={unit} beds={bedsByUnit.get(unit.id) ?? []} />
        ))}
      </div>
    </div>
  );
}
