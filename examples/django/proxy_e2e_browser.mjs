// The Django example behind `entra-sso proxy`, once in a real browser (headless Chromium, driven
// by playwright-core from tests/browser/node_modules), through the nginx of scripts/proxy-e2e.sh:
//
//   node examples/django/proxy_e2e_browser.mjs http://127.0.0.1:PORT
//
// A protected page -> the proxy sends the browser to the dev IdP -> alice -> back on the page,
// signed in (Django in headers mode shows her) -> reloads over both instances, /.auth/me ->
// "Sign out" (POST /.auth/logout) -> the cookie is gone and the page needs sign-in again. Each
// step prints one line; the first failing step exits 1.

import { check, checkSessionCookie, describe, runInChromium, SESSION_COOKIE, step, waitFor } from './e2e_chromium.mjs';

async function run({ context, page, appOrigin, onApp, onIdp, instances }) {
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
    const cookies = await checkSessionCookie(context, appOrigin);
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

await runInChromium('proxy_e2e_browser.mjs', 'proxy-e2e-chromium-', run);
