import { expect, test } from '@playwright/test';
import { creator, signUp, unique, waitForIslands } from './helpers';

test('the dashboard moves after a purchase through a link tagged ?ref=x', async ({ browser }) => {
  const creatorPage = await (await browser.newContext()).newPage();
  await signUp(creatorPage, true, creator());
  await creatorPage.goto('/dashboard');
  await expect(creatorPage.getByRole('heading', { name: 'Sell your first work in a minute' })).toBeVisible();

  await creatorPage.goto('/dashboard/works/new');
  await waitForIslands(creatorPage, true);
  await creatorPage.getByLabel('Title').fill('Dashboard Zine');
  await creatorPage.locator('#f-price').fill('3');
  await creatorPage.locator('#f-files').setInputFiles({ name: 'z.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF z') });
  await creatorPage.getByRole('button', { name: 'Upload and get my link' }).click();
  await expect(creatorPage).toHaveURL(/created=1/);
  const link = await creatorPage.getByLabel('Your link').inputValue();

  // The creator keeps the dashboard open: the sale shows up live.
  await creatorPage.goto('/dashboard');
  await expect(creatorPage.getByText('Live: new sales appear here')).toBeVisible();

  const buyer = await (await browser.newContext()).newPage();
  await buyer.goto(`${link}?ref=x`);
  await buyer.getByLabel('Your email').fill(`fan.${unique()}@example.com`);
  await buyer.getByRole('button', { name: 'Buy for €3.00' }).click();
  await buyer.getByLabel('Card number').fill('4242 4242 4242 4242');
  await buyer.getByLabel('Expiry (MM/YY)').fill('12/34');
  await buyer.getByLabel('CVC').fill('123');
  await buyer.getByRole('button', { name: 'Pay €3.00' }).click();
  await expect(buyer).toHaveURL(/\/d\//);

  const recent = creatorPage.locator('table.recent');
  await expect(recent).toContainText('Dashboard Zine', { timeout: 15_000 });
  await expect(recent).toContainText('X (Twitter)');
  await expect(recent).toContainText('€3.00');

  // Views are written every couple of seconds: reload until the view is in; then every figure
  // has moved.
  const today = creatorPage.locator('.period').filter({ hasText: 'Today' });
  await expect(async () => {
    await creatorPage.reload();
    await expect(today.locator('.metric').filter({ hasText: 'Views' }).locator('.value')).toHaveText('1', { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(today.locator('.metric').filter({ hasText: 'Sales' }).locator('.value')).toHaveText('1');
  await expect(today.locator('.metric').filter({ hasText: 'Conversion' }).locator('.value')).toHaveText('100.0%');
  await expect(today.locator('.metric').filter({ hasText: 'Earnings' }).locator('.value')).toHaveText('€2.85');
  await expect(creatorPage.locator('table.sources')).toContainText('X (Twitter)');
  await expect(creatorPage.locator('.chart-svg svg title').filter({ hasText: '1 sales' })).toHaveCount(1);
  await creatorPage.screenshot({ path: test.info().outputPath('dashboard.png'), fullPage: true });

  // Mobile layout renders the same figures.
  await creatorPage.setViewportSize({ width: 390, height: 844 });
  await expect(today.locator('.metric').filter({ hasText: 'Sales' }).locator('.value')).toBeVisible();
});
