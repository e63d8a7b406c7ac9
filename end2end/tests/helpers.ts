import { expect, type Page } from '@playwright/test';

/** A unique suffix so tests never collide on emails or handles. */
export function unique(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Waits until the page's islands are interactive (forms mark themselves `data-ready`). */
export async function waitForIslands(page: Page, jsEnabled: boolean) {
  if (jsEnabled) {
    await expect(page.locator('form[data-ready]').first()).toBeAttached();
  }
}

export async function signUp(page: Page, js: boolean, who: { name: string; handle: string; email: string; password: string }) {
  await page.goto('/signup');
  await waitForIslands(page, js);
  await page.getByLabel('Your name').fill(who.name);
  await page.getByLabel('Handle').fill(who.handle);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
}
