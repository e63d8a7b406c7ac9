import { expect, test, type Page } from '@playwright/test';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { DESKTOP, Interactions, PHONE, assertLayout, publishWork, unique } from './helpers';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function downloadFirstFile(page: Page): Promise<Buffer> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).first().click()]);
  return fs.readFileSync(await download.path());
}

test.describe('buyers, test provider', () => {
  test('pay with the test card, download the exact bytes, get the receipt, buy again in one click', async ({ browser }) => {
    const bytes = Buffer.from(`the album ${unique()} `.repeat(5000));
    const creatorPage = await (await browser.newContext()).newPage();
    const link = await publishWork(creatorPage, { title: 'Night Album', price: '4.99', file: { name: 'album.zip', buffer: bytes } });
    const second = await publishWork(await (await browser.newContext()).newPage(), { title: 'Bonus Track', price: '1.50', file: { name: 'bonus.mp3', buffer: Buffer.from('bonus') } });

    const buyer = await (await browser.newContext({ acceptDownloads: true })).newPage();
    const email = `buyer.${unique()}@example.com`;
    await buyer.goto(link);
    await buyer.getByLabel('Your email').fill(email);
    await buyer.getByLabel(/Remember my card/).check();
    await buyer.getByRole('button', { name: 'Buy for €4.99' }).click();
    await expect(buyer.getByText('TEST MODE')).toBeVisible();
    expect(new URL(buyer.url()).pathname).toBe(new URL(link).pathname); // still on the link page
    await buyer.getByLabel('Card number').fill('4242 4242 4242 4242');
    await buyer.getByLabel('Expiry (MM/YY)').fill('12/34');
    await buyer.getByLabel('CVC').fill('123');
    await buyer.getByRole('button', { name: 'Pay €4.99' }).click();
    await expect(buyer).toHaveURL(/\/d\/[A-Za-z0-9_-]{40,}$/);
    await expect(buyer.getByRole('heading', { level: 1 })).toHaveText('Night Album');
    const file = await downloadFirstFile(buyer);
    expect(sha256(file)).toBe(sha256(bytes));

    // The receipt, in the dev outbox. The mail sender drains the outbox every half second, so
    // the receipt may land after the download: reload until it is listed.
    const receipt = buyer.getByRole('link', { name: new RegExp(`${email}.*Your download: Night Album`) });
    await expect(async () => {
      await buyer.goto('/dev/outbox');
      await expect(receipt).toBeVisible({ timeout: 1_000 });
    }).toPass({ timeout: 20_000 });
    await receipt.click();
    await expect(buyer.locator('body')).toContainText('/d/');

    // One click the second time.
    await buyer.goto(second);
    await buyer.getByRole('button', { name: /Buy for €1\.50 with Visa •••• 4242/ }).click();
    await expect(buyer).toHaveURL(/\/d\//);
    await expect(buyer.getByRole('heading', { level: 1 })).toHaveText('Bonus Track');
  });

  test('a declined card says so; 3-D Secure completes', async ({ browser }) => {
    const link = await publishWork(await (await browser.newContext()).newPage(), { title: 'Secure Zine', price: '2', file: { name: 'z.pdf', buffer: Buffer.from('%PDF zine') } });
    const buyer = await browser.newPage();
    await buyer.goto(link);
    await buyer.getByLabel('Your email').fill(`d.${unique()}@example.com`);
    await buyer.getByRole('button', { name: 'Buy for €2.00' }).click();
    await buyer.getByLabel('Card number').fill('4000 0000 0000 0002');
    await buyer.getByLabel('Expiry (MM/YY)').fill('12/34');
    await buyer.getByLabel('CVC').fill('123');
    await buyer.getByRole('button', { name: 'Pay €2.00' }).click();
    await expect(buyer.getByRole('alert').filter({ hasText: 'Your card was declined.' })).toBeVisible();
    await buyer.getByLabel('Card number').fill('4000 0027 6000 3184');
    await buyer.getByLabel('Expiry (MM/YY)').fill('12/34');
    await buyer.getByLabel('CVC').fill('123');
    await buyer.getByRole('button', { name: 'Pay €2.00' }).click();
    await buyer.getByRole('button', { name: 'Complete authentication' }).click();
    await expect(buyer).toHaveURL(/\/d\//);
  });
});

test.describe('buyers, Stripe (simulator)', () => {
  test.use({ baseURL: `http://127.0.0.1:${process.env.CLINK_E2E_STRIPE_PORT ?? 3211}` });

  test('Stripe Elements on the link page, signed webhooks, then one click', async ({ browser }) => {
    const bytes = Buffer.from(`stripe bytes ${unique()} `.repeat(1000));
    const base = `http://127.0.0.1:${process.env.CLINK_E2E_STRIPE_PORT ?? 3211}`;
    const creatorPage = await (await browser.newContext({ baseURL: base })).newPage();
    const link = await publishWork(creatorPage, { title: 'Stripe Sketches', price: '9', file: { name: 'sketches.zip', buffer: bytes } });
    const second = await publishWork(await (await browser.newContext({ baseURL: base })).newPage(), { title: 'More Sketches', price: '3', file: { name: 'more.zip', buffer: Buffer.from('more') } });

    const buyer = await (await browser.newContext({ baseURL: base, acceptDownloads: true })).newPage();
    await buyer.goto(link);
    await buyer.getByLabel('Your email').fill(`s.${unique()}@example.com`);
    await buyer.getByLabel(/Remember my card/).check();
    await buyer.getByRole('button', { name: 'Buy for €9.00' }).click();
    await expect(buyer.getByTestId('sim-card-number')).toBeVisible();
    expect(new URL(buyer.url()).pathname).toBe(new URL(link).pathname);
    await buyer.getByTestId('sim-card-number').fill('4242424242424242');
    await buyer.getByTestId('sim-card-expiry').fill('12/34');
    await buyer.getByTestId('sim-card-cvc').fill('123');
    await buyer.getByRole('button', { name: 'Pay €9.00' }).click();
    await expect(buyer).toHaveURL(/\/d\//, { timeout: 20_000 });
    expect(sha256(await downloadFirstFile(buyer))).toBe(sha256(bytes));

    await buyer.goto(second);
    await buyer.getByRole('button', { name: /Buy for €3\.00 with Visa •••• 4242/ }).click();
    await expect(buyer).toHaveURL(/\/d\//);
    await expect(buyer.getByRole('heading', { level: 1 })).toHaveText('More Sketches');
  });

  test('Klarna on a phone: link → Klarna → file in two taps; a decline comes back to the link page', async ({ browser }) => {
    const base = `http://127.0.0.1:${process.env.CLINK_E2E_STRIPE_PORT ?? 3211}`;
    const bytes = Buffer.from(`klarna bytes ${unique()} `.repeat(800));
    const creatorPage = await (await browser.newContext({ baseURL: base })).newPage();
    const link = await publishWork(creatorPage, { title: 'Klarna Course', price: '25', file: { name: 'course.zip', buffer: bytes } });
    const small = await publishWork(await (await browser.newContext({ baseURL: base })).newPage(), { title: 'Tiny Print', price: '0.80', file: { name: 't.pdf', buffer: Buffer.from('%PDF t') } });

    const buyer = await (await browser.newContext({ ...PHONE, baseURL: base, acceptDownloads: true })).newPage();
    await buyer.goto(link);
    const klarna = buyer.getByRole('button', { name: 'Pay later with Klarna' });
    await expect(klarna).toBeVisible();
    await expect(buyer.getByLabel('Klarna, paying from')).toHaveValue('DE');
    await assertLayout(buyer, 'klarna-link-phone', [buyer.getByRole('button', { name: 'Buy for €25.00' })]);
    const act = new Interactions();
    await buyer.getByLabel('Your email').fill(`k.${unique()}@example.com`);
    await act.click(klarna);
    // On Klarna's page (the simulator's), for the work's amount.
    await expect(buyer.getByTestId('sim-klarna-amount')).toHaveText('Amount: 25.00 EUR');
    await assertLayout(buyer, 'klarna-page-phone');
    await act.click(buyer.getByTestId('sim-klarna-authorize'));
    await expect(buyer).toHaveURL(/\/d\//, { timeout: 20_000 });
    await expect(buyer.getByRole('heading', { level: 1 })).toHaveText('Klarna Course');
    expect(act.count, 'link → file: Klarna, then approve').toBe(2);
    expect(sha256(await downloadFirstFile(buyer))).toBe(sha256(bytes));

    // Declined: back on the link page, told so, with the card form right there.
    const other = await (await browser.newContext({ ...DESKTOP, baseURL: base })).newPage();
    await other.goto(link);
    await other.getByLabel('Your email').fill(`k2.${unique()}@example.com`);
    await other.getByLabel('Klarna, paying from').selectOption('FR');
    await assertLayout(other, 'klarna-link-desktop', [other.getByRole('button', { name: 'Pay later with Klarna' })]);
    await other.getByRole('button', { name: 'Pay later with Klarna' }).click();
    await other.getByTestId('sim-klarna-fail').click();
    await expect(other.getByRole('alert').filter({ hasText: "Klarna didn't approve this payment" })).toBeVisible();
    expect(new URL(other.url()).pathname).toBe(new URL(link).pathname);
    await expect(other.getByRole('button', { name: 'Buy for €25.00' })).toBeVisible();
    await assertLayout(other, 'klarna-declined-desktop');

    // Below Klarna's smallest payment: cards only.
    await other.goto(small);
    await expect(other.getByRole('button', { name: 'Buy for €0.80' })).toBeVisible();
    await expect(other.getByRole('button', { name: 'Pay later with Klarna' })).toHaveCount(0);
  });

  test('3-D Secure through Stripe.js', async ({ browser }) => {
    const base = `http://127.0.0.1:${process.env.CLINK_E2E_STRIPE_PORT ?? 3211}`;
    const link = await publishWork(await (await browser.newContext({ baseURL: base })).newPage(), { title: 'Guarded', price: '5', file: { name: 'g.bin', buffer: Buffer.from('g') } });
    const buyer = await (await browser.newContext({ baseURL: base })).newPage();
    await buyer.goto(link);
    await buyer.getByLabel('Your email').fill(`t.${unique()}@example.com`);
    await buyer.getByRole('button', { name: 'Buy for €5.00' }).click();
    await buyer.getByTestId('sim-card-number').fill('4000002760003184');
    await buyer.getByTestId('sim-card-expiry').fill('12/34');
    await buyer.getByTestId('sim-card-cvc').fill('123');
    await buyer.getByRole('button', { name: 'Pay €5.00' }).click();
    await buyer.getByTestId('sim-3ds-complete').click();
    await expect(buyer).toHaveURL(/\/d\//, { timeout: 20_000 });
  });
});
