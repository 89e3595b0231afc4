// A real authorization server for the interop tests: oidc-provider on 127.0.0.1:<port>.
//
// Usage: node server.mjs <port>
//
// Clients (RFC 6749 §2.3.1, client_secret_basic):
//   orders-daemon  the caller: client credentials grant (RFC 6749 §4.4)
//   orders-api     the resource server: authenticates to the introspection endpoint (RFC 7662)
//   dpop-daemon    a caller whose tokens are always DPoP-bound (RFC 9449 dpop_bound_access_tokens)
// Resources (RFC 8707 resource indicators):
//   https://orders.example/api   RFC 9068 JWT access token, RS256, 5 min
//   https://short.example/api    RFC 9068 JWT access token, ES256, 2 s (the expiry test)
//   https://other.example/api    RFC 9068 JWT access token, RS256 (a different audience)
//   https://opaque.example/api   opaque access token, checked through introspection
//   https://dpop.example/api     RFC 9068 JWT access token, ES256, bound to the caller's DPoP key (cnf.jkt)
// Signing keys are generated at start-up (RSA 2048 and P-256), so tokens are RS256 or ES256.

import { generateKeyPairSync, randomUUID } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const port = Number.parseInt(process.argv[2] ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

function privateJwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`, alg, use: 'sig' };
}

const RESOURCES = {
  'https://orders.example/api': { scope: 'orders.read orders.write', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'RS256' } } },
  'https://short.example/api': { scope: 'orders.read', accessTokenFormat: 'jwt', accessTokenTTL: 2, jwt: { sign: { alg: 'ES256' } } },
  'https://other.example/api': { scope: 'orders.read', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'RS256' } } },
  'https://opaque.example/api': { scope: 'orders.read orders.write', accessTokenFormat: 'opaque', accessTokenTTL: 300 },
  'https://dpop.example/api': { scope: 'orders.read', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'ES256' } } },
};

const configuration = {
  jwks: {
    keys: [
      privateJwk('rsa', { modulusLength: 2048 }, 'RS256'),
      privateJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
    ],
  },
  cookies: { keys: [randomUUID()] },
  clients: [
    {
      client_id: 'orders-daemon',
      client_secret: 'orders-daemon-secret-0123456789abcdef',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'dpop-daemon',
      client_secret: 'dpop-daemon-secret-0123456789abcdef',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      dpop_bound_access_tokens: true,
    },
    {
      client_id: 'orders-api',
      client_secret: 'orders-api-secret-0123456789abcdef',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No resource requested: no default; the client must name one (RFC 8707 §2).
      defaultResource: async () => undefined,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        const info = RESOURCES[resourceIndicator];
        if (!info) throw new errors.InvalidTarget();
        return { audience: resourceIndicator, ...info };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);
const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
