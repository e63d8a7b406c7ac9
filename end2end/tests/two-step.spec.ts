import { createHmac } from 'node:crypto';
import { expect, test } from '@playwright/test';
import { assertLayout, DESKTOP, PHONE, signUp, unique, waitForIslands } from './helpers';

/** RFC 4648 base32, as an authenticator app reads a typed key (spaces ignored). */
function base32(key: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of key.replace(/\s/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code an authenticator app holding `key` shows `offset` seconds from now (RFC 6238). */
function totp(key: string, offset = 0): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor((Date.now() / 1000 + offset) / 30)));
  const mac = createHmac('sha1', base32(key)).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return ((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).toString().padStart(6, '0');
}

test.describe('two-step sign-in', () => {
  for (const [label, device] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    test(`turned on from Settings, then asked for at login (${label})`, async ({ browser }) => {
      const context = await browser.newContext(device);
      const page = await context.newPage();
      const id = unique();
      const who = { name: `Tia ${id}`, handle: `tia_${id}`.slice(0, 30), email: `tia.${id}@example.com`, password: 'a long two-step password' };
      await signUp(page, true, who);

      await page.goto('/settings#two-step');
      const section = page.getByRole('region', { name: 'Two-step sign-in' });
      await expect(section).toContainText('Needed before your first payout.');
      await section.getByRole('button', { name: 'Set up two-step sign-in' }).click();

      // Scan (a QR code), or type the key.
      const qr = section.getByRole('img', { name: 'QR code that adds Clink to an authenticator app' });
      await expect(qr).toBeVisible();
      const key = (await section.locator('.two-step-secret').innerText()).trim();
      expect(key.replace(/\s/g, '')).toMatch(/^[A-Z2-7]{32}$/);
      const turnOn = section.getByRole('button', { name: 'Turn on two-step sign-in' });
      await qr.scrollIntoViewIfNeeded();
      await assertLayout(page, `two-step-setup-${label}`, [qr]);
      const box = await qr.boundingBox();
      expect(box!.width, 'the QR code is big enough to scan').toBeGreaterThanOrEqual(160);

      // A wrong code says so on its field, and turns nothing on.
      await section.getByLabel('Code from the app').fill(totp(key) === '000000' ? '111111' : '000000');
      await section.getByLabel('Current password').fill(who.password);
      await turnOn.click();
      await expect(section.locator('.field-error').filter({ hasText: "That code didn't work" })).toBeVisible();

      await section.getByLabel('Code from the app').fill(totp(key));
      await section.getByLabel('Current password').fill(who.password);
      await turnOn.click();
      await expect(section.getByRole('status').first()).toContainText('Two-step sign-in is on');
      const codes = section.locator('ol.recovery-codes li');
      await expect(codes).toHaveCount(10);
      await expect(section.getByRole('link', { name: 'Download as a text file' })).toBeVisible();
      await codes.first().scrollIntoViewIfNeeded();
      await assertLayout(page, `two-step-codes-${label}`, [codes.first()]);
      await expect(section).toContainText('10 recovery codes left');

      // Log out and in again: the password, then the code.
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.goto('/login?next=%2Fsettings');
      await waitForIslands(page, true);
      await page.getByLabel('Email', { exact: true }).fill(who.email);
      await page.getByLabel('Password', { exact: true }).fill(who.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect(page).toHaveURL(/\/login\/two-step\?next=%2Fsettings$/);
      const signIn = page.getByRole('button', { name: 'Sign in' });
      await assertLayout(page, `two-step-login-${label}`, [page.getByLabel('Code'), signIn]);
      // The code of the next 30 seconds: the current one was spent turning it on.
      await page.getByLabel('Code').fill(totp(key, 30));
      await signIn.click();
      await expect(page).toHaveURL(/\/settings$/);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Settings');
      await expect(page.getByRole('region', { name: 'Two-step sign-in' })).toContainText('10 recovery codes left');
      await context.close();
    });
  }
});
