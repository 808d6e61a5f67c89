// A real OpenID provider for the sign-in tests: panva/oidc-provider (OpenID Certified), with its
// development login and consent pages. Authorization code flow with PKCE (S256) required, and
// RP-initiated logout. Accounts carry role, site and local-authority claims the way an NHS
// organisation's provider would (Entra app roles, CIS2 RBAC codes mapped by configuration).
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI.
import crypto from "node:crypto";
import Provider from "oidc-provider";

const env = process.env;
const issuer = `http://127.0.0.1:${env.PORT}`;

// Log in with any password as one of these (or anyone else: an account without a role).
const ACCOUNTS = {
  commander: { name: "Casey Commander", roles: ["FlowCC.Commander"] },
  "ran01.manager": { name: "Sam Site", roles: ["FlowCC.SiteManager"], sites: ["RAN01"] },
  "social.worker": { name: "Alex Social", roles: ["FlowCC.SocialCare"], las: ["E06000901"] },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env.CLIENT_ID,
      client_secret: env.CLIENT_SECRET,
      redirect_uris: [env.REDIRECT_URI],
      post_logout_redirect_uris: [env.POST_LOGOUT_REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  scopes: ["openid", "profile", "flowcc"],
  claims: { openid: ["sub"], profile: ["name"], flowcc: ["roles", "sites", "las"] },
  // The scope's claims in the ID token too (as Entra puts app roles there).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: [crypto.randomBytes(32).toString("hex")] },
  ttl: { AccessToken: 600, IdToken: 600, Session: 3600, Grant: 3600, Interaction: 600 },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id] ?? { name: id, roles: [] };
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: account.name, roles: account.roles, sites: account.sites ?? [], las: account.las ?? [] };
      },
    };
  },
});

provider.listen(Number(env.PORT), "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
