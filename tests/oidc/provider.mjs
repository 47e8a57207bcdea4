// A real OpenID Connect provider (panva's oidc-provider) for docchat's single sign-on tests.
// Started by tests/oidc_provider.py on a free port with one client and any user: its development
// login form accepts any name (the account id becomes `sub` and `preferred_username`).
//   PORT           port on 127.0.0.1 (the issuer is http://127.0.0.1:PORT)
//   REDIRECT_URIS  JSON list of the client's redirect URIs
//   JWKS           JSON key set with the private signing keys (the tests sign tokens with them too)
import Provider from "oidc-provider";

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "docchat-test",
      client_secret: "docchat-test-secret",
      redirect_uris: JSON.parse(process.env.REDIRECT_URIS),
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks: JSON.parse(process.env.JWKS),
  pkce: { required: () => true },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "preferred_username"],
    groups: ["groups"],
  },
  conformIdTokenClaims: false, // put the scopes' claims in the ID token, as Entra ID does
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.org`,
          email_verified: true,
          name: `Test ${id}`,
          preferred_username: id,
          groups: id.startsWith("admin") ? ["staff", "docchat-admins"] : ["staff"],
        };
      },
    };
  },
});
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => {
  console.log(`ready ${issuer}`);
});
