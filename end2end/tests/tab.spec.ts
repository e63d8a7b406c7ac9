import { expect, test, type Browser, type Page } from '@playwright/test';
import { DESKTOP, Interactions, PHONE, assertLayout, expectClearOfHeader, publishFullWork, unique, waitForIslands } from './helpers';

async function newPage(browser: Browser, device: typeof PHONE | typeof DESKTOP, js = true) {
  return (await browser.newContext({ ...device, javaScriptEnabled: js, acceptDownloads: true })).newPage();
}

async function payTestCard(page: Page, amount: string) {
  await expect(page.getByText('TEST MODE')).toBeVisible();
  await page.getByLabel('Card number').fill('4242 4242 4242 4242');
  await page.getByLabel('Expiry (MM/YY)').fill('12/34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: `Pay ${amount}` }).click();
}

/** Another work by the creator signed in on `page`. */
async function publishAnother(page: Page, title: string, price: string, currency = 'EUR'): Promise<string> {
  await page.goto('/dashboard/works/new');
  await waitForIslands(page, true);
  await page.getByLabel('Title').fill(title);
  await page.locator('#f-price').fill(price);
  await page.locator('#f-currency').selectOption(currency);
  await page.locator('#f-files').setInputFiles({ name: `${title}.txt`, mimeType: 'application/octet-stream', buffer: Buffer.from(`${title} ${unique()}`) });
  await page.getByRole('button', { name: 'Upload and get my link' }).click();
  await expect(page).toHaveURL(/created=1/);
  return await page.getByLabel('Your link').inputValue();
}

test.describe('a new buyer of a 0.20 work on the tab', () => {
  for (const js of [true, false]) {
    test(`gets the file with an email and one click (JavaScript ${js ? 'on' : 'off'})`, async ({ browser }) => {
      const { link } = await publishFullWork(await browser.newPage(), { title: 'Tab Poem', price: '0.20', file: { name: 'tab-poem.txt', buffer: Buffer.from(`a poem ${unique()}`) } });
      const page = await newPage(browser, PHONE, js);
      const act = new Interactions();
      await page.goto(link);
      const later = page.getByRole('button', { name: 'Get it now · pay later' });
      await assertLayout(page, `tab-link-phone-js-${js}`, [page.getByRole('heading', { level: 1 }), page.locator('#f-tab-email'), later]);
      await expect(page.getByText('No card now')).toBeVisible();
      await page.locator('#f-tab-email').fill(`tab.${unique()}@example.com`);
      const download = page.waitForEvent('download');
      await act.click(later);
      expect((await download).suggestedFilename()).toBe('tab-poem.txt');
      await expect(page).toHaveURL(/\/l\/[A-Za-z0-9]+\?bought=1$/);
      await expect(page.getByText('€0.20 on your tab · your download is starting')).toBeVisible();
      await expect(page.locator('.tab-owed')).toHaveText('€0.20');
      await assertLayout(page, `tab-bought-phone-js-${js}`, [page.getByRole('link', { name: 'Download' })]);
      // Link to file: the email, then one click (the brief allows two).
      expect(act.count).toBe(1);

      // The tab is on the wallet page: what it owes, the purchase, "Pay now".
      await page.goto('/wallet');
      await expect(page.getByRole('heading', { name: 'Your tab' })).toBeVisible();
      await expect(page.locator('.tab-owed')).toHaveText('€0.20');
      await expect(page.getByRole('cell', { name: 'Tab Poem' })).toBeVisible();
      await expect(page.getByRole('button', { name: 'Pay now (€0.20)' })).toBeVisible();
      await assertLayout(page, `tab-wallet-phone-js-${js}`, [page.locator('.tab-owed'), page.getByRole('button', { name: 'Pay now (€0.20)' })]);
    });
  }
});

test('reaching the tab limit: pay the tab by card, the purchase completes, the creator sees pending then available', async ({ browser }) => {
  const creatorPage = await (await browser.newContext(DESKTOP)).newPage();
  const { link: first } = await publishFullWork(creatorPage, { title: 'Tab One', price: '0.50' });
  const second = await publishAnother(creatorPage, 'Tab Two', '0.50');
  const third = await publishAnother(creatorPage, 'Tab Three', '0.50');

  const buyer = await newPage(browser, PHONE);
  await buyer.goto(first);
  // 0.50 is a card price: the card form comes first, the tab is folded after it.
  await buyer.getByText('Pay later with a tab').click();
  await buyer.locator('#f-tab-email').fill(`limit.${unique()}@example.com`);
  await buyer.getByRole('button', { name: 'Get it now · pay later' }).click();
  await expect(buyer.getByText('€0.50 on your tab')).toBeVisible();

  // The creator's share (0.50 less the 0.03 fee) waits for the buyer to pay.
  await creatorPage.goto('/dashboard');
  await expect(creatorPage.locator('.on-tabs')).toHaveText('€0.47');

  // Signed in now: no email, one click.
  await buyer.goto(second);
  await expect(buyer.getByText('Your tab: €0.50 of €1.00')).toBeVisible();
  await buyer.getByRole('button', { name: 'Get it now · pay later' }).click();
  await expect(buyer.getByText('€0.50 on your tab')).toBeVisible();
  await expect(buyer.locator('.tab-owed')).toHaveText('€1.00');

  // The third would pass 1.00: the tab is paid by card, then the purchase completes.
  await buyer.goto(third);
  const settle = buyer.getByRole('button', { name: 'Pay your tab and get it' });
  await assertLayout(buyer, 'tab-limit-link-phone', [settle]);
  await settle.click();
  await expect(buyer.getByRole('heading', { level: 1 })).toHaveText('Pay your tab: €1.00');
  await assertLayout(buyer, 'tab-settle-card-phone', [buyer.getByRole('button', { name: 'Pay €1.00' })]);
  const download = buyer.waitForEvent('download');
  await payTestCard(buyer, '€1.00');
  expect((await download).suggestedFilename()).toBe('Tab Three.txt');
  await expect(buyer).toHaveURL(/\/l\/[A-Za-z0-9]+\?bought=1$/);
  await expect(buyer.locator('.tab-owed')).toHaveText('€0.50');

  // Paid tab shares are available; the third purchase's waits.
  await creatorPage.goto('/dashboard');
  await expect(creatorPage.locator('.value.available')).toHaveText('€0.94');
  await expect(creatorPage.locator('.on-tabs')).toHaveText('€0.47');
  await assertLayout(creatorPage, 'tab-dashboard-desktop', []);

  // The buyer's history: one card payment for two purchases, and what it saved.
  await buyer.goto('/wallet');
  await expect(buyer.getByText('€1.00 · paid · 2 purchase(s)')).toBeVisible();
  await expect(buyer.getByText(/2 purchases paid in 1 card payment/)).toBeVisible();
  await assertLayout(buyer, 'tab-history-phone', [buyer.locator('.tab-owed')]);
  await buyer.setViewportSize(DESKTOP.viewport);
  await buyer.reload();
  await assertLayout(buyer, 'tab-history-desktop', [buyer.locator('.tab-owed'), buyer.getByRole('button', { name: /Pay now/ })]);

  // The tab's statement: both paid purchases, the open one and the card payment.
  await expect(buyer.locator('a.tab-csv')).toBeVisible();
  const statement = await (await buyer.request.get('/wallet/tab.csv')).text();
  expect(statement.split('\n')[0]).toBe('date,kind,description,amount,currency,status,reference');
  expect(statement).toMatch(/purchase,Tab Three,0\.50,EUR,open,/);
  expect(statement).toMatch(/purchase,Tab One,0\.50,EUR,paid,/);
  expect(statement).toMatch(/payment,Tab payment by card,1\.00,EUR,paid,/);

  // Letting a saved card pay the tab is the buyer's choice, in the wallet's settings.
  await buyer.goto('/wallet/settings#tab-autopay');
  const autopay = buyer.getByLabel('Pay my tab with my saved card');
  await autopay.scrollIntoViewIfNeeded();
  await assertLayout(buyer, 'tab-autopay-settings-desktop', [buyer.getByRole('heading', { name: 'Paying your tab' }), autopay]);
  await buyer.setViewportSize(PHONE.viewport);
  await buyer.reload();
  await autopay.scrollIntoViewIfNeeded();
  await assertLayout(buyer, 'tab-autopay-settings-phone', [autopay]);
});

test('a buyer with tabs in two currencies sees each and pays one', async ({ browser }) => {
  const creatorPage = await (await browser.newContext(DESKTOP)).newPage();
  const { link: euros } = await publishFullWork(creatorPage, { title: 'Euro Sketch', price: '0.20' });
  const dollars = await publishAnother(creatorPage, 'Dollar Sketch', '0.30', 'USD');

  const buyer = await newPage(browser, PHONE);
  await buyer.goto(euros);
  await buyer.locator('#f-tab-email').fill(`two.tabs.${unique()}@example.com`);
  await buyer.getByRole('button', { name: 'Get it now · pay later' }).click();
  await expect(buyer.getByText('€0.20 on your tab')).toBeVisible();
  await buyer.goto(dollars);
  await buyer.getByRole('button', { name: 'Get it now · pay later' }).click();
  await expect(buyer.getByText('$0.30 on your tab')).toBeVisible();

  // One card per currency, each with what it owes and its own "Pay now".
  await buyer.goto('/wallet#tab-h');
  const usd = buyer.locator('#tab-usd');
  const eur = buyer.locator('#tab-eur');
  await expect(usd.getByRole('heading', { name: 'Your tab in USD' })).toBeVisible();
  await expect(eur.getByRole('heading', { name: 'Your tab in EUR' })).toBeVisible();
  await expect(usd.locator('.tab-owed')).toHaveText('$0.30');
  await expect(eur.locator('.tab-owed')).toHaveText('€0.20');
  await expect(buyer.locator('a.tab-csv')).toHaveCount(1);
  // The reminders' link lands on the tabs, with the first heading clear of the sticky header.
  const headingBelowHeader = () => expectClearOfHeader(buyer, usd.getByRole('heading', { name: 'Your tab in USD' }), 'the USD heading');
  await headingBelowHeader();
  await assertLayout(buyer, 'tab-two-currencies-phone', [usd.getByRole('heading', { name: 'Your tab in USD' }), usd.getByRole('button', { name: 'Pay now ($0.30)' })]);
  await buyer.setViewportSize(DESKTOP.viewport);
  await buyer.reload();
  await headingBelowHeader();
  await assertLayout(buyer, 'tab-two-currencies-desktop', [usd.locator('.tab-owed'), eur.locator('.tab-owed')]);

  // Paying the dollar tab leaves the euro tab as it was.
  await usd.getByRole('button', { name: 'Pay now ($0.30)' }).click();
  await payTestCard(buyer, '$0.50');
  await expect(buyer.getByText('Your tab is paid. Thank you!')).toBeVisible();
  await expect(buyer.locator('#tab-usd .tab-owed')).toHaveText('$0.00');
  await expect(buyer.locator('#tab-eur .tab-owed')).toHaveText('€0.20');
  await expect(buyer.locator('#tab-eur').getByRole('button', { name: 'Pay now (€0.20)' })).toBeVisible();
});
