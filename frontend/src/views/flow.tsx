// Tiles fed by the flow engine: OPEL, the ambulance handover queue, ED and discharges.
import { useState } from "preact/hooks";
import { postJson, type DeclareIn } from "../api";
import type { Opel, QueueItem, SiteMetrics } from "../model";
import { Stat } from "./common";

const fmt = (value: unknown, suffix = ""): string =>
  value === null || value === undefined ? "–" : typeof value === "number" ? `${Number.isInteger(value) ? value : value.toFixed(1)}${suffix}` : String(value);

export function OpelBadge({ level, label }: { level: number | null | undefined; label?: string }) {
  if (!level) return <span class="opel opel-none">OPEL –</span>;
  return (
    <span class={`opel opel-${level}`} data-opel={level} title={label}>
      OPEL {level}
    </span>
  );
}

export function OpelTile({ opel, scope, token, canDeclare }: { opel: Opel | null; scope: string; token: string; canDeclare: boolean }) {
  if (!opel) return <section class="tile">OPEL: not yet assessed</section>;
  return (
    <section class="tile opel-tile" aria-label="Escalation (OPEL)" data-testid="opel">
      <header class="tile-header">
        <h3>Escalation</h3>
        <OpelBadge level={opel.computed_level} label="computed" />
        <span class="muted">score {fmt(opel.score)}</span>
        {opel.declared && (
          <span>
            declared <OpelBadge level={opel.declared.level} /> <span class="muted">by {opel.declared.by}: {opel.declared.reason}</span>
          </span>
        )}
      </header>
      {opel.raw_level !== null && opel.computed_level !== null && opel.raw_level < opel.computed_level && (
        <p class="muted">Score is in the OPEL {opel.raw_level} band; the level drops once it has stayed there long enough.</p>
      )}
      <table class="readings">
        <thead><tr><th scope="col">Parameter</th><th scope="col">Value</th><th scope="col">Level</th></tr></thead>
        <tbody>
          {opel.readings.map((r) => (
            <tr key={r.id} class={opel.drivers.includes(r.id) ? "driver" : ""}>
              <td>{r.label}{opel.drivers.includes(r.id) && <strong> ◀ driving</strong>}</td>
              <td>{fmt(r.value)}</td>
              <td>{r.level ? <OpelBadge level={r.level} /> : <span class="muted">no data</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {canDeclare && <DeclareForm scope={scope} token={token} />}
    </section>
  );
}

function DeclareForm({ scope, token }: { scope: string; token: string }) {
  const [level, setLevel] = useState(2);
  const [reason, setReason] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await postJson<DeclareIn>(token, `/api/v1/escalation/${encodeURIComponent(scope)}/declare`, { level, reason });
      setStatus("Declared.");
      setReason("");
    } catch (error) {
      setStatus(`Not declared: ${(error as Error).message}`);
    }
  };
  return (
    <form class="declare" onSubmit={submit} aria-label="Declare OPEL level">
      <label>
        Declare level{" "}
        <select value={level} onChange={(e) => setLevel(Number((e.target as HTMLSelectElement).value))}>
          {[1, 2, 3, 4].map((n) => <option key={n} value={n}>OPEL {n}</option>)}
        </select>
      </label>
      <label>
        Reason <input required minLength={3} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Declare</button>
      {status && <span role="status">{status}</span>}
    </form>
  );
}

const BANDS = [60, 45, 30, 15];

export function handoverBand(minutes: number): number {
  return BANDS.find((b) => minutes >= b) ?? 0;
}

function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}:` : ""}${String(m).padStart(h ? 2 : 1, "0")}:${String(s).padStart(2, "0")}`;
}

export function AmbulanceQueue({ queue, now, site }: { queue: QueueItem[]; now: number; site?: (item: QueueItem) => string }) {
  if (queue.length === 0) return <p class="muted">No ambulance waiting to hand over.</p>;
  return (
    <table class="queue" aria-label="Ambulances waiting to hand over">
      <thead>
        <tr>{site && <th scope="col">Site</th>}<th scope="col">Vehicle</th><th scope="col">Cat</th><th scope="col">Arrived</th><th scope="col">Waiting</th></tr>
      </thead>
      <tbody>
        {queue.map((item) => {
          const waited = now - Date.parse(item.arrived_at);
          const band = handoverBand(waited / 60000);
          return (
            <tr key={item.incident_id} data-incident={item.incident_id}>
              {site && <td>{site(item)}</td>}
              <td>{item.vehicle ?? "–"}</td>
              <td>C{item.category}</td>
              <td>{new Date(item.arrived_at).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })}</td>
              <td>
                <span class={`timer band-${band}`} data-band={band} data-testid="handover-timer">
                  {clock(waited)} {band ? <small>over {band} min</small> : null}
                </span>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function AmbulanceTile({ amb, now }: { amb: SiteMetrics["ambulance"]; now: number }) {
  return (
    <section class="tile" aria-label="Ambulance handovers" data-testid="ambulance">
      <h3>Ambulance handover</h3>
      <div class="summary">
        <Stat label="Waiting" value={fmt(amb.waiting)} />
        <Stat label="En route" value={fmt(amb.en_route)} />
        <Stat label="Handovers today" value={fmt(amb.handovers_today)} />
        <Stat label="Mean (min)" value={fmt(amb.handover_mean_minutes)} />
        <Stat label="90th centile" value={fmt(amb.handover_p90_minutes)} />
        <Stat label={`Hours lost (>${amb.hours_lost_after_minutes} min)`} value={fmt(amb.hours_lost)} />
      </div>
      <p class="muted">
        Today over 15/30/45/60 min: {["15", "30", "45", "60"].map((b) => amb.handovers_over?.[b] ?? 0).join(" / ")}
      </p>
      <AmbulanceQueue queue={amb.queue ?? []} now={now} />
    </section>
  );
}

function since(iso: unknown, now: number): string {
  if (typeof iso !== "string") return "–";
  return clock(now - Date.parse(iso));
}

export function EdTile({ ed, now }: { ed: SiteMetrics["ed"]; now: number }) {
  return (
    <section class="tile" aria-label="Emergency department" data-testid="ed">
      <h3>Emergency department</h3>
      <div class="summary">
        <Stat label="In department" value={fmt(ed.in_department)} />
        <Stat label="Arrivals last hour" value={fmt(ed.arrivals_last_hour)} />
        <Stat label="> 4 h" value={fmt(ed.over_4h)} />
        <Stat label="> 12 h" value={fmt(ed.over_12h)} />
        <Stat label="4-hour % today" value={fmt(ed.four_hour_pct, "%")} />
        <Stat label="Decisions to admit" value={fmt(ed.dta_waiting)} />
        <Stat label="Longest DTA wait" value={since(ed.longest_dta_at, now)} />
        <Stat label="Longest in ED" value={since(ed.longest_arrived_at, now)} />
      </div>
    </section>
  );
}

export function DischargesTile({ dis }: { dis: SiteMetrics["discharges"] }) {
  const pathways = Object.entries(dis.by_pathway ?? {}) as [string, number][];
  const delayed = Object.entries(dis.days_delayed ?? {}) as [string, number][];
  return (
    <section class="tile" aria-label="Discharges" data-testid="discharges">
      <h3>Discharges</h3>
      <div class="summary">
        <Stat label="Discharged today" value={fmt(dis.discharged_today)} />
        <Stat label="Expected today" value={fmt(dis.expected_today)} />
        <Stat label="Before noon" value={fmt(dis.before_noon_pct, "%")} />
        <Stat label="No criteria to reside" value={fmt(dis.nctr)} />
        <Stat label="NCTR % of occupied" value={fmt(dis.nctr_pct, "%")} />
      </div>
      <p class="muted">
        By pathway: {pathways.length ? pathways.map(([p, n]) => `${p} ${n}`).join(" · ") : "none"} — days since ready:{" "}
        {delayed.map(([band, n]) => `${band}: ${n}`).join(" · ")}
      </p>
    </section>
  );
}
