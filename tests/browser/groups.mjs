// Real-browser test of groups overage against `entra-sso dev` started with a group rule:
//
//   SSO_ALLOWED_GROUPS=$WANTED SSO_SESSION_GROUPS=$WANTED,$OTHER \
//     cargo run -- dev --port 7071 --idp-port 7072
//   WANTED=… OTHER=… node tests/browser/groups.mjs http://localhost:7071
//
// 1. carol, in 251 groups (her ID token carries the overage marker, no list), signs in: the
//    callback asks the dev IdP's emulated Microsoft Graph and the group rule admits her;
// 2. her session lists only the kept groups she is in, with no overage left, and stays small;
// 3. `/api/auth?group=` admits her for her group and refuses a kept group she is not in;
// 4. bob, in none of the groups, is refused with the policy's error page.
//
// Each step prints one line; the first failing step throws and the script exits 1.

// The Chromium harness the browser drivers share (a new profile, numbered steps, a time limit).
import { check, describe, runInChromium, SESSION_COOKIE, step, waitFor } from '../../examples/django/e2e_chromium.mjs';

const WANTED = process.env.WANTED ?? '';
const OTHER = process.env.OTHER ?? '';
// A session of a user in one group is well under this; 250 group ids would be about 10 KB.
const SMALL_SESSION_BYTES = 1500;

async function status(context, url) {
  const tab = await context.newPage();
  try {
    const resp = await tab.goto(url);
    return { status: resp?.status(), text: resp ? await resp.text() : '' };
  } finally {
    await tab.close();
  }
}

async function signInAs(page, user, onIdp) {
  await waitFor(page, onIdp, 'the dev IdP sign-in page');
  const button = page.locator(`button[name="user"][value="${user}"]`);
  check(await button.count() === 1, `no button for ${user}; ${await describe(page)}`);
  await button.click();
}

async function run({ context, page, appOrigin, onApp, onIdp }) {
  check(/^[0-9a-f-]{36}$/.test(WANTED) && /^[0-9a-f-]{36}$/.test(OTHER), 'WANTED and OTHER must be group ids');
  const callbacks = [];
  context.on('response', (r) => {
    if (new URL(r.url()).pathname === '/api/callback') callbacks.push(r.status());
  });

  await step('carol, in 251 groups, is admitted by the group rule through Graph', async () => {
    await page.goto(`${appOrigin}/api/login?return_to=/`);
    await signInAs(page, 'carol', onIdp);
    await waitFor(page, onApp('/'), `${appOrigin}/`);
    check(callbacks.at(-1) === 302, `the callback answered ${callbacks.at(-1)}`);
    const who = await page.locator('#who').innerText();
    check(who.includes('Carol Example'), `#who shows ${JSON.stringify(who)}`);
  });

  await step('her session keeps only her kept group, overage resolved, and stays small', async () => {
    const me = await status(context, `${appOrigin}/api/me`);
    check(me.status === 200, `/api/me answered ${me.status}`);
    const claims = JSON.parse(me.text);
    check(JSON.stringify(claims.groups) === JSON.stringify([WANTED]), `groups are ${JSON.stringify(claims.groups)}`);
    check(claims.groups_overage === false, `groups_overage is ${claims.groups_overage}`);
    const cookie = (await context.cookies(appOrigin)).find((c) => c.name === SESSION_COOKIE);
    check(cookie && cookie.value.length < SMALL_SESSION_BYTES, `session cookie is ${cookie?.value.length} bytes`);
    console.log(`# carol's session cookie: ${cookie.value.length} bytes`);
  });

  await step('?group= admits her group and refuses a kept group she is not in', async () => {
    const mine = await status(context, `${appOrigin}/api/auth?group=${WANTED}`);
    check(mine.status === 200, `?group=<her group> answered ${mine.status}: ${mine.text.slice(0, 200)}`);
    const other = await status(context, `${appOrigin}/api/auth?group=${OTHER}`);
    check(other.status === 403, `?group=<another group> answered ${other.status}: ${other.text.slice(0, 200)}`);
  });

  await step('bob, in none of the groups, meets the policy error page', async () => {
    await context.clearCookies();
    await page.goto(`${appOrigin}/api/login?return_to=/`);
    await signInAs(page, 'bob', onIdp);
    await waitFor(page, onApp('/api/callback'), 'the callback');
    await page.waitForLoadState('domcontentloaded');
    check(callbacks.at(-1) === 403, `the callback answered ${callbacks.at(-1)}, expected 403`);
    const body = await page.content();
    check(body.includes('access_denied_by_policy'), `no access_denied_by_policy; ${await describe(page)}`);
  });
}

await runInChromium('tests/browser/groups.mjs', 'entra-sso-groups-', run);
