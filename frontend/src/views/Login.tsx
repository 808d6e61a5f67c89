import { useEffect, useState } from "preact/hooks";
import { demoUsers, devLogin, type Principal, type Session } from "../api";

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
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    demoUsers().then(setUsers);
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
      <p>Development sign-in: choose a demo user. In production, sign in with your organisation's account.</p>
      {error && <p class="error" role="alert">{error}</p>}
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
