// The Django example behind `entra-sso proxy`, once in a real browser (headless Chromium, driven
// by playwright-core from tests/browser/node_modules), through the nginx of scripts/proxy-e2e.sh:
//
//   node examples/django/proxy_e2e_browser.mjs http://127.0.0.1:PORT
//
// A protected page -> the proxy sends the browser to the dev IdP -> alice -> back on the page,
// signed in (Django in headers mode shows her) -> reloads over both instances, /.auth/me ->
// "Sign out" (POST /.auth/logout) -> the cookie is gone and the page needs sign-in again. Each
// step prints one line; the first failing step exits 1.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(repoRoot, 'tests', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const HARD_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 15_000;
const SESSION_COOKIE = '__Host-sso-session';

const base = URL.canParse(process.argv[2] ?? '') ? new URL(process.argv[2]) : null;
if (!base || base.protocol !== 'http:') {
  console.error('usage: node proxy_e2e_browser.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
const appOrigin = base.origin;

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

const onApp = (path) => (url) => url.origin === appOrigin && url.pathname === path;
const onIdp = (url) => url.origin !== appOrigin && url.pathname.endsWith('/oauth2/v2.0/authorize');

async function run(context) {
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  const instances = new Set();
  page.on('response', (resp) => {
    const inst = resp.headers()['x-instance'];
    if (inst && new URL(resp.url()).origin === appOrigin) instances.add(inst);
  });

  await step('a protected page sends the browser to the dev IdP (through /.auth/login/aad)', async () => {
    const visited = [];
    page.on('request', (req) => { if (req.isNavigationRequest()) visited.push(new URL(req.url()).pathname); });
    await page.goto(`${appOrigin}/private/`);
    await waitFor(page, onIdp, 'the dev IdP authorize page');
    check(visited.includes('/.auth/login/aad'), `navigations: ${visited.join(' -> ')}`);
    check(await page.locator('button[name="user"][value="alice"]').count() === 1,
      `IdP page has no button for alice; ${await describe(page)}`);
  });

  await step('alice signs in and lands back on the page, signed in', async () => {
    await page.click('button[name="user"][value="alice"]');
    await waitFor(page, onApp('/private/'), `${appOrigin}/private/`);
    const who = await page.locator('#who').innerText();
    check(who.includes('Alice Example') && who.includes('alice@dev.example'), `#who shows ${JSON.stringify(who)}`);
    const cookies = await context.cookies(appOrigin);
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    check(session && session.httpOnly && session.secure && session.sameSite === 'Lax',
      `session cookie: ${JSON.stringify(session && { ...session, value: '<redacted>' })}`);
    check(!cookies.some((c) => c.name.startsWith('__Host-sso-flow-')), 'a flow cookie is left');
  });

  await step('reloads across both instances still show alice; /.auth/me names her', async () => {
    for (let i = 0; i < 6; i++) {
      await page.reload();
      check((await page.locator('#who').innerText()).includes('alice@dev.example'), await describe(page));
    }
    check(instances.has('dj-a') && instances.has('dj-b'), `answered by ${[...instances].join(', ')}`);
    const me = await page.evaluate(async () => {
      const r = await fetch('/.auth/me', { headers: { accept: 'application/json' } });
      return { status: r.status, body: await r.json() };
    });
    check(me.status === 200 && me.body[0]?.provider_name === 'aad' && me.body[0]?.user_id === 'alice@dev.example',
      `/.auth/me: ${JSON.stringify(me)}`);
  });

  await step('sign-out (POST /.auth/logout) clears the session; the page needs sign-in again', async () => {
    await page.click('#sign-out');
    await waitFor(page, onIdp, 'the dev IdP (the page is protected, the user signed out)');
    const cookies = await context.cookies(appOrigin);
    check(!cookies.some((c) => c.name === SESSION_COOKIE), 'the session cookie is still there');
    // The page is on the IdP's origin now: ask /.auth/me from a tab of the app's.
    const probe = await context.newPage();
    const resp = await probe.goto(`${appOrigin}/.auth/me`);
    check(resp && resp.status() === 401, `/.auth/me after sign-out answered ${resp?.status()}`);
    await probe.close();
  });
}

const userDataDir = mkdtempSync(join(tmpdir(), 'proxy-e2e-chromium-'));
let context;
let status = 0;
try {
  // A new, empty profile (--user-data-dir) each run.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  await run(context);
  console.log(`browser: all ${stepNo} steps passed`);
} catch (err) {
  console.error(`FAIL: ${err.message}`);
  status = 1;
} finally {
  clearTimeout(hardTimer);
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(status);
