// The Django example once in a real browser (headless Chromium, driven by playwright-core from
// tests/browser/node_modules), behind the nginx of scripts/django-e2e.sh:
//
//   node examples/django/e2e_browser.mjs http://127.0.0.1:PORT
//
// Anonymous page -> "Sign in with Microsoft" -> the dev IdP's form (alice) -> back on the Django
// page, which shows the user -> "Sign out" (POST /api/logout) -> anonymous again. Each step prints
// one line; the first failing step exits 1.

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
  console.error('usage: node e2e_browser.mjs http://127.0.0.1:PORT');
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

async function run(context) {
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  const instances = new Set();
  page.on('response', (resp) => {
    const inst = resp.headers()['x-instance'];
    if (inst && new URL(resp.url()).origin === appOrigin) instances.add(inst);
  });

  await step('the Django page is anonymous and offers sign-in', async () => {
    const resp = await page.goto(`${appOrigin}/`);
    check(resp && resp.status() === 200, `GET / answered ${resp?.status()}`);
    check((await page.locator('#who').innerText()).includes('Not signed in'), await describe(page));
    check(await page.locator('#sign-in').count() === 1, `no #sign-in link; ${await describe(page)}`);
  });

  await step('sign-in goes to the dev IdP form', async () => {
    await page.click('#sign-in');
    await waitFor(page, (url) => url.origin !== appOrigin && url.pathname.endsWith('/oauth2/v2.0/authorize'),
      'the dev IdP authorize page');
    check(await page.locator('button[name="user"][value="alice"]').count() === 1,
      `IdP page has no button for alice; ${await describe(page)}`);
  });

  await step('alice signs in and the Django page shows her', async () => {
    await page.click('button[name="user"][value="alice"]');
    await waitFor(page, onApp('/'), `${appOrigin}/`);
    const who = await page.locator('#who').innerText();
    check(who.includes('Alice Example') && who.includes('alice.legacy'), `#who shows ${JSON.stringify(who)}`);
    const cookies = await context.cookies(appOrigin);
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    check(session && session.httpOnly && session.secure && session.sameSite === 'Lax',
      `session cookie: ${JSON.stringify(session && { ...session, value: '<redacted>' })}`);
  });

  await step('reloads across both Django instances still show alice', async () => {
    for (let i = 0; i < 6; i++) {
      await page.reload();
      check((await page.locator('#who').innerText()).includes('alice.legacy'), await describe(page));
    }
    check(instances.has('dj-a') && instances.has('dj-b'), `answered by ${[...instances].join(', ')}`);
  });

  await step('a page that needs sign-in opens without a new sign-in', async () => {
    const resp = await page.goto(`${appOrigin}/private/`);
    check(resp && resp.status() === 200 && page.url() === `${appOrigin}/private/`, await describe(page));
  });

  await step('sign-out (POST /api/logout) returns to an anonymous page', async () => {
    await page.goto(`${appOrigin}/`);
    await page.click('#sign-out');
    await waitFor(page, onApp('/'), `${appOrigin}/ after sign-out`);
    check((await page.locator('#who').innerText()).includes('Not signed in'), await describe(page));
    const cookies = await context.cookies(appOrigin);
    check(!cookies.some((c) => c.name === SESSION_COOKIE), 'the session cookie is still there');
    const resp = await page.goto(`${appOrigin}/private/`);
    await waitFor(page, (url) => url.origin !== appOrigin, 'the IdP (sign-in needed again)');
    check(resp !== null, 'no response');
  });

  await step('bob (app role Admin) signs in from the admin and reaches it', async () => {
    await page.goto(`${appOrigin}/admin/`);
    await waitFor(page, (url) => url.origin !== appOrigin && url.pathname.endsWith('/oauth2/v2.0/authorize'),
      'the dev IdP (the admin sends anonymous users to sign in)');
    await page.click('button[name="user"][value="bob"]');
    await waitFor(page, onApp('/admin/'), `${appOrigin}/admin/`);
    check((await page.locator('body').innerText()).includes('Site administration'), await describe(page));
  });

  await step("the admin's Log out signs out through /api/logout", async () => {
    await page.click('#logout-form button');
    await waitFor(page, onApp('/'), `${appOrigin}/ after the admin's log out`);
    check((await page.locator('#who').innerText()).includes('Not signed in'), await describe(page));
  });
}

const userDataDir = mkdtempSync(join(tmpdir(), 'django-e2e-chromium-'));
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
