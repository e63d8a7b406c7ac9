import { expect, test } from '@playwright/test';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { creator, publishWork, signUp, unique } from './helpers';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test('top up 5.00, buy a 0.20 work in one click, get the file, see 4.80', async ({ browser }) => {
  const bytes = Buffer.from(`tiny zine ${unique()} `.repeat(100));
  const link = await publishWork(await (await browser.newContext()).newPage(), { title: 'Twenty Cent Zine', price: '0.20', file: { name: 'zine.pdf', buffer: bytes } });

  const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  // Without a wallet, the page explains and offers one.
  await page.goto(link);
  await expect(page.getByText('Buy it with a Clink wallet')).toBeVisible();
  await signUp(page, true, creator());

  await page.goto('/wallet');
  await page.getByRole('button', { name: '+ 5', exact: true }).click();
  await expect(page.getByText('TEST MODE')).toBeVisible();
  await page.getByLabel('Card number').fill('4242 4242 4242 4242');
  await page.getByLabel('Expiry (MM/YY)').fill('12/34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: 'Pay €5.00' }).click();
  await expect(page.getByText('Topped up. Thank you!')).toBeVisible();
  await expect(page.locator('.stat .balance')).toHaveText('€5.00');

  await page.goto(link);
  const downloadPromise = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Buy for €0.20 with your wallet' }).click();
  const download = await downloadPromise; // starts at once, no second click
  expect(sha256(fs.readFileSync(await download.path()))).toBe(sha256(bytes));
  await expect(page.locator('.wallet-balance')).toHaveText('€4.80');

  await page.goto('/wallet');
  await expect(page.locator('.stat .balance')).toHaveText('€4.80');
  await expect(page.getByRole('cell', { name: 'Bought Twenty Cent Zine' })).toBeVisible();
});

test('a work under the card minimum sends a short wallet to top up, then back to the purchase', async ({ browser }) => {
  const link = await publishWork(await (await browser.newContext()).newPage(), { title: 'Nickel Print', price: '0.05', file: { name: 'p.png', buffer: Buffer.from('p') } });
  const page = await browser.newPage();
  await signUp(page, true, creator());
  await page.goto(link);
  await page.getByRole('link', { name: 'Top up to buy it' }).click();
  await expect(page.getByText('Top up to finish your purchase')).toBeVisible();
  await page.getByRole('button', { name: '+ 2', exact: true }).click();
  await page.getByLabel('Card number').fill('4242 4242 4242 4242');
  await page.getByLabel('Expiry (MM/YY)').fill('12/34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: 'Pay €2.00' }).click();
  await expect(page).toHaveURL(new RegExp(`${new URL(link).pathname}$`));
  await expect(page.getByRole('button', { name: 'Buy for €0.05 with your wallet' })).toBeVisible();
});
