// The social-care (transfer of care hub) board: people ready to leave hospital who are this
// local authority's to place, care-home vacancies nearby and suggested matches.
import { useState } from "preact/hooks";
import { getJson, postJson, type IdentityOut, type Session, type StatusUpdateIn } from "../api";
import type { ViewState } from "../board";
import type { DischargesView, Person } from "../model";
import { Freshness, Stat, useNow } from "./common";
import { TrendsTile } from "./Trends";

const STATUSES = ["ready", "referred", "assessment_booked", "package_sourced", "placement_found"];
const label = (s: string) => s.replace(/_/g, " ");

function age(iso: string, now: number): string {
  const hours = (now - Date.parse(iso)) / 3_600_000;
  return hours < 48 ? `${Math.round(hours)} h` : `${Math.round(hours / 24)} d`;
}

function Identity({ person, session, privacy }: { person: Person; session: Session; privacy: boolean }) {
  const [shown, setShown] = useState<string | null>(null);
  const canSee = session.permissions.identify;
  if (privacy || !canSee) return <span class="muted">{person.ref.slice(0, 6)}</span>;
  if (shown) return <span data-testid="identity">{shown}</span>;
  const reveal = async () => {
    try {
      const who = await getJson<IdentityOut>(session.token, `/api/v1/discharges/${person.ref}/identity`);
      setShown(`NHS ${who.nhs_number ?? "unknown"}`);
    } catch (error) {
      setShown((error as Error).message);
    }
  };
  return <button class="link" onClick={reveal} title="Shows the NHS number; every view is audited">Show NHS no.</button>;
}

function StatusAction({ person, session }: { person: Person; session: Session }) {
  const [note, setNote] = useState<string | null>(null);
  const change = async (event: Event) => {
    const status = (event.target as HTMLSelectElement).value;
    try {
      await postJson<StatusUpdateIn>(session.token, `/api/v1/discharges/${person.ref}/status`, { status: status as StatusUpdateIn["status"] });
      setNote("sent");
    } catch (error) {
      setNote((error as Error).message);
    }
  };
  return (
    <span>
      <select aria-label={`Status of ${person.ref.slice(0, 6)}`} value={person.status} onChange={change}>
        {STATUSES.map((s) => <option key={s} value={s}>{label(s)}</option>)}
      </select>
      {note && <small class="muted"> {note}</small>}
    </span>
  );
}

export function DischargeBoard({ state, session, privacy }: { state: ViewState; session: Session; privacy: boolean }) {
  const view = state.data as DischargesView;
  const now = useNow();
  const [pathway, setPathway] = useState("all");
  const [sort, setSort] = useState<"days" | "site">("days");
  const people = view.pending
    .filter((p) => pathway === "all" || p.pathway === pathway)
    .sort((a, b) => (sort === "days" ? b.days_since_ready - a.days_since_ready : (a.site ?? "").localeCompare(b.site ?? "")));
  const s = view.summary;
  return (
    <div class="board">
      <header class="board-header">
        <h2>Waiting to leave hospital: {view.local_authority.name}</h2>
        <Freshness updatedAt={state.updatedAt} />
      </header>
      <section class="tile summary" aria-label="Discharge summary">
        <Stat label="Waiting" value={s.waiting} />
        {Object.entries(s.by_pathway).map(([p, n]) => <Stat key={p} label={`Pathway ${p.replace("P", "")}`} value={n} />)}
        <Stat label="Waiting 7+ days" value={s.over_7_days} />
        <Stat label="Longest (days)" value={s.longest_days ?? "–"} />
      </section>
      <TrendsTile token={session.token} scope={view.local_authority.code} asOf={view.now}
        headlines={[{ metric: "discharges.nctr", label: "Waiting in hospital beds", unit: "", value: s.waiting }]} />
      <section class="tile" aria-label="People waiting">
        <div class="controls">
          <label>Pathway <select value={pathway} onChange={(e) => setPathway((e.target as HTMLSelectElement).value)}>
            {["all", "P1", "P2", "P3"].map((p) => <option key={p} value={p}>{p}</option>)}
          </select></label>
          <label>Sort <select value={sort} onChange={(e) => setSort((e.target as HTMLSelectElement).value as "days" | "site")}>
            <option value="days">longest waiting first</option><option value="site">by hospital</option>
          </select></label>
        </div>
        <table class="queue pending">
          <thead><tr><th scope="col">Person</th><th scope="col">Hospital</th><th scope="col">Ward</th><th scope="col">Pathway</th>
            <th scope="col">Days since ready</th><th scope="col">Reason</th><th scope="col">Needs</th><th scope="col">Status</th><th scope="col">Suggested homes</th></tr></thead>
          <tbody>
            {people.map((p) => (
              <tr key={p.ref} data-ref={p.ref}>
                <td><Identity person={p} session={session} privacy={privacy} /></td>
                <td>{p.site}</td><td>{p.ward ?? "–"}</td><td>{p.pathway}</td>
                <td class={p.days_since_ready >= 7 ? "warn" : ""}>{p.days_since_ready}</td>
                <td>{p.delay_reason ?? "–"}</td><td>{p.needs_bed_type ? label(p.needs_bed_type) : "–"}</td>
                <td>{session.permissions.update_discharges ? <StatusAction person={p} session={session} /> : label(p.status)}</td>
                <td>{p.matches.length === 0 ? <span class="muted">–</span> : p.matches.slice(0, 2).map((m) => (
                  <div key={m.home}>{m.name} ({m.admittable}){m.stale && <strong class="stale"> stale {age(m.reported_at, now)}</strong>}{m.neighbour && <small class="muted"> neighbouring LA</small>}</div>
                ))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="tile" aria-label="Care-home vacancies">
        <h3>Care-home vacancies (admittable beds)</h3>
        <table class="queue">
          <thead><tr><th scope="col">Home</th><th scope="col">Area</th><th scope="col">Open</th><th scope="col">Vacancies</th><th scope="col">Reported</th></tr></thead>
          <tbody>
            {view.homes.map((h) => (
              <tr key={h.home} data-home={h.home}>
                <td>{h.name}</td><td>{h.local_authority}</td>
                <td>{h.open ? "open" : <strong>closed{h.closure_reason ? `: ${h.closure_reason}` : ""}</strong>}</td>
                <td>{Object.entries(h.admittable).filter(([, n]) => n > 0).map(([t, n]) => `${label(t)} ${n}`).join(" · ") || "none"}</td>
                <td class={h.stale ? "stale" : ""}>{age(h.reported_at, now)} ago{h.stale && " ⚠ stale"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
