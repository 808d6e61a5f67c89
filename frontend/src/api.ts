// REST helpers: development login and authenticated JSON.

export type Principal = {
  subject: string;
  name: string;
  role: string;
  sites: string[];
  local_authorities: string[];
};

export type Session = { token: string; principal: Principal; landingView: string };

export async function demoUsers(): Promise<Principal[]> {
  const response = await fetch("/api/v1/auth/demo-users");
  return response.ok ? response.json() : [];
}

export async function devLogin(username: string): Promise<Session> {
  const response = await fetch("/api/v1/auth/dev-login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username }),
  });
  if (!response.ok) throw new Error((await response.json()).error?.message ?? "login failed");
  const body = await response.json();
  return { token: body.access_token, principal: body.principal, landingView: body.landing_view };
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem("flowcc.session", JSON.stringify(session));
  else sessionStorage.removeItem("flowcc.session");
}

export function loadSession(): Session | null {
  const raw = sessionStorage.getItem("flowcc.session");
  return raw ? (JSON.parse(raw) as Session) : null;
}

export async function postJson(token: string, path: string, body: unknown): Promise<any> {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(payload.error?.message ?? `${response.status} ${response.statusText}`);
  return payload;
}

export async function getJson(token: string, path: string): Promise<any> {
  const response = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(payload.error?.message ?? `${response.status} ${response.statusText}`);
  return payload;
}
