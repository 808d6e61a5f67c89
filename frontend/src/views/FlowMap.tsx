// The economy as a flow: ambulances → ED → wards → ready to leave → out, live counts on each
// node and today's movements on each edge (summed across the acute sites).
import type { SiteSummary } from "../model";

type Node = { id: string; label: string; value: number; x: number; hint: string };

const sum = (summaries: SiteSummary[], pick: (s: SiteSummary) => number | null | undefined) =>
  summaries.reduce((total, s) => total + (pick(s) ?? 0), 0);

export function FlowMap({ summaries }: { summaries: SiteSummary[] }) {
  const pathway = (p: string) => sum(summaries, (s) => s.nctr_by_pathway?.[p]);
  const nodes: Node[] = [
    { id: "en_route", label: "Ambulances en route", value: sum(summaries, (s) => s.en_route), x: 0, hint: "conveying to an ED" },
    { id: "waiting", label: "At ED doors", value: sum(summaries, (s) => s.ambulances_waiting), x: 1, hint: "waiting to hand over" },
    { id: "ed", label: "In ED", value: sum(summaries, (s) => s.ed_in_department), x: 2, hint: `${sum(summaries, (s) => s.dta_waiting)} waiting for a bed` },
    { id: "beds", label: "In G&A beds", value: sum(summaries, (s) => s.occupied), x: 3, hint: "occupied" },
    { id: "nctr", label: "Ready to leave", value: sum(summaries, (s) => s.nctr), x: 4, hint: `P1 ${pathway("P1")} · P2 ${pathway("P2")} · P3 ${pathway("P3")}` },
  ];
  const edges = [
    { from: 0, to: 1, label: "", value: null },
    { from: 1, to: 2, label: "handed over today", value: sum(summaries, (s) => s.handovers_today) },
    { from: 2, to: 3, label: "left ED today", value: sum(summaries, (s) => s.ed_departed_today) },
    { from: 3, to: 4, label: "", value: null },
  ];
  const width = 180;
  const gap = 40;
  return (
    <section class="tile flow-map" aria-label="Flow map of the economy" data-testid="flow-map">
      <h3>Flow through the system</h3>
      <svg viewBox={`0 0 ${6 * width + 5 * gap + 10} 150`} role="img" aria-label="Flow map">
        {edges.map((e) => {
          const x1 = e.from * (width + gap) + width;
          const x2 = e.to * (width + gap);
          return (
            <g key={`${e.from}-${e.to}`}>
              <line x1={x1} y1={55} x2={x2 - 6} y2={55} stroke="#9fb0c0" stroke-width={3} marker-end="url(#arrow)" />
              {e.value !== null && (
                <text x={(x1 + x2) / 2} y={120} text-anchor="middle" class="edge">
                  {e.value} {e.label}
                </text>
              )}
            </g>
          );
        })}
        {nodes.map((n) => (
          <g key={n.id} transform={`translate(${n.x * (width + gap)}, 10)`} data-node={n.id}>
            <rect width={width} height={90} rx={8} class="node" />
            <text x={width / 2} y={40} text-anchor="middle" class="node-value">{n.value}</text>
            <text x={width / 2} y={62} text-anchor="middle" class="node-label">{n.label}</text>
            <text x={width / 2} y={80} text-anchor="middle" class="node-hint">{n.hint}</text>
          </g>
        ))}
        <g transform={`translate(${5 * (width + gap)}, 10)`} data-node="out">
          <rect width={180} height={90} rx={8} class="node out" />
          <text x={90} y={40} text-anchor="middle" class="node-value">{sum(summaries, (s) => s.discharged_today)}</text>
          <text x={90} y={62} text-anchor="middle" class="node-label">Discharged today</text>
          <text x={90} y={80} text-anchor="middle" class="node-hint">home, community, care homes</text>
        </g>
        <line x1={5 * width + 4 * gap} y1={55} x2={5 * (width + gap) - 6} y2={55} stroke="#9fb0c0" stroke-width={3} marker-end="url(#arrow)" />
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#9fb0c0" />
          </marker>
        </defs>
      </svg>
    </section>
  );
}
