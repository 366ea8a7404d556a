// A certified OpenID Provider (panva's oidc-provider) on loopback, for entra-sso's interop tests.
//
//   OP_CLIENT_ID=… OP_CLIENT_SECRET=… OP_REDIRECT_URI=https://app.example.test/api/callback \
//     [OP_POST_LOGOUT_REDIRECT_URI=…] node provider.mjs [port]   (or OP_PORT=…; 0 or none: any free port)
//
// Prints exactly one line `READY <issuer>` on stdout once listening; everything else goes to
// stderr. The issuer is `http://127.0.0.1:<port>`, without a trailing slash.
//
// Sign-in uses oidc-provider's development interactions: GET /interaction/<uid> is a form that
// POSTs `prompt=login&login=<any id>&password=<anything>`, then a consent form POSTing
// `prompt=consent`. Every account id exists ("Interop User <id>", `<id>@interop.example`).
//
// Test-only admin endpoint: `POST /__admin/rotate` (loopback only) replaces the signing key by a
// fresh RSA key with a new `kid`; from then on the JWKS publishes only the new key. It answers
// `{"kid": "<new kid>", "previous": "<old kid>"}`.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

// Keep stdout for the READY line alone, and drop oidc-provider's start-up notices that are
// expected for a test provider (development interactions, in-memory adapter, default TTL and
// page functions, Node 20 being older than its recommended LTS). Anything else stays visible.
const EXPECTED_NOTICES = [
  'development-only',
  'you SHOULD change it',
  'Unsupported runtime',
];
for (const level of ['log', 'info', 'warn']) {
  console[level] = (...args) => {
    const text = args.map(String).join(' ');
    if (!EXPECTED_NOTICES.some((n) => text.includes(n))) {
      process.stderr.write(`${text}\n`);
    }
  };
}

// Imported after console is patched: oidc-provider warns at import time on Node 20.
const { default: Provider } = await import('oidc-provider');

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`provider.mjs: environment variable ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

const clientId = required('OP_CLIENT_ID');
const clientSecret = required('OP_CLIENT_SECRET');
const redirectUri = required('OP_REDIRECT_URI');
const postLogoutRedirectUri = process.env.OP_POST_LOGOUT_REDIRECT_URI || undefined;
const port = Number(process.argv[2] ?? process.env.OP_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`provider.mjs: invalid port ${process.argv[2] ?? process.env.OP_PORT}\n`);
  process.exit(2);
}

// Cookie-signing keys survive key rotation, so a browser mid-way through a sign-in is not broken
// by a rotation of the ID-token signing key.
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

let generation = 0;
function signingKey() {
  generation += 1;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    ...jwk,
    kid: `interop-${generation}-${crypto.randomBytes(6).toString('hex')}`,
    alg: 'RS256',
    use: 'sig',
  };
}

async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        name: `Interop User ${id}`,
        email: `${id}@interop.example`,
        email_verified: true,
        preferred_username: id,
      };
    },
  };
}

function configuration(key) {
  return {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: postLogoutRedirectUri ? [postLogoutRedirectUri] : [],
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: [key] },
    cookies: { keys: cookieKeys },
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // Entra puts the profile and e-mail claims in the ID token, and entra-sso reads them from
    // there (it never calls userinfo). oidc-provider by default returns scope-requested claims
    // only from userinfo when an access token is issued; this puts them in the ID token.
    conformIdTokenClaims: false,
    // PKCE on every authorization request; oidc-provider supports only S256.
    pkce: { required: () => true },
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_post'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: false },
      introspection: { enabled: false },
      revocation: { enabled: false },
      registration: { enabled: false },
      clientCredentials: { enabled: false },
      deviceFlow: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
    },
  };
}

function buildProvider(key) {
  const provider = new Provider(issuer, configuration(key));
  provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider server_error: ${err.stack}\n`));
  return { handler: provider.callback(), kid: key.kid };
}

let issuer;
let current;

function isLoopback(address) {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

function rotate(req, res) {
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  if (!isLoopback(req.socket.remoteAddress)) {
    reply(403, { error: 'loopback only' });
    return;
  }
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    reply(405, { error: 'POST only' });
    return;
  }
  const previous = current.kid;
  // A new Provider instance with only the new key: its JWKS publishes that key alone. The
  // in-memory adapter is module-wide, so sessions, grants and codes carry over.
  current = buildProvider(signingKey());
  process.stderr.write(`provider.mjs: signing key rotated ${previous} -> ${current.kid}\n`);
  reply(200, { kid: current.kid, previous });
}

const server = http.createServer((req, res) => {
  if (req.url === '/__admin/rotate' || req.url.startsWith('/__admin/rotate?')) {
    rotate(req, res);
    return;
  }
  current.handler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  current = buildProvider(signingKey());
  process.stdout.write(`READY ${issuer}\n`);
});

// The test harness kills this process; also stop cleanly on the usual signals.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
