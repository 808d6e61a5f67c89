import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { loadSession, saveSession, type Session } from "./api";
import { BoardClient, type Connection, type ViewState } from "./board";
import { applyChanges, type SystemView } from "./model";
import { ConnectionBadge } from "./views/common";
import { DischargeBoard } from "./views/DischargeBoard";
import { Login } from "./views/Login";
import { SiteBoard } from "./views/SiteBoard";
import { SystemBoard } from "./views/SystemBoard";
import "./styles.css";

function viewFromHash(fallback: string): string {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  return hash || fallback;
}

// Wall mode (?wall=1): large type, no controls, rotating through the role's boards, and privacy
// mode always on (no patient identifier can be revealed on a shared screen).
const WALL = new URLSearchParams(location.search).has("wall");
const ROTATE_MS = Number(new URLSearchParams(location.search).get("rotate") ?? 30) * 1000;

// The role's boards; one who sees the whole system also rotates through every acute site's.
function wallViews(session: Session, system: ViewState | undefined): string[] {
  const sites = system ? Object.keys((system.data as SystemView).summaries ?? {}).sort() : [];
  const boards = session.permissions.boards;
  return boards.includes("system") ? [...boards, ...sites.map((s) => `site:${s}`)] : boards;
}

function boardLabel(view: string): string {
  const [kind, code] = view.split(":");
  return kind === "system" ? "System" : kind === "discharges" ? `Discharges ${code}` : code;
}

function Boards({ session, onLogout }: { session: Session; onLogout: () => void }) {
  const [view, setView] = useState(viewFromHash(session.landingView));
  const [states, setStates] = useState<Record<string, ViewState>>({});
  const systemKnown = Boolean(states["system"]);
  useEffect(() => {
    if (!WALL) return;
    document.documentElement.classList.add("wall");
    const views = wallViews(session, states["system"]);
    if (views.length < 2) return;
    const timer = setInterval(() => {
      const next = views[(views.indexOf(viewFromHash(session.landingView)) + 1) % views.length];
      location.hash = `#/${next}`;
    }, ROTATE_MS);
    return () => clearInterval(timer);
  }, [session, systemKnown]);
  const [connection, setConnection] = useState<Connection>("connecting");
  const client = useMemo(
    () =>
      new BoardClient(
        session.token,
        (name, state) => setStates((all) => ({ ...all, [name]: state })),
        (state) => setConnection(state),
        applyChanges,
      ),
    [session.token],
  );
  useEffect(() => {
    client.connect();
    return () => client.close();
  }, [client]);
  useEffect(() => {
    client.subscribe(view);
    const onHash = () => setView(viewFromHash(session.landingView));
    window.addEventListener("hashchange", onHash);
    return () => {
      window.removeEventListener("hashchange", onHash);
      client.unsubscribe(view);
    };
  }, [client, view]);
  useEffect(() => {
    if (connection === "unauthorized") onLogout();
  }, [connection]);

  const state = states[view];
  const open = (name: string) => (location.hash = `#/${name}`);
  return (
    <div class="app">
      <nav class="topbar" aria-label="Main">
        <span class="brand">Flow Command Centre</span>
        {session.permissions.boards.map((board) => (
          <button key={board} class="link" onClick={() => open(board)}>{boardLabel(board)}</button>
        ))}
        <span class="spacer" />
        <ConnectionBadge state={connection} />
        <span class="muted">{session.principal.name}</span>
        <button class="link" onClick={onLogout}>Sign out</button>
      </nav>
      <main data-view={view}>
        {!state && <p class="loading">Loading {view}…</p>}
        {state && view.startsWith("site:") && <SiteBoard state={state} session={session} />}
        {state && view === "system" && <SystemBoard state={state} session={session} onOpenSite={(code) => open(`site:${code}`)} />}
        {state && view.startsWith("discharges:") && <DischargeBoard state={state} session={session} privacy={WALL} />}
      </main>
    </div>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(loadSession());
  if (!session) {
    return (
      <Login
        onLogin={(s) => {
          saveSession(s);
          location.hash = `#/${s.landingView}`;
          setSession(s);
        }}
      />
    );
  }
  return (
    <Boards
      session={session}
      onLogout={() => {
        saveSession(null);
        if (session.via === "oidc") {
          location.assign("/api/v1/auth/oidc/logout"); // and out at the identity provider
          return;
        }
        location.hash = "";
        setSession(null);
      }}
    />
  );
}

render(<App />, document.getElementById("app")!);
