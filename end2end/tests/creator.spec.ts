import { expect, test, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { creator, signUp, unique, waitForIslands } from './helpers';

function tempFile(name: string, bytes: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clink-e2e-'));
  const file = path.join(dir, name);
  const chunk = Buffer.alloc(1024 * 1024, 'clink');
  const fd = fs.openSync(file, 'w');
  for (let written = 0; written < bytes; written += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written));
  fs.closeSync(fd);
  return file;
}

/** Slows uploads down so the progress bar has time to be seen (and cancelled). */
async function throttleUploads(page: Page, bytesPerSecond: number) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
}

async function fillWork(page: Page, title: string, price: string) {
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Description').fill('Twelve field recordings from the **Atlantic coast**.');
  await page.locator('#f-price').fill(price);
}

test.describe('creators', () => {
  test.use({ permissions: ['clipboard-read', 'clipboard-write'] });

  test('upload with a progress bar, get a link that unfurls, copy it', async ({ page }) => {
    const who = creator();
    await signUp(page, true, who);
    await page.goto('/dashboard/works/new');
    await waitForIslands(page, true);
    await fillWork(page, 'Atlantic Recordings', '4,99');
    await page.locator('#f-files').setInputFiles(tempFile('recordings.zip', 6 * 1024 * 1024));
    await expect(page.locator('.dropzone .hint')).toContainText('recordings.zip');
    await throttleUploads(page, 2 * 1024 * 1024);
    await page.getByRole('button', { name: 'Upload and get my link' }).click();
    const progress = page.locator('.upload-progress');
    await expect(progress).toBeVisible();
    await expect(progress.locator('.hint')).toContainText(/MB of .* \(\d+%\)/);
    await expect(page).toHaveURL(/\/dashboard\/works\/[0-9a-f]+\?created=1$/, { timeout: 30_000 });
    await expect(page.getByRole('status').first()).toContainText('Your work is live');

    const link = await page.getByLabel('Your link').inputValue();
    expect(link).toMatch(/\/l\/[0-9A-Za-z]{8}$/);
    await page.getByRole('button', { name: 'Copy link' }).first().click();
    await expect(page.getByRole('button', { name: 'Copied!' })).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);

    // The link page: server-rendered, with the preview tags a link checker reads.
    await page.goto(link);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Atlantic Recordings');
    await expect(page.getByRole('button', { name: 'Buy for €4.99' })).toBeVisible();
    await expect(page.locator('meta[property="og:title"]')).toHaveAttribute('content', `€4.99 · Atlantic Recordings by ${who.name}`);
    await expect(page.locator('meta[name="twitter:card"]')).toHaveAttribute('content', 'summary_large_image');
    await expect(page.locator('meta[property="product:price:amount"]')).toHaveAttribute('content', '4.99');
    await page.screenshot({ path: test.info().outputPath('link-page.png'), fullPage: true });
    const card = await page.request.get(await page.locator('meta[property="og:image"]').getAttribute('content') ?? '');
    expect(card.headers()['content-type']).toBe('image/png');
  });

  test('a link page stays under 120 KB on a phone', async ({ browser }) => {
    const setup = await browser.newPage();
    await signUp(setup, true, creator());
    await setup.goto('/dashboard/works/new');
    await waitForIslands(setup, true);
    await fillWork(setup, 'Tiny Zine', '0.20');
    await setup.locator('#f-files').setInputFiles({ name: 'zine.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 zine') });
    await setup.getByRole('button', { name: 'Upload and get my link' }).click();
    await expect(setup).toHaveURL(/created=1/);
    const link = await setup.getByLabel('Your link').inputValue();

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
      userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1' });
    const page = await phone.newPage();
    const transfers: { url: string; bytes: number }[] = [];
    page.on('requestfinished', async (request) => {
      const sizes = await request.sizes();
      transfers.push({ url: request.url(), bytes: sizes.responseBodySize + sizes.responseHeadersSize });
    });
    await page.goto(link, { waitUntil: 'networkidle' });
    // 0.20 is below what a card can carry, so a visitor is offered the tab (email only, get it
    // now, pay later), with a wallet behind it, rather than a card form.
    await expect(page.getByRole('button', { name: 'Get it now · pay later' })).toBeVisible();
    await expect(page.getByText('Or top up a wallet')).toBeVisible();
    const counted = transfers.filter((t) => !/\/(cover|thumb)\.(jpg|webp)|\/card\.png/.test(t.url));
    const total = counted.reduce((sum, t) => sum + t.bytes, 0);
    console.log(`link page: ${counted.length} requests, ${total} bytes`, counted);
    expect(counted.some((t) => t.url.endsWith('.wasm'))).toBe(false);
    expect(total).toBeLessThan(120 * 1024);
    await page.screenshot({ path: test.info().outputPath('link-page-phone.png'), fullPage: true });
    await phone.close();
  });

  test('cancelling an upload saves nothing; drag and drop picks files', async ({ page }) => {
    await signUp(page, true, creator());
    await page.goto('/dashboard/works/new');
    await waitForIslands(page, true);
    // Drag and drop.
    const dataTransfer = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['hello'], 'dropped.txt', { type: 'text/plain' }));
      return dt;
    });
    await page.dispatchEvent('.dropzone', 'drop', { dataTransfer });
    await expect(page.locator('.dropzone .hint')).toContainText('dropped.txt');

    await fillWork(page, 'Never Finished', '3');
    await page.locator('#f-files').setInputFiles(tempFile('huge.bin', 8 * 1024 * 1024));
    await throttleUploads(page, 512 * 1024);
    await page.getByRole('button', { name: 'Upload and get my link' }).click();
    await expect(page.locator('.upload-progress')).toBeVisible();
    await page.getByRole('button', { name: 'Cancel upload' }).click();
    await expect(page.getByRole('alert').filter({ hasText: 'Upload cancelled' })).toBeVisible();
    await page.goto('/dashboard/works');
    await expect(page.getByRole('heading', { name: 'Sell your first work in a minute' })).toBeVisible();
  });

  test('price errors show next to the field, and nothing is lost', async ({ page }) => {
    await signUp(page, true, creator());
    await page.goto('/dashboard/works/new');
    await waitForIslands(page, true);
    await fillWork(page, 'Too Precise', '4.999');
    await page.locator('#f-files').setInputFiles({ name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('a') });
    await page.getByRole('button', { name: 'Upload and get my link' }).click();
    await expect(page.locator('#f-price-error')).toHaveText('Use at most two decimals.');
    await expect(page.getByLabel('Title')).toHaveValue('Too Precise');
  });
});

test.describe('creators without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the upload form is a plain form that works', async ({ page }) => {
    await signUp(page, false, creator());
    await page.goto('/dashboard/works/new');
    await fillWork(page, 'Plain Form Work', '2');
    await page.locator('#f-files').setInputFiles({ name: 'plain.txt', mimeType: 'text/plain', buffer: Buffer.from('plain') });
    await page.getByRole('button', { name: 'Upload and get my link' }).click();
    await expect(page).toHaveURL(/created=1/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Plain Form Work');
    // A bad price comes back with a message.
    await page.goto('/dashboard/works/new');
    await fillWork(page, 'Bad', '-2');
    await page.locator('#f-files').setInputFiles({ name: 'plain.txt', mimeType: 'text/plain', buffer: Buffer.from('plain') });
    await page.getByRole('button', { name: 'Upload and get my link' }).click();
    await expect(page.locator('#f-price-error')).toHaveText("The amount can't be negative.");
  });
});
