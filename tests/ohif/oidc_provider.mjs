// A real OpenID Connect provider on loopback for the viewer's sign-in test: npm
// `oidc-provider` (certified OpenID Provider), with its own login and consent pages
// (`devInteractions`, which take any login name and password) and JWT access tokens
// for one resource server, the edge (RFC 8707 resource indicators, RFC 9068 tokens).
//
// Usage: node oidc_provider.mjs CLIENT_ID AUDIENCE SCOPE
// Prints one JSON line, {issuer, jwks_uri}, once it listens; logs each request's method and
// path (never a query) on stderr. It serves until stdin closes.
//
// The viewer is registered as a native client with the loopback redirect URI
// http://127.0.0.1/callback: RFC 8252 §7.3 has the provider accept it on any port, so the
// test can start the edge after the provider, on a port of its choosing.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import Provider, { errors } from 'oidc-provider';

const [clientId, audience, scope] = process.argv.slice(2);

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-1', alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise(r => server.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${server.address().port}`;

const loopback = origin => {
  try {
    const u = new URL(origin);
    return u.protocol === 'http:' && u.hostname === '127.0.0.1';
  } catch {
    return false;
  }
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/signed-out'],
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['test-only-cookie-key'] },
  // The viewer's origin, on whatever port the edge took, may call the token endpoint.
  clientBasedCORS: (_ctx, origin) => loopback(origin),
  scopes: ['openid', ...scope.split(' ').filter(s => s !== 'openid')],
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every authorization is for the edge, without the client naming it.
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== audience) throw new errors.InvalidTarget();
        return {
          audience,
          scope: scope.split(' ').filter(s => s !== 'openid').join(' '),
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  process.stderr.write(`${ctx.method} ${ctx.path}\n`);
  await next();
});

server.on('request', provider.callback());
console.log(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
