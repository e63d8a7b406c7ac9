import { expect, test } from '@playwright/test';
import { signUp, unique, waitForIslands } from './helpers';

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
