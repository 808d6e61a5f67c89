import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

type Readiness = { status: string; failed: string[]; checks: Record<string, { ok: boolean; latency_ms?: number; error?: string }> };

function Status() {
  const [ready, setReady] = useState<Readiness | null>(null);
  useEffect(() => {
    const load = () => fetch("/readyz").then((r) => r.json()).then(setReady).catch(() => setReady(null));
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);
  return (
    <main>
      <h1>Flow Command Centre</h1>
      <p>Service status: {ready ? ready.status : "unknown"}</p>
      <ul>
        {ready && Object.entries(ready.checks).map(([name, check]) => (
          <li key={name}>{name}: {check.ok ? `ok (${check.latency_ms} ms)` : check.error}</li>
        ))}
      </ul>
    </main>
  );
}

render(<Status />, document.getElementById("app")!);
