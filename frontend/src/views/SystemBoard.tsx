import type { Session } from "../api";
import type { ViewState } from "../board";
import { engineNow, occupancy, total, type QueueItem, type SystemView } from "../model";
import { Freshness, Stat, useNow } from "./common";
import { AmbulanceQueue, OpelBadge, OpelTile } from "./flow";
import { type Forecast, useForecasts } from "./Forecast";
import { FlowMap } from "./FlowMap";
import { type Headline, TrendsTile } from "./Trends";

const fmt = (value: number | null | undefined, suffix = "") =>
  value === null || value === undefined ? "–" : `${Number.isInteger(value) ? value : value.toFixed(1)}${suffix}`;

function ahead(forecast: Forecast | undefined): string {
  const four = forecast?.windows.find((w) => w.hours === 4);
  return four ? `≥ ${four.admissions_at_least_90} (≈ ${four.expected_admissions.toFixed(0)})` : "–";
}

function rise(forecast: Forecast | undefined): string {
  return forecast?.opel_rise_4h == null ? "–" : `${Math.round(forecast.opel_rise_4h * 100)} %`;
}

export function SystemBoard({ state, session, onOpenSite }: { state: ViewState; session: Session; onOpenSite: (code: string) => void }) {
  const view = state.data as SystemView;
  const clockNow = useNow();
  const ga = (site: string) => view.units.filter((u) => u.site === site && (u.kind === "ward" || u.kind === "assessment"));
  // G&A: the acute sites' beds (a community hospital's rehabilitation beds are not G&A).
  const acute = new Set(view.sites.filter((s) => s.kind === "acute").map((s) => s.code));
  const all = view.units.filter((u) => acute.has(u.site) && (u.kind === "ward" || u.kind === "assessment"));
  const pct = occupancy(all);
  const summaries = Object.values(view.summaries ?? {});
  const latest = summaries[0];
  const now = engineNow(latest?.as_of, latest?.received_at, clockNow);
  const queue: (QueueItem & { site: string })[] = summaries
    .flatMap((s) => s.ambulance_queue.map((item) => ({ ...item, site: s.site })))
    .sort((a, b) => Date.parse(a.arrived_at) - Date.parse(b.arrived_at));
  const canDeclare = session.permissions.declare_opel;
  const opelScope = view.system_opel?.scope ?? "system";
  const forecasts = useForecasts(session.token, Object.keys(view.summaries ?? {}).sort());
  const inEd = summaries.reduce((n, s) => n + (s.ed_in_department ?? 0), 0);
  const nctr = summaries.reduce((n, s) => n + (s.nctr ?? 0), 0);
  const headlines: Headline[] = [
    { metric: "beds.occupancy_pct", label: "System G&A occupancy", unit: "%", value: pct },
    { metric: "beds.free", label: "Free G&A beds", unit: "", value: total(all, "free") },
    { metric: "ed.in_department", label: "In ED, all sites", unit: "", value: inEd },
    { metric: "ambulance.waiting", label: "Ambulances waiting", unit: "", value: queue.length },
    { metric: "discharges.nctr", label: "No criteria to reside", unit: "", value: nctr },
  ];
  return (
    <div class="board">
      <header class="board-header">
        <h2>Anyborough system <OpelBadge level={view.system_opel?.declared?.level ?? view.system_opel?.computed_level} /></h2>
        <Freshness updatedAt={state.updatedAt} />
      </header>
      <section class="tile summary" aria-label="System summary">
        <Stat label="System G&A occupancy" value={pct === null ? "–" : `${pct.toFixed(1)}%`} />
        <Stat label="Free beds" value={total(all, "free")} />
        <Stat label="Occupied" value={total(all, "occupied")} />
        <Stat label="Ambulances waiting" value={queue.length} />
        <Stat label="NCTR patients" value={nctr} />
      </section>
      <TrendsTile token={session.token} scope={opelScope} asOf={latest?.as_of ?? view.now} headlines={headlines} />
      <FlowMap summaries={summaries} />
      <table class="tile sites" aria-label="Sites">
        <thead>
          <tr>
            <th scope="col">Site</th><th scope="col">OPEL</th><th scope="col">Occupancy</th><th scope="col">Free</th>
            <th scope="col">Escalation open</th><th scope="col">In ED</th><th scope="col">4-hour %</th>
            <th scope="col">Ambulances waiting</th><th scope="col">Hours lost</th><th scope="col">NCTR</th>
            <th scope="col" title="Admissions in the next 4 hours, at least this many with 90 % probability">Admissions next 4 h</th>
            <th scope="col" title="If G&A occupancy moves as forecast">Chance of next OPEL in 4 h</th>
          </tr>
        </thead>
        <tbody>
          {view.sites.map((site) => {
            const units = ga(site.code);
            const sitePct = occupancy(units);
            const s = view.summaries?.[site.code];
            return (
              <tr key={site.code} data-site={site.code}>
                <th scope="row"><button class="link" onClick={() => onOpenSite(site.code)}>{site.name}</button></th>
                <td>{s ? <OpelBadge level={s.opel_declared ?? s.opel_level} /> : "–"}</td>
                <td>{sitePct === null ? "–" : `${sitePct.toFixed(1)}%`}</td>
                <td>{total(units, "free")}</td>
                <td>{total(units, "escalation_open")}</td>
                <td>{fmt(s?.ed_in_department)}</td>
                <td>{fmt(s?.four_hour_pct, "%")}</td>
                <td>{fmt(s?.ambulances_waiting)}</td>
                <td>{fmt(s?.hours_lost)}</td>
                <td>{s ? `${fmt(s.nctr)} (${fmt(s.nctr_pct, "%")})` : "–"}</td>
                <td data-testid={`ahead-${site.code}`}>{ahead(forecasts[site.code])}</td>
                <td data-testid={`opel-rise-${site.code}`}>{rise(forecasts[site.code])}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div class="flow-grid">
        <section class="tile" aria-label="Ambulance queue across sites">
          <h3>Ambulance queue, all sites</h3>
          <AmbulanceQueue queue={queue} now={now} site={(item) => (item as QueueItem & { site: string }).site} />
        </section>
        <OpelTile opel={view.system_opel} scope={opelScope} token={session.token} canDeclare={canDeclare} />
      </div>
    </div>
  );
}
