import { expect, test } from '@playwright/test';
import { assertLayout, creator, signUp, unique, waitForIslands } from './helpers';

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
  await expect(recent.locator('td[data-label="Paid with"]').first()).toHaveText('Card');
  // The headline cards move with the same events, without a reload.
  const today = creatorPage.locator('.period').filter({ hasText: 'Today' });
  await expect(today.locator('.metric').filter({ hasText: 'Sales' }).locator('.value')).toHaveText('1', { timeout: 15_000 });
  await expect(today.locator('.metric').filter({ hasText: 'Earnings' }).locator('.value')).toHaveText('€2.85');

  // Views are written every couple of seconds: reload until the view is in; then every figure
  // has moved.
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
  const deskTip = today.locator('.metric').filter({ hasText: 'Conversion' }).locator('.tip');
  await deskTip.focus();
  await assertLayout(creatorPage, 'dashboard-conversion-tip-desktop');
  await deskTip.blur();
  const recentWrap = await recent.evaluate((t) => t.parentElement!.scrollWidth - t.parentElement!.clientWidth);
  expect(recentWrap, 'recent sales do not scroll sideways at 1280 px').toBeLessThanOrEqual(0);

  // Mobile layout renders the same figures, and no table hides a column behind sideways
  // scrolling: each row stacks, with its amount inside the screen's width.
  await creatorPage.setViewportSize({ width: 390, height: 844 });
  await expect(today.locator('.metric').filter({ hasText: 'Sales' }).locator('.value')).toBeVisible();
  await assertLayout(creatorPage, 'dashboard-phone');
  // What conversion counts is a tooltip, reached by keyboard (and by a tap) too, and it stays
  // on the phone's screen.
  const tip = today.locator('.metric').filter({ hasText: 'Conversion' }).locator('.tip');
  await tip.focus();
  expect(await tip.evaluate((el) => getComputedStyle(el, '::after').content)).toContain('never passes 100');
  await assertLayout(creatorPage, 'dashboard-conversion-tip-phone');
  await tip.blur();
  for (const [table, column] of [['table.recent', 'td.amount'], ['#works table', 'td[data-label="Earnings"]'], ['table.sources', 'td[data-label="Sales"]']]) {
    const cell = creatorPage.locator(table).locator(column).first();
    await cell.scrollIntoViewIfNeeded();
    const box = await cell.boundingBox();
    expect(box, `${table} ${column} is laid out`).not.toBeNull();
    expect(box!.x + box!.width, `${table} ${column} is within the phone's width`).toBeLessThanOrEqual(390);
    const wrap = await creatorPage.locator(table).evaluate((t) => t.parentElement!.scrollWidth - t.parentElement!.clientWidth);
    expect(wrap, `${table} does not scroll sideways`).toBeLessThanOrEqual(0);
  }
  await creatorPage.goto('/dashboard/sales');
  await assertLayout(creatorPage, 'sales-phone', [creatorPage.locator('table td[data-label="Paid"]').first()]);
  await expect(creatorPage.locator('table td[data-label="Paid"]').first()).toHaveText('€3.00');
  await expect(creatorPage.locator('table td[data-label="Paid with"]').first()).toHaveText('Card');
  // The status shows as the lowercase word the API and CSV use, and the refund link sits in its row.
  await expect(creatorPage.locator('table .badge').first()).toHaveText('fulfilled');
  await creatorPage.setViewportSize({ width: 1280, height: 800 });
  await assertLayout(creatorPage, 'sales-desktop', [creatorPage.locator('table .badge').first(), creatorPage.getByRole('link', { name: 'Refund…' }).first()]);
  // Every column, the refund action last, fits the table's width: nothing behind a sideways scroll.
  const salesWrap = await creatorPage.locator('.table-wrap').evaluate((w) => w.scrollWidth - w.clientWidth);
  expect(salesWrap, 'the sales table does not scroll sideways at 1280 px').toBeLessThanOrEqual(0);
  const refund = (await creatorPage.getByRole('link', { name: 'Refund…' }).first().boundingBox())!;
  const wrapBox = (await creatorPage.locator('.table-wrap').boundingBox())!;
  expect(refund.x + refund.width, 'the refund action is inside the table').toBeLessThanOrEqual(wrapBox.x + wrapBox.width);
});
