import { expect, test } from '@playwright/test';
import { assertLayout, DESKTOP, expectClearOfHeader, mailedLink, PHONE, signUp, unique, waitForIslands } from './helpers';

for (const js of [true, false]) {
  test.describe(`accounts, JavaScript ${js ? 'on' : 'off'}`, () => {
    test.use({ javaScriptEnabled: js });

    test('sign up, log out, log in, see your name', async ({ page }) => {
      const id = unique();
      const who = { name: `Pat ${id}`, handle: `pat_${id}`.slice(0, 30), email: `pat.${id}@example.com`, password: 'a good long password' };
      await signUp(page, js, who);
      await expect(page.getByRole('heading', { level: 1 })).toContainText(who.name);

      await page.getByRole('button', { name: 'Log out' }).click();
      await expect(page).toHaveURL(/\/$/);
      const nav = page.getByRole('navigation', { name: 'Account' });
      await expect(nav.getByRole('link', { name: 'Log in' })).toBeVisible();

      await nav.getByRole('link', { name: 'Log in' }).click();
      await waitForIslands(page, js);
      await page.getByLabel('Email', { exact: true }).fill(who.email);
      await page.getByLabel('Password', { exact: true }).fill(who.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect(page).toHaveURL(/\/dashboard$/);
      await expect(page.getByRole('heading', { level: 1 })).toContainText(who.name);
      await expect(page.locator('.site-header .who')).toHaveText(who.name);
    });

    test('a wrong password shows an error next to the field', async ({ page }) => {
      await page.goto('/login');
      await waitForIslands(page, js);
      await page.getByLabel('Email', { exact: true }).fill(`nobody.${unique()}@example.com`);
      await page.getByLabel('Password', { exact: true }).fill('not the password');
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect(page.locator('.field-error').filter({ hasText: "don't match an account" })).toBeVisible();
      if (js) {
        // The island handled it in place: no reload, no error in the URL.
        expect(page.url()).not.toContain('__err');
      } else {
        expect(page.url()).toContain('__err');
      }
    });
  });
}

test.describe('forgotten password', () => {
  for (const [label, device] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    test(`a reset link by email sets a new password once (${label})`, async ({ browser }) => {
      const context = await browser.newContext(device);
      const page = await context.newPage();
      const id = unique();
      const who = { name: `Rae ${id}`, handle: `rae_${id}`.slice(0, 30), email: `rae.${id}@example.com`, password: 'the first long password' };
      await signUp(page, true, who);
      await page.getByRole('button', { name: 'Log out' }).click();

      // From the login page, the way someone who forgot would go.
      await page.goto('/login');
      await page.getByRole('link', { name: 'Forgot your password?' }).click();
      await expect(page).toHaveURL(/\/password\/forgot$/);
      await assertLayout(page, `password-forgot-${label}`, [page.getByRole('button', { name: 'Email me a reset link' })]);
      await page.getByLabel('Email', { exact: true }).fill(who.email);
      await page.getByRole('button', { name: 'Email me a reset link' }).click();
      await expect(page.getByRole('status')).toContainText('a reset link is on its way');

      const link = await mailedLink(page, who.email, 'Reset your Clink password', '/password/reset/');
      await page.goto(link);
      await assertLayout(page, `password-reset-${label}`, [page.getByRole('button', { name: 'Save and log in' })]);
      await page.getByLabel('New password').fill('the second long password');
      await page.getByRole('button', { name: 'Save and log in' }).click();
      await expect(page).toHaveURL(/\/dashboard/);
      await expect(page.getByRole('heading', { level: 1 })).toContainText(who.name);

      // The same link again: a clear error, and a way to get a new one.
      await page.goto(link);
      await page.getByLabel('New password').fill('a third long password');
      await page.getByRole('button', { name: 'Save and log in' }).click();
      // Refused on the same page, with the reason and the way out (a plain form post: the page
      // sends its address to its own site only, so the error comes back to it).
      await expect(page).toHaveURL(/\/password\/reset\//);
      await expect(page.getByRole('alert').filter({ hasText: 'expired or was already used' })).toBeVisible();
      await expect(page.getByRole('link', { name: 'Get a new one' })).toBeVisible();
      await assertLayout(page, `password-reset-refused-${label}`, [page.getByRole('link', { name: 'Get a new one' })]);
      await context.close();
    });
  }
});

test.describe('signed-in devices', () => {
  for (const [label, device] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    test(`Settings lists your devices and signs out the others (${label})`, async ({ browser }) => {
      const context = await browser.newContext(device);
      const page = await context.newPage();
      const id = unique();
      const who = { name: `Dee ${id}`, handle: `dee_${id}`.slice(0, 30), email: `dee.${id}@example.com`, password: 'a long device password' };
      await signUp(page, true, who);
      await page.goto('/settings#devices');
      const devices = page.getByRole('region', { name: 'Signed-in devices' });
      await expect(devices.locator('li.device')).toHaveCount(1);
      await expect(devices.getByText('This device', { exact: true })).toBeVisible();
      await expect(devices).toContainText("You're signed in on this device only.");

      // The same account signed in on another computer.
      const elsewhere = await browser.newContext(DESKTOP);
      const other = await elsewhere.newPage();
      await other.goto('/login');
      await waitForIslands(other, true);
      await other.getByLabel('Email', { exact: true }).fill(who.email);
      await other.getByLabel('Password', { exact: true }).fill(who.password);
      await other.getByRole('button', { name: 'Log in' }).click();
      await expect(other).toHaveURL(/\/dashboard$/);

      await page.reload();
      await expect(devices.locator('li.device')).toHaveCount(2);
      await expect(devices.locator('li.device').first()).toContainText('This device');
      const signOut = devices.getByRole('button', { name: 'Sign out of 1 other device' });
      await signOut.scrollIntoViewIfNeeded();
      await assertLayout(page, `settings-devices-${label}`, [signOut]);
      await signOut.click();
      await expect(devices.getByRole('status')).toHaveText('Signed out of your other devices.');
      await expect(devices.locator('li.device')).toHaveCount(1);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Settings');

      // The other computer is signed out at its next request.
      await other.goto('/dashboard');
      await expect(other.getByRole('heading', { name: 'Please log in' })).toBeVisible();
      await elsewhere.close();
      await context.close();
    });
  }
});

test.describe('changing your email, handle and time zone', () => {
  for (const [label, device] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    test(`each is a small form in Settings, with its old links kept (${label})`, async ({ browser }) => {
      const context = await browser.newContext(device);
      const page = await context.newPage();
      const id = unique();
      const who = { name: `Cy ${id}`, handle: `cy_${id}`.slice(0, 30), email: `cy.${id}@example.com`, password: 'a long settings password' };
      await signUp(page, true, who);

      // Email: the new address proves itself; nothing changes before.
      await page.goto('/settings#email');
      const email = page.getByRole('region', { name: 'Email' });
      await expect(email).toContainText(who.email);
      const newEmail = `cy.new.${id}@example.com`;
      await email.getByLabel('New email').fill(newEmail);
      await email.getByLabel('Current password').fill(who.password);
      await email.getByRole('button', { name: 'Send confirmation link' }).click();
      await expect(email.getByRole('status')).toContainText('Check your new inbox');
      await assertLayout(page, `settings-email-sent-${label}`, []);
      const link = await mailedLink(page, newEmail, 'Confirm your email for Clink', '/settings/email/confirm/');
      await page.goto(link);
      await expect(email.getByRole('status')).toContainText('Your email is changed');
      await expect(email).toContainText(newEmail);

      // Handle: old links move to the new one.
      const profile = page.getByRole('region', { name: 'Your profile' });
      const newHandle = `cz_${id}`.slice(0, 30);
      await profile.getByLabel('Handle').fill(newHandle);
      await profile.getByRole('button', { name: 'Change handle' }).click();
      await expect(profile.getByRole('status')).toContainText('Handle changed');
      await page.goto(`/@${who.handle}`);
      await expect(page).toHaveURL(new RegExp(`/@${newHandle}$`));
      await expect(page.getByRole('heading', { level: 1 })).toHaveText(who.name);

      // Time zone: picked from the list.
      await page.goto('/settings#integrations');
      const zone = page.getByRole('region', { name: 'Dashboard and sale webhooks' });
      await expectClearOfHeader(page, zone.getByRole('heading', { name: 'Dashboard and sale webhooks' }), 'the section heading');
      await expect(zone.locator('datalist option[value="Europe/Paris"]')).toHaveCount(1);
      await zone.getByLabel('Time zone').fill('Europe/Paris');
      // The number format: the browser's language unless chosen.
      await expect(zone.getByLabel('Number format')).toHaveValue('');
      await zone.getByLabel('Number format').selectOption({ label: '1.234,56' });
      await zone.getByRole('button', { name: 'Save' }).click();
      await expect(zone.getByRole('status')).toHaveText('Saved.');
      await expect(zone.getByLabel('Time zone')).toHaveValue('Europe/Paris');
      await expect(zone.getByLabel('Number format')).toHaveValue('de');
      await assertLayout(page, `settings-zone-${label}`, []);

      // Payouts: a typo in the IBAN is caught and nothing is saved; a good one is held 72 hours.
      await page.goto('/settings#payouts');
      const payouts = page.getByRole('region', { name: 'Payouts' });
      await expect(payouts).toContainText('Add where to send your money');
      await payouts.getByLabel('IBAN', { exact: true }).fill('DE88 3704 0044 0532 0130 00');
      await payouts.getByLabel('Account holder').fill(who.name);
      await payouts.getByLabel('Current password').fill(who.password);
      await payouts.getByRole('button', { name: 'Save payout destination' }).click();
      await expect(payouts.getByText(/has a typo/)).toBeVisible();
      await expect(payouts).toContainText('Add where to send your money');
      await payouts.getByLabel('IBAN', { exact: true }).fill('DE89 3704 0044 0532 0130 00');
      await payouts.getByLabel('Account holder').fill(who.name);
      await payouts.getByLabel('Current password').fill(who.password);
      await payouts.getByRole('button', { name: 'Save payout destination' }).click();
      await expect(payouts.locator('.payout-destination')).toHaveText(`IBAN DE89 •••• 3000 · ${who.name}`);
      await expect(payouts.getByRole('status').first()).toContainText('We emailed you');
      await expect(payouts).toContainText('72 hours after it was set');
      await assertLayout(page, `settings-payouts-${label}`, []);
      await context.close();
    });
  }
});

test.describe('deleting your account', () => {
  for (const [label, device] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    test(`Settings says what goes and what stays, asks for the password, then signs you out for good (${label})`, async ({ browser }) => {
      const context = await browser.newContext(device);
      const page = await context.newPage();
      const id = unique();
      const who = { name: `Del ${id}`, handle: `del_${id}`.slice(0, 30), email: `del.${id}@example.com`, password: 'a long leaving password' };
      await signUp(page, true, who);

      await page.goto('/settings#delete');
      const section = page.getByRole('region', { name: 'Delete account' });
      await expectClearOfHeader(page, section.getByRole('heading', { name: 'Delete account' }), 'the section heading');
      await expect(section).toContainText('append-only accounting records');
      await expect(section).toContainText('buyers keep their download links until they expire, 30 days at most');
      // On a phone the section runs past the first screen: scrolled to, the button is in sight
      // (centred, as a reader scrolling to it would have it, rather than on the screen's last
      // pixel row).
      await section.getByRole('button', { name: 'Delete my account' }).evaluate((el) => el.scrollIntoView({ block: 'center' }));
      await assertLayout(page, `settings-delete-${label}`, [section.getByRole('button', { name: 'Delete my account' })]);

      // A wrong password: said next to the field, and nothing happens.
      await section.getByLabel('Current password').fill('not my password');
      await section.getByRole('button', { name: 'Delete my account' }).click();
      await expect(section.locator('.field-error').filter({ hasText: "isn't your current password" })).toBeVisible();
      await expect(page).toHaveURL(/\/settings/);

      await section.getByLabel('Current password').fill(who.password);
      await section.getByRole('button', { name: 'Delete my account' }).click();
      await expect(page).toHaveURL(/\/account-deleted$/);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Your account is deleted');
      await assertLayout(page, `account-deleted-${label}`, [page.getByRole('link', { name: 'Back to Clink' })]);

      // Signed out, the profile gone, the password no longer signs in.
      const nav = page.getByRole('navigation', { name: 'Account' });
      await expect(nav.getByRole('link', { name: 'Log in' })).toBeVisible();
      expect((await page.goto(`/@${who.handle}`))?.status()).toBe(404);
      await page.goto('/login');
      await page.getByLabel('Email', { exact: true }).fill(who.email);
      await page.getByLabel('Password', { exact: true }).fill(who.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect(page.locator('.field-error').filter({ hasText: "don't match an account" })).toBeVisible();
      await context.close();
    });
  }
});
