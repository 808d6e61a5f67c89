import { useEffect, useState } from "preact/hooks";
import { demoUsers, devLogin, oidcSession, signInOptions, type Principal, type Session, type SignInOptions } from "../api";

const ROLE_LABEL: Record<string, string> = {
  site_manager: "Site manager",
  social_care: "Social care",
  commander: "System commander",
  integration_read: "Integration (read)",
  integration_ingest: "Integration (ingest)",
  admin: "Administrator",
};

export function Login({ onLogin }: { onLogin: (session: Session) => void }) {
  const [users, setUsers] = useState<Principal[]>([]);
  const [options, setOptions] = useState<SignInOptions | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    oidcSession()
      .then((session) => session && onLogin(session))
      .catch((e: Error) => setError(e.message));
    signInOptions().then((found) => {
      setOptions(found);
      if (found.dev_login) demoUsers().then(setUsers);
    });
  }, []);
  const login = async (username: string) => {
    try {
      onLogin(await devLogin(username));
    } catch (e) {
      setError(String(e));
    }
  };
  return (
    <main class="login">
      <h1>Flow Command Centre</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {options?.oidc && (
        <p>
          <a class="button primary" href="/api/v1/auth/oidc/login" data-sign-in="oidc">
            Sign in with {options.oidc}
          </a>
        </p>
      )}
      {options && !options.oidc && !options.dev_login && (
        <p>No sign-in is configured here: ask your administrator (FLOWCC_OIDC_ISSUER).</p>
      )}
      {users.length > 0 && <p>Development sign-in: choose a demo user.</p>}
      <ul class="users">
        {users.map((user) => (
          <li key={user.subject}>
            <button onClick={() => login(user.subject)} data-user={user.subject}>
              <strong>{user.name}</strong>
              <span class="muted">{ROLE_LABEL[user.role] ?? user.role}</span>
            </button>
          </li>
        ))}
      </ul>
    </main>
  );
}
