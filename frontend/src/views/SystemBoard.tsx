import type { ViewState } from "../board";
import { occupancy, total, type SystemView } from "../model";
import { Freshness, Stat } from "./common";

export function SystemBoard({ state, onOpenSite }: { state: ViewState; onOpenSite: (code: string) => void }) {
  const view = state.data as SystemView;
  const ga = (site: string) => view.units.filter((u) => u.site === site && (u.kind === "ward" || u.kind === "assessment"));
  const all = view.units.filter((u) => u.kind === "ward" || u.kind === "assessment");
  const pct = occupancy(all);
  return (
    <div class="board">
      <header class="board-header">
        <h2>Anyborough system</h2>
        <Freshness updatedAt={state.updatedAt} />
      </header>
      <section class="tile summary" aria-label="System summary">
        <Stat label="System G&A occupancy" value={pct === null ? "–" : `${pct.toFixed(1)}%`} />
        <Stat label="Free beds" value={total(all, "free")} />
        <Stat label="Occupied" value={total(all, "occupied")} />
      </section>
      <table class="tile sites" aria-label="Sites">
        <thead>
          <tr><th scope="col">Site</th><th scope="col">Occupancy</th><th scope="col">Free</th><th scope="col">Occupied</th><th scope="col">Open</th><th scope="col">Escalation open</th></tr>
        </thead>
        <tbody>
          {view.sites.map((site) => {
            const units = ga(site.code);
            const sitePct = occupancy(units);
            return (
              <tr key={site.code} data-site={site.code}>
                <th scope="row"><button class="link" onClick={() => onOpenSite(site.code)}>{site.name}</button></th>
                <td>{sitePct === null ? "–" : `${sitePct.toFixed(1)}%`}</td>
                <td>{total(units, "free")}</td>
                <td>{total(units, "occupied")}</td>
                <td>{total(units, "open_beds")}</td>
                <td>{total(units, "escalation_open")}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
