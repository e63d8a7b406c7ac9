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
  await page.getByLabel('Email', { exact: true }).fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
}

export function creator() {
  const id = unique();
  return { name: `Maker ${id}`, handle: `mk_${id}`.slice(0, 30), email: `maker.${id}@example.com`, password: 'a good long password' };
}

/** Signs a creator up and publishes a one-file work; returns the link. */
export async function publishWork(page: Page, work: { title: string; price: string; file: { name: string; buffer: Buffer } }): Promise<string> {
  await signUp(page, true, creator());
  await page.goto('/dashboard/works/new');
  await waitForIslands(page, true);
  await page.getByLabel('Title').fill(work.title);
  await page.locator('#f-price').fill(work.price);
  await page.locator('#f-files').setInputFiles({ name: work.file.name, mimeType: 'application/octet-stream', buffer: work.file.buffer });
  await page.getByRole('button', { name: 'Upload and get my link' }).click();
  await expect(page).toHaveURL(/created=1/);
  return await page.getByLabel('Your link').inputValue();
}
