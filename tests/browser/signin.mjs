// Real-browser end-to-end test of the dev sign-in flow.
//
//   node tests/browser/signin.mjs http://localhost:7071
//
// The app must be running as `entra-sso dev` (app on localhost, dev IdP on 127.0.0.1), so the
// redirect to the IdP and back is cross-site, as it is in production. Each step prints one line;
// the first failing step throws and the script exits 1.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HARD_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 10_000;
const SESSION_COOKIE = '__Host-sso-session';
const FLOW_COOKIE_PREFIX = '__Host-sso-flow-';

const base = URL.canParse(process.argv[2] ?? '') ? new URL(process.argv[2]) : null;
if (!base || !/^https?:$/.test(base.protocol) || base.hostname !== 'localhost') {
  console.error('usage: node signin.mjs http://localhost:PORT');
  process.exit(2);
}
const appOrigin = base.origin;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const screenshotPath = join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'browser-signed-in.png');

// Never hang: a stuck browser or server fails the run instead. Playwright kills the browser it
// launched when the process exits.
const hardTimer = setTimeout(() => {
  console.error(`FAIL: gave up after ${HARD_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, HARD_TIMEOUT_MS);

function check(condition, message) {
  if (!condition) throw new Error(message);
}

let stepNo = 0;
async function step(name, fn) {
  stepNo += 1;
  try {
    await fn();
  } catch (err) {
    throw new Error(`step ${stepNo} (${name}): ${err.message}`);
  }
  console.log(`ok ${stepNo} - ${name}`);
}

const onApp = (path) => (url) => url.origin === appOrigin && url.pathname === path;
const onIdp = (url) => url.hostname === '127.0.0.1';

// Where a page is and what it shows, for failure messages.
async function describe(page) {
  let text = '';
  try {
    text = (await page.locator('body').innerText({ timeout: 1000 })).replace(/\s+/g, ' ').slice(0, 300);
  } catch {}
  return `url=${page.url()} body="${text}"`;
}

async function waitFor(page, predicate, what) {
  try {
    await page.waitForURL(predicate, { timeout: STEP_TIMEOUT_MS });
  } catch {
    throw new Error(`expected to reach ${what}; ${await describe(page)}`);
  }
}

// GET a JSON endpoint as a browser tab does, with the context's cookies. Not fetch() from the
// start page: its CSP (default-src 'none') rightly blocks connections from that page.
async function getJson(context, path) {
  const tab = await context.newPage();
  try {
    const resp = await tab.goto(`${appOrigin}${path}`);
    const text = resp ? await resp.text() : '';
    let json = null;
    try { json = JSON.parse(text); } catch {}
    return { status: resp?.status(), text, json };
  } finally {
    await tab.close();
  }
}

async function appCookies(context) {
  return context.cookies(appOrigin);
}

async function assertNoFlowCookies(context) {
  const flows = (await appCookies(context)).filter((c) => c.name.startsWith(FLOW_COOKIE_PREFIX));
  check(flows.length === 0, `flow cookie(s) left behind: ${flows.map((c) => c.name).join(', ')}`);
}

// On the IdP page, pick a user (or cancel) and wait until the app answers.
async function chooseOnIdp(page, name, value) {
  await waitFor(page, onIdp, 'the dev IdP sign-in page on 127.0.0.1');
  const url = new URL(page.url());
  // 127.0.0.1 vs localhost are different sites: this is what makes the return trip cross-site.
  check(url.hostname === '127.0.0.1', `IdP page is on ${url.host}, expected 127.0.0.1`);
  const button = page.locator(`button[name="${name}"][value="${value}"]`);
  check(await button.count() === 1, `IdP page has no button ${name}=${value}; ${await describe(page)}`);
  await button.click();
}

async function run(browser) {
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();

  await step('start page offers sign-in', async () => {
    const resp = await page.goto(`${appOrigin}/`);
    check(resp && resp.status() === 200, `GET / answered ${resp?.status()}`);
    const link = page.locator('#sign-in');
    check(await link.count() === 1, `no #sign-in link; ${await describe(page)}`);
    const href = await link.getAttribute('href');
    check(href === '/api/login?return_to=/', `#sign-in href is ${JSON.stringify(href)}`);
  });

  await step('sign-in redirects cross-site to the dev IdP', async () => {
    await page.click('#sign-in');
    await waitFor(page, onIdp, 'the dev IdP on 127.0.0.1');
    check(await page.locator('form button[name="user"][value="alice"]').count() === 1,
      `IdP page has no form button for alice; ${await describe(page)}`);
  });

  await step('alice signs in and lands on /', async () => {
    await chooseOnIdp(page, 'user', 'alice');
    await waitFor(page, onApp('/'), `${appOrigin}/`);
    const who = page.locator('#who');
    check(await who.count() === 1, `no #who after sign-in; ${await describe(page)}`);
    const text = await who.innerText();
    check(text.includes('Alice Example'), `#who shows ${JSON.stringify(text)}, expected "Alice Example"`);
    try {
      mkdirSync(dirname(screenshotPath), { recursive: true });
      await page.screenshot({ path: screenshotPath, fullPage: true });
    } catch (err) {
      console.log(`# screenshot not saved: ${err.message}`);
    }
  });

  await step('session cookie is HttpOnly, Secure, SameSite=Lax, Path=/; flow cookie cleared', async () => {
    const cookies = await appCookies(context);
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    check(session, `no ${SESSION_COOKIE} cookie; have: ${cookies.map((c) => c.name).join(', ') || 'none'}`);
    check(session.httpOnly === true, 'session cookie is not HttpOnly');
    check(session.secure === true, 'session cookie is not Secure');
    check(session.sameSite === 'Lax', `session cookie SameSite is ${session.sameSite}, expected Lax`);
    check(session.path === '/', `session cookie path is ${session.path}, expected /`);
    await assertNoFlowCookies(context);
  });

  await step('/api/me returns alice', async () => {
    const me = await getJson(context, '/api/me');
    check(me.status === 200, `/api/me answered ${me.status}: ${me.text.slice(0, 200)}`);
    check(me.json?.preferred_username === 'alice@dev.example',
      `preferred_username is ${JSON.stringify(me.json?.preferred_username)}, expected "alice@dev.example"`);
    check(me.json?.name === 'Alice Example', `name is ${JSON.stringify(me.json?.name)}`);
  });

  await step('two tabs sign in as bob in parallel, each back on its own return path', async () => {
    // Both flows are started before either finishes, so each needs its own flow cookie.
    const tabs = [];
    for (const n of [1, 2]) {
      const tab = await context.newPage();
      const returnTo = `/?tab=${n}`;
      await tab.goto(`${appOrigin}/api/login?return_to=${encodeURIComponent(returnTo)}`);
      await waitFor(tab, onIdp, `the dev IdP (tab ${n})`);
      tabs.push({ tab, n, returnTo });
    }
    // Finish the newer flow first: the older one must not have been overwritten by it.
    for (const { tab, n, returnTo } of tabs.reverse()) {
      await chooseOnIdp(tab, 'user', 'bob');
      await waitFor(tab, (u) => u.origin === appOrigin && u.pathname + u.search === returnTo,
        `${appOrigin}${returnTo} (tab ${n})`);
      const text = await tab.locator('#who').innerText().catch(() => '');
      check(text.includes('Bob Example'), `tab ${n}: #who shows ${JSON.stringify(text)}, expected "Bob Example"`);
    }
    const me = await getJson(context, '/api/me');
    check(me.status === 200 && me.json?.name === 'Bob Example',
      `/api/me after bob's sign-in: ${me.status} ${me.text.slice(0, 200)}`);
    check(Array.isArray(me.json?.roles) && me.json.roles.includes('Admin'),
      `bob's roles are ${JSON.stringify(me.json?.roles)}, expected to include "Admin"`);
    await assertNoFlowCookies(context);
    for (const { tab } of tabs) await tab.close();
  });

  await step('a cross-site form POST to logout and a front-channel link sign no one out', async () => {
    // A page on another site, served by interception (no network): it auto-submits a form.
    const evil = await context.newPage();
    await evil.route('http://attacker.example/**', (route) => route.fulfill({
      contentType: 'text/html',
      body: `<form id="f" method="post" action="${appOrigin}/api/logout?return_to=/"></form>` +
        '<script>document.getElementById("f").submit()</script>',
    }));
    await evil.goto('http://attacker.example/');
    await waitFor(evil, onApp('/api/logout'), `${appOrigin}/api/logout from the attacker's form`);
    await evil.waitForLoadState('domcontentloaded');
    const text = await evil.locator('body').innerText();
    check(text.includes('Sign out?'), `cross-site POST was not met with a confirmation page; ${await describe(evil)}`);
    const link = await evil.goto(`${appOrigin}/api/logout/frontchannel`);
    check(link?.status() === 400, `top-level front-channel logout answered ${link?.status()}, expected 400`);
    const me = await getJson(context, '/api/me');
    check(me.status === 200, `/api/me after the cross-site attempts answered ${me.status}: still signed in expected`);
    await evil.close();
  });

  await step('sign-out clears the session', async () => {
    await page.goto(`${appOrigin}/`);
    const form = page.locator('form#sign-out');
    check(await form.count() === 1, `no form#sign-out; ${await describe(page)}`);
    check((await form.getAttribute('method'))?.toLowerCase() === 'post', 'sign-out form is not a POST');
    await form.locator('[type="submit"], button:not([type])').first().click();
    // Either straight back to /, or via the IdP's logout endpoint and then back.
    await waitFor(page, onApp('/'), `${appOrigin}/ after sign-out`);
    const me = await getJson(context, '/api/me');
    check(me.status === 401, `/api/me after sign-out answered ${me.status}, expected 401`);
    check(me.json?.error === 'not_signed_in', `/api/me error is ${JSON.stringify(me.json?.error)}`);
    const session = (await appCookies(context)).find((c) => c.name === SESSION_COOKIE);
    check(!session, 'session cookie still present after sign-out');
    check(await page.locator('#sign-in').count() === 1, `start page does not offer sign-in; ${await describe(page)}`);
  });

  await step('cancel at the IdP ends on an idp_error page', async () => {
    await page.click('#sign-in');
    const callback = page.waitForResponse(
      (r) => r.url().startsWith(`${appOrigin}/api/callback`), { timeout: STEP_TIMEOUT_MS }).catch(() => null);
    await chooseOnIdp(page, 'action', 'cancel');
    const resp = await callback;
    check(resp, `no response from /api/callback; ${await describe(page)}`);
    check(resp.status() === 400, `callback after cancel answered ${resp.status()}, expected 400`);
    await page.waitForLoadState('domcontentloaded');
    const body = await page.content();
    check(body.includes('idp_error'), `error page does not mention idp_error; ${await describe(page)}`);
    check(body.includes('access_denied'), `error page does not mention access_denied; ${await describe(page)}`);
  });

  await context.close();
}

let browser;
let exitCode = 0;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  await run(browser);
  console.log(`browser sign-in: all ${stepNo} steps passed`);
} catch (err) {
  console.error(`FAIL ${err.message}`);
  exitCode = 1;
} finally {
  await browser?.close().catch(() => {});
  clearTimeout(hardTimer);
}
process.exit(exitCode);
