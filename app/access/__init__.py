"""Access management: signing in (development login, an OpenID provider) and API keys.

Above app.auth (who someone is) and app.audit (what they did), which it records into."""
