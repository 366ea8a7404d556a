// What the two browser drivers here share (e2e_browser.mjs, proxy_e2e_browser.mjs), and
// tests/browser/renewal.mjs with them: headless Chromium driven by playwright-core from
// tests/browser/node_modules, a new profile each run, a hard time limit, numbered steps that print `ok N - …`, failure messages that say where the page
// is. The first failing step ends the run with `FAIL: …` and exit 1.

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
export const SESSION_COOKIE = '__Host-sso-session';

// The app's origin from the command line (http://127.0.0.1:PORT), or a usage line and exit 2;
// onApp(path) and onIdp match the URLs a page waits for.
function appFromArgs(script) {
  const base = URL.canParse(process.argv[2] ?? '') ? new URL(process.argv[2]) : null;
  if (!base || base.protocol !== 'http:') {
    console.error(`usage: node ${script} http://127.0.0.1:PORT`);
    process.exit(2);
  }
  const appOrigin = base.origin;
  return {
    appOrigin,
    onApp: (path) => (url) => url.origin === appOrigin && url.pathname === path,
    onIdp: (url) => url.origin !== appOrigin && url.pathname.endsWith('/oauth2/v2.0/authorize'),
  };
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

let stepNo = 0;
export async function step(name, fn) {
  stepNo += 1;
  try {
    await fn();
  } catch (err) {
    throw new Error(`step ${stepNo} (${name}): ${err.message}`);
  }
  console.log(`ok ${stepNo} - ${name}`);
}

export async function describe(page) {
  let text = '';
  try {
    text = (await page.locator('body').innerText({ timeout: 1000 })).replace(/\s+/g, ' ').slice(0, 300);
  } catch {}
  return `url=${page.url()} body="${text}"`;
}

export async function waitFor(page, predicate, what) {
  try {
    await page.waitForURL(predicate, { timeout: STEP_TIMEOUT_MS });
  } catch {
    throw new Error(`expected to reach ${what}; ${await describe(page)}`);
  }
}

// The Django instances (X-Instance) that answered the page's requests to appOrigin so far.
function instancesSeen(page, appOrigin) {
  const instances = new Set();
  page.on('response', (resp) => {
    const inst = resp.headers()['x-instance'];
    if (inst && new URL(resp.url()).origin === appOrigin) instances.add(inst);
  });
  return instances;
}

// The session cookie is there, HttpOnly, Secure and SameSite=Lax; returns appOrigin's cookies.
export async function checkSessionCookie(context, appOrigin) {
  const cookies = await context.cookies(appOrigin);
  const session = cookies.find((c) => c.name === SESSION_COOKIE);
  check(session && session.httpOnly && session.secure && session.sameSite === 'Lax',
    `session cookie: ${JSON.stringify(session && { ...session, value: '<redacted>' })}`);
  return cookies;
}

// `node SCRIPT http://127.0.0.1:PORT`: runs `run` in headless Chromium with a new, empty profile
// (--user-data-dir, named after profilePrefix) and one page, given { context, page, appOrigin,
// onApp, onIdp, instances }; prints `browser: all N steps passed` and exits 0, or `FAIL: …` and 1.
// It gives up after hardTimeoutMs (90 s unless a script that waits out lifetimes asks for more).
export async function runInChromium(script, profilePrefix, run, hardTimeoutMs = HARD_TIMEOUT_MS) {
  const { appOrigin, onApp, onIdp } = appFromArgs(script);
  const hardTimer = setTimeout(() => {
    console.error(`FAIL: gave up after ${hardTimeoutMs / 1000} s`);
    process.exit(1);
  }, hardTimeoutMs);
  const userDataDir = mkdtempSync(join(tmpdir(), profilePrefix));
  let context;
  let status = 0;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    await run({ context, page, appOrigin, onApp, onIdp, instances: instancesSeen(page, appOrigin) });
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
}
