// Real-browser test of silent renewal against `entra-sso dev` started with
// SSO_SESSION_TTL=30s (and SSO_SESSION_MAX_AGE=10m):
//
//   SSO_SESSION_TTL=30s SSO_SESSION_MAX_AGE=10m cargo run -- dev --port 7071 --idp-port 7072
//   node tests/browser/renewal.mjs http://localhost:7071
//
// 1. alice signs in (the one page this test expects to see);
// 2. three times in a row, once her session is in its early window, a navigation to / renews it
//    through prompt=none with no page rendered: each new session cookie has a later exp and the
//    same auth_time;
// 3. without the dev IdP's own session (its cookie cleared), the renewal URL falls back to the
//    sign-in page, never an error page;
// 4. disabled at the dev IdP, alice's next renewal lands on the sign-in page, her sign-in fails
//    there (AADSTS50057), and she is out within one renewal lifetime of being disabled.
//
// Each step prints one line; the first failing step throws and the script exits 1.

// The Chromium harness the browser drivers share (a new profile, numbered steps, a time limit).
import { check, describe, runInChromium, SESSION_COOKIE, step, waitFor } from '../../examples/django/e2e_chromium.mjs';

const HARD_TIMEOUT_MS = 150_000;
const TTL = 30;
// The early window of a 30 s lifetime is 7 s (a quarter): navigate 6 s before exp.
const NAVIGATE_BEFORE_EXP = 6;

const onIdp = (url) => url.hostname === '127.0.0.1';
const isAuthorize = (url) => onIdp(url) && url.pathname.endsWith('/oauth2/v2.0/authorize');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowSecs = () => Math.floor(Date.now() / 1000);

// The claims of the session cookie, read without verifying (the app verifies).
async function session(context, appOrigin) {
  const cookie = (await context.cookies(appOrigin)).find((c) => c.name === SESSION_COOKIE);
  check(cookie, `no ${SESSION_COOKIE} cookie`);
  const payload = cookie.value.split('.')[1];
  return { token: cookie.value, claims: JSON.parse(Buffer.from(payload, 'base64url').toString()) };
}

// /api/me's status, asked by a tab as a browser asks (the dev page's CSP forbids fetch()).
async function meStatus(context, appOrigin) {
  const tab = await context.newPage();
  try {
    return (await tab.goto(`${appOrigin}/api/me`))?.status();
  } finally {
    await tab.close();
  }
}

// Sleeps until `exp - NAVIGATE_BEFORE_EXP`: inside the early window, before expiry.
async function untilDue(claims) {
  const wait = (claims.exp - NAVIGATE_BEFORE_EXP - nowSecs()) * 1000;
  if (wait > 0) await sleep(wait);
}

async function chooseAlice(page) {
  await waitFor(page, onIdp, 'the dev IdP sign-in page on 127.0.0.1');
  const button = page.locator('button[name="user"][value="alice"]');
  check(await button.count() === 1, `no button for alice; ${await describe(page)}`);
  await button.click();
}

async function run({ context, page, appOrigin, onApp }) {
  // Every dev IdP page that rendered (a 200 navigation to the authorize endpoint), and every
  // silent authorize request: a renewal must show none of the first and make one of the second.
  const pagesShown = [];
  const silentRequests = [];
  const callbacks = [];
  context.on('response', (r) => {
    const url = new URL(r.url());
    if (isAuthorize(url) && r.request().isNavigationRequest() && r.status() === 200) pagesShown.push(r.url());
    if (url.origin === appOrigin && url.pathname === '/api/callback') {
      callbacks.push({ status: r.status(), location: r.headers().location ?? '' });
    }
  });
  context.on('request', (r) => {
    const url = new URL(r.url());
    if (isAuthorize(url) && url.searchParams.get('prompt') === 'none') silentRequests.push(r.url());
  });
  const framesOnIdp = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame() && onIdp(new URL(frame.url()))) framesOnIdp.push(frame.url());
  });

  let idp = null;
  let first = null;

  await step('alice signs in interactively', async () => {
    await page.goto(`${appOrigin}/`);
    await page.click('#sign-in');
    await waitFor(page, onIdp, 'the dev IdP');
    const at = new URL(page.url());
    idp = { origin: at.origin, tenant: at.pathname.split('/')[1] };
    await chooseAlice(page);
    await waitFor(page, onApp('/'), `${appOrigin}/`);
    check((await page.locator('#who').innerText()).includes('Alice Example'), `not signed in; ${await describe(page)}`);
    first = (await session(context, appOrigin)).claims;
    check(first.exp - first.iat === TTL, `session lifetime is ${first.exp - first.iat} s, expected ${TTL} s`);
    check(first.auth_time === first.iat, `auth_time ${first.auth_time} is not the sign-in's iat ${first.iat}`);
  });

  let previous = first;
  for (const n of [1, 2, 3]) {
    await step(`renewal ${n}: a navigation in the early window renews without any page`, async () => {
      await untilDue(previous);
      const shown = pagesShown.length;
      const frames = framesOnIdp.length;
      const silent = silentRequests.length;
      const resp = await page.goto(`${appOrigin}/`);
      await waitFor(page, onApp('/'), `${appOrigin}/ after the renewal`);
      check(resp?.status() === 200, `/ answered ${resp?.status()} at the end of the renewal`);
      check(silentRequests.length === silent + 1, `${silentRequests.length - silent} prompt=none requests, expected 1`);
      check(pagesShown.length === shown, `the dev IdP rendered a page: ${pagesShown.slice(shown).join(', ')}`);
      check(framesOnIdp.length === frames, `the tab committed a navigation on the IdP: ${framesOnIdp.slice(frames).join(', ')}`);
      check((await page.locator('#who').innerText()).includes('Alice Example'), `not alice; ${await describe(page)}`);
      const now = (await session(context, appOrigin)).claims;
      check(now.exp > previous.exp, `renewed exp ${now.exp} is not later than ${previous.exp}`);
      check(now.auth_time === first.auth_time, `auth_time ${now.auth_time} changed from ${first.auth_time}`);
      check(now.iat >= previous.exp - NAVIGATE_BEFORE_EXP - 1, `iat ${now.iat}: not a fresh session`);
      previous = now;
    });
  }

  await step('without the dev IdP session, the renewal URL falls back to the sign-in page', async () => {
    await context.clearCookies({ domain: '127.0.0.1' });
    const seen = callbacks.length;
    await page.goto(`${appOrigin}/api/login?return_to=%2F&prompt=none&login_hint=dev-hint-alice`);
    await waitFor(page, (u) => isAuthorize(u) && !u.searchParams.has('prompt'), 'the interactive sign-in page');
    const cb = callbacks[seen];
    check(cb && cb.status === 302 && cb.location.startsWith('/api/login?return_to='),
      `the callback answered ${JSON.stringify(cb)}, expected a 302 to the interactive sign-in`);
    check(await page.locator('button[name="user"][value="alice"]').count() === 1, `no sign-in page; ${await describe(page)}`);
    await chooseAlice(page);
    await waitFor(page, onApp('/'), `${appOrigin}/ after signing in again`);
    previous = (await session(context, appOrigin)).claims;
  });

  await step('disabled at the IdP, alice is out within one renewal lifetime', async () => {
    const disabledAt = nowSecs();
    const r = await fetch(`${idp.origin}/${idp.tenant}/dev/users/alice/disabled`, { method: 'POST', body: 'true' });
    check(r.status === 200, `disabling alice answered ${r.status}`);
    await untilDue(previous);
    const seen = callbacks.length;
    await page.goto(`${appOrigin}/`);
    await waitFor(page, (u) => isAuthorize(u) && !u.searchParams.has('prompt'), 'the sign-in page after the failed renewal');
    const cb = callbacks[seen];
    check(cb && cb.status === 302, `the failed renewal's callback answered ${JSON.stringify(cb)}, expected 302`);
    await chooseAlice(page);
    await page.waitForLoadState('domcontentloaded');
    const text = await page.locator('body').innerText();
    check(onIdp(new URL(page.url())) && text.includes('AADSTS50057'), `a disabled alice signed in? ${await describe(page)}`);
    const wait = (previous.exp + 1 - nowSecs()) * 1000;
    if (wait > 0) await sleep(wait);
    const me = await meStatus(context, appOrigin);
    check(me === 401, `/api/me answered ${me} after her session's exp`);
    const out = nowSecs() - disabledAt;
    check(out <= TTL + 2, `out ${out} s after being disabled, more than one renewal lifetime (${TTL} s)`);
    console.log(`# alice was out ${out} s after being disabled (renewal lifetime ${TTL} s)`);
  });

}

await runInChromium('tests/browser/renewal.mjs', 'entra-sso-renewal-', run, HARD_TIMEOUT_MS);
