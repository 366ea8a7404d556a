// A consumer of entra-sso's session token written with nothing but a stock JWT library (panva's
// `jose`) and the published keys: what an app behind entra-sso does to know who is signed in.
//
// usage:
//   node verify-session.mjs --jwks <jwks URL> --issuer <iss> --audience <aud> <token>
//   node verify-session.mjs --discovery <openid-configuration URL> --audience <aud> <token>
//
// With --discovery the issuer and jwks_uri come from the discovery document, as stock
// middleware configured with an authority or metadata address does. `--typ` additionally
// requires that `typ` header (entra-sso's is `entra-sso-session+jwt`).
//
// Prints one JSON line and exits 0 when the token verifies: {"ok":true,"header":…,"payload":…};
// otherwise exits 1 with {"ok":false,"code":"<jose error code>","message":…}. Exit 2 is a usage
// or discovery error.

import { createRemoteJWKSet, jwtVerify } from 'jose';

function parseArgs(argv) {
  const opts = { token: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else if (opts.token === undefined) {
      opts.token = a;
    } else {
      usage(`unexpected argument ${a}`);
    }
  }
  return opts;
}

function usage(why) {
  process.stderr.write(`verify-session.mjs: ${why}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
if (!opts.token) usage('no token');
if (!opts.audience) usage('--audience is required');

let { jwks, issuer } = opts;
if (opts.discovery) {
  const res = await fetch(opts.discovery);
  if (!res.ok) usage(`discovery answered ${res.status}`);
  const doc = await res.json();
  issuer = doc.issuer;
  jwks = doc.jwks_uri;
}
if (!jwks || !issuer) usage('--jwks and --issuer (or --discovery) are required');

// The default cache and cool-down of createRemoteJWKSet: a token with an unknown `kid` makes it
// fetch the key set again (at most every 30 s), which is how consumers follow key rotation.
const keys = createRemoteJWKSet(new URL(jwks));
try {
  const { payload, protectedHeader } = await jwtVerify(opts.token, keys, {
    issuer,
    audience: opts.audience,
    algorithms: ['ES256'],
    ...(opts.typ ? { typ: opts.typ } : {}),
  });
  process.stdout.write(JSON.stringify({ ok: true, header: protectedHeader, payload, issuer, jwks }) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, code: err.code ?? err.name, message: err.message }) + '\n');
  process.exit(1);
}
