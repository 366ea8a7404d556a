// The Django example once in a real browser (headless Chromium, driven by playwright-core from
// tests/browser/node_modules), behind the nginx of scripts/django-e2e.sh:
//
//   node examples/django/e2e_browser.mjs http://127.0.0.1:PORT
//
// Anonymous page -> "Sign in with Microsoft" -> the dev IdP's form (alice) -> back on the Django
// page, which shows the user -> "Sign out" (POST /api/logout) -> anonymous again. Each step prints
// one line; the first failing step exits 1.

import { check, checkSessionCookie, describe, runInChromium, SESSION_COOKIE, step, waitFor } from './e2e_chromium.mjs';

async function run({ context, page, appOrigin, onApp, onIdp, instances }) {
  await step('the Django page is anonymous and offers sign-in', async () => {
    const resp = await page.goto(`${appOrigin}/`);
    check(resp && resp.status() === 200, `GET / answered ${resp?.status()}`);
    check((await page.locator('#who').innerText()).includes('Not signed in'), await describe(page));
    check(await page.locator('#sign-in').count() === 1, `no #sign-in link; ${await describe(page)}`);
  });

  await step('sign-in goes to the dev IdP form', async () => {
    await page.click('#sign-in');
    await waitFor(page, onIdp, 'the dev IdP authorize page');
    check(await page.locator('button[name="user"][value="alice"]').count() === 1,
      `IdP page has no button for alice; ${await describe(page)}`);
  });

  await step('alice signs in and the Django page shows her', async () => {
    await page.click('button[name="user"][value="alice"]');
    await waitFor(page, onApp('/'), `${appOrigin}/`);
    const who = await page.locator('#who').innerText();
    check(who.includes('Alice Example') && who.includes('alice.legacy'), `#who shows ${JSON.stringify(who)}`);
    await checkSessionCookie(context, appOrigin);
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
    await waitFor(page, onIdp, 'the dev IdP (the admin sends anonymous users to sign in)');
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

await runInChromium('e2e_browser.mjs', 'django-e2e-chromium-', run);
