import { expect, test } from '@playwright/test';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { DESKTOP, PHONE, assertLayout, creator, publishWork, signUp, unique } from './helpers';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function payTestCard(page: import('@playwright/test').Page, amount: string) {
  await expect(page.getByText('TEST MODE')).toBeVisible();
  await page.getByLabel('Card number').fill('4242 4242 4242 4242');
  await page.getByLabel('Expiry (MM/YY)').fill('12/34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: `Pay ${amount}` }).click();
}

test('top up 5.00, buy a 0.20 work in one click, get the file, see 4.80', async ({ browser }) => {
  const bytes = Buffer.from(`tiny zine ${unique()} `.repeat(100));
  const link = await publishWork(await (await browser.newContext()).newPage(), { title: 'Twenty Cent Zine', price: '0.20', file: { name: 'zine.pdf', buffer: bytes } });

  const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  // Without a wallet, the page offers the tab first and a wallet behind it.
  await page.goto(link);
  await expect(page.getByRole('button', { name: 'Get it now · pay later' })).toBeVisible();
  await page.getByText('Or top up a wallet').click();
  await expect(page.getByText('Pay €0.20 with a Clink wallet')).toBeVisible();
  await signUp(page, true, creator());

  await page.goto('/wallet');
  await page.getByRole('button', { name: '+ 5', exact: true }).click();
  await payTestCard(page, '€5.00');
  await expect(page.getByText('Topped up. Thank you!')).toBeVisible();
  await expect(page.locator('.balance-big .value')).toHaveText('€5.00');

  await page.goto(link);
  const downloadPromise = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Buy for €0.20 with your wallet' }).click();
  const download = await downloadPromise; // starts at once, no second click
  expect(sha256(fs.readFileSync(await download.path()))).toBe(sha256(bytes));
  await expect(page.locator('.wallet-balance')).toHaveText('€4.80');

  await page.goto('/wallet');
  await expect(page.locator('.balance-big .value')).toHaveText('€4.80');
  await expect(page.getByRole('cell', { name: 'Bought Twenty Cent Zine' })).toBeVisible();
});

test('a signed-in buyer whose wallet is short tops up and buys in one flow', async ({ browser }) => {
  const link = await publishWork(await (await browser.newContext()).newPage(), { title: 'Nickel Print', price: '0.05', file: { name: 'p.png', buffer: Buffer.from('p') } });
  const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  await signUp(page, true, creator());
  await page.goto(link);
  // The tab comes first; the wallet's top-up is one click away.
  await page.getByText('Or top up your wallet').click();
  await expect(page.getByText('Your wallet has €0.00')).toBeVisible();
  await page.getByRole('button', { name: '€2.00' }).click();
  const download = page.waitForEvent('download');
  await payTestCard(page, '€2.00');
  await download;
  await expect(page.locator('.wallet-balance')).toHaveText('€1.95');
});

for (const [device, name] of [[PHONE, 'phone'], [DESKTOP, 'desktop']] as const) {
  test(`the wallet page leads with the balance; rules live in settings (${name})`, async ({ browser }) => {
    const page = await (await browser.newContext(device)).newPage();
    await signUp(page, true, creator());
    await page.goto('/wallet');
    await page.getByRole('button', { name: '+ 10', exact: true }).click();
    // The card step replaces the top-up form.
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Top up €10.00');
    await expect(page.getByRole('heading', { name: 'Top up', exact: true })).toHaveCount(0);
    await assertLayout(page, `wallet-card-step-${name}`, [page.getByRole('button', { name: 'Pay €10.00' })]);
    await payTestCard(page, '€10.00');
    await expect(page.locator('.balance-big .value')).toHaveText('€10.00');
    const history = page.locator('table.stack tbody tr').first();
    await assertLayout(page, `wallet-${name}`, [page.locator('.balance-big .value'), page.getByRole('button', { name: '+ 5', exact: true })]);
    // Every amount in the history is on screen, no sideways scrolling.
    const amount = history.locator('td.amount');
    await expect(amount).toHaveText('€10.00');
    const box = await amount.boundingBox();
    expect(box!.x + box!.width).toBeLessThanOrEqual(page.viewportSize()!.width);

    await page.getByRole('link', { name: 'Spending rules and auto-reload' }).click();
    await expect(page).toHaveURL(/\/wallet\/settings$/);
    await page.getByLabel('Weekly cap').fill('3');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await expect(page.getByText('Saved.')).toBeVisible();
    await expect(page.getByLabel('Weekly cap')).toHaveValue('3.00');
    await assertLayout(page, `wallet-settings-${name}`);
  });
}
