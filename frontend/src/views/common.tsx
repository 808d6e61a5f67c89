import { useEffect, useState } from "preact/hooks";
import type { Connection } from "../board";

export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

const STALE_AFTER_MS = 60_000;

export function Freshness({ updatedAt }: { updatedAt: number }) {
  const now = useNow();
  const age = Math.max(0, Math.round((now - updatedAt) / 1000));
  const stale = now - updatedAt > STALE_AFTER_MS;
  return (
    <span class={stale ? "age stale" : "age"} title="Time since this tile last changed">
      {stale ? "⚠ " : ""}updated {age < 60 ? `${age}s` : `${Math.round(age / 60)} min`} ago
    </span>
  );
}

export function ConnectionBadge({ state }: { state: Connection }) {
  const label = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", unauthorized: "Signed out" }[state];
  return <span class={`conn conn-${state}`} role="status" aria-live="polite">● {label}</span>;
}

export function Stat({ label, value, hint }: { label: string; value: string | number; hint?: string }) {
  return (
    <div class="stat" title={hint}>
      <div class="stat-value">{value}</div>
      <div class="stat-label">{label}</div>
    </div>
  );
}
