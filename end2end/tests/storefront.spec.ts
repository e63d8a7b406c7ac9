import { expect, test, type Browser } from '@playwright/test';
import ogs from 'open-graph-scraper';
import { DESKTOP, Interactions, PHONE, assertLayout, creator, pngBuffer, publishFullWork, signUp, unique } from './helpers';

const DESCRIPTION = 'Twelve songs recorded at night.\n\n- Side A: *Dusk*\n- Side B: *Dawn*\n\nMastered for headphones.';

async function newPage(browser: Browser, device: typeof PHONE | typeof DESKTOP, js = true) {
  return (await browser.newContext({ ...device, javaScriptEnabled: js, acceptDownloads: true })).newPage();
}

test.describe('the link page sells on a phone and on a desktop', () => {
  let withCover = '';
  let withoutCover = '';
  let maker = '';

  test.beforeAll(async ({ browser }) => {
    const setup = await browser.newPage();
    const first = await publishFullWork(setup, { title: 'Night Album of Long Songs', price: '4.99', cover: pngBuffer(1600, 1000), description: DESCRIPTION });
    withCover = first.link;
    maker = first.who.name;
    const second = await publishFullWork(await browser.newPage(), { title: 'Plain Text Zine', price: '2.50', description: DESCRIPTION });
    withoutCover = second.link;
  });

  for (const [device, name] of [[PHONE, 'phone'], [DESKTOP, 'desktop']] as const) {
    test(`title, price and Buy in the first screen, images at their ratio (${name})`, async ({ browser }) => {
      for (const [link, kind] of [[withCover, 'cover'], [withoutCover, 'no-cover']]) {
        const page = await newPage(browser, device);
        await page.goto(link);
        const title = page.getByRole('heading', { level: 1 });
        const buy = page.getByRole('button', { name: /Buy for €/ });
        await expect(title).toHaveCount(1);
        await expect(buy).toHaveCount(1);
        // The price shows once, on the button that charges it.
        await expect(page.getByText(/€\d/)).toHaveCount(1);
        await assertLayout(page, `link-${kind}-${name}`, [title, buy, page.locator('.creator-chip')]);
        if (kind === 'cover') {
          const cover = page.locator('img.cover');
          await expect(cover).toBeVisible();
          expect(await cover.evaluate((img: HTMLImageElement) => img.currentSrc)).toContain('.webp');
        }
        // Markdown lists keep their shape and spacing.
        await expect(page.locator('.description li')).toHaveCount(2);
        await expect(page.locator('.trust')).toContainText('Instant download');
        await page.context().close();
      }
    });
  }

  test('the creator chip leads to the profile, which lists the works', async ({ browser }) => {
    for (const [device, name] of [[PHONE, 'phone'], [DESKTOP, 'desktop']] as const) {
      const page = await newPage(browser, device);
      await page.goto(withCover);
      await page.locator('.creator-chip').click();
      await expect(page).toHaveURL(/\/@mk_/);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText(maker);
      const cards = page.locator('.work-card');
      await expect(cards).toHaveCount(1);
      await expect(cards.first()).toContainText('Night Album of Long Songs');
      await expect(cards.first()).toContainText('€4.99');
      await assertLayout(page, `profile-${name}`, [page.getByRole('heading', { level: 1 }), cards.first()]);
      // No wasm, no script file on the storefront.
      await expect(page.locator('script[src], link[rel="modulepreload"]')).toHaveCount(0);
      await page.context().close();
    }
  });

  test('the home page says what Clink is, in the first screen, with no wasm', async ({ browser }) => {
    for (const [device, name] of [[PHONE, 'phone'], [DESKTOP, 'desktop']] as const) {
      const page = await newPage(browser, device);
      await page.goto('/');
      const start = page.getByRole('link', { name: 'Start selling' });
      await assertLayout(page, `home-${name}`, [page.getByRole('heading', { level: 1 }), start]);
      await expect(page.locator('script[src], link[rel="modulepreload"]')).toHaveCount(0);
      await page.context().close();
    }
  });

  test('a link unfurls with the price, read by a real Open Graph parser', async () => {
    const { result, error } = await ogs({ url: withCover, fetchOptions: { headers: { 'user-agent': 'Twitterbot/1.0' } } });
    expect(error).toBe(false);
    expect(result.ogTitle).toBe(`€4.99 · Night Album of Long Songs by ${maker}`);
    expect(result.ogDescription).toContain('€4.99');
    expect(result.ogDescription).toContain('Twelve songs');
    const image = result.ogImage?.[0];
    expect(image?.url).toMatch(/\/preview\.jpg\?v=/);
    expect(image?.width).toBe('1200');
    const res = await fetch(image!.url);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
  });
});

test.describe('a new buyer of a 0.20 work who prefers a wallet', () => {
  for (const js of [true, false]) {
    test(`gets the file in three interactions plus email and card (JavaScript ${js ? 'on' : 'off'})`, async ({ browser }) => {
      const { link } = await publishFullWork(await browser.newPage(), { title: 'Twenty Cent Poem', price: '0.20', file: { name: 'poem.txt', buffer: Buffer.from(`a poem ${unique()}`) } });
      const page = await newPage(browser, PHONE, js);
      const act = new Interactions();
      await page.goto(link);
      const start = page.getByRole('button', { name: 'Top up €5.00 and buy' });
      await expect(page.getByRole('link', { name: /sign up/i })).toHaveCount(0);
      // The tab comes first (see tab.spec.ts); the wallet is behind it.
      await act.click(page.getByText('Or top up a wallet'));
      await assertLayout(page, `micro-link-phone-js-${js}`, [page.getByRole('heading', { level: 1 }), start]);
      await page.locator('#f-wallet-email').fill(`micro.${unique()}@example.com`);
      await act.click(start);
      // The card step replaces everything else.
      await expect(page.getByText('TEST MODE')).toBeVisible();
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Top up €5.00');
      await assertLayout(page, `micro-card-phone-js-${js}`, [page.getByRole('button', { name: 'Pay €5.00' })]);
      await page.getByLabel('Card number').fill('4242 4242 4242 4242');
      await page.getByLabel('Expiry (MM/YY)').fill('12/34');
      await page.getByLabel('CVC').fill('123');
      const download = page.waitForEvent('download');
      await act.click(page.getByRole('button', { name: 'Pay €5.00' }));
      expect((await download).suggestedFilename()).toBe('poem.txt');
      // Back on the link page, where Buy was: paid, the download started, every file a click away.
      await expect(page).toHaveURL(/\/l\/[A-Za-z0-9]+\?bought=1$/);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Twenty Cent Poem');
      await expect(page.getByText('Paid €0.20 · your download is starting')).toBeVisible();
      await expect(page.locator('.wallet-balance')).toHaveText('€4.80');
      await assertLayout(page, `micro-bought-phone-js-${js}`, [page.getByRole('link', { name: 'Download' })]);
      expect(act.count).toBeLessThanOrEqual(5);
      expect(act.count).toBe(3);

      // Later, on the link: it's theirs.
      await page.goto(link);
      await expect(page.getByText('You own this')).toBeVisible();
      await expect(page.getByRole('button', { name: /with your wallet/ })).toHaveCount(0);

      // The buyer decides to sell too: a handle is asked for then, and only then.
      await page.goto('/dashboard/works/new');
      await expect(page.getByRole('heading', { name: 'Sell on Clink' })).toBeVisible();
      await expect(page.locator('#f-files')).toHaveCount(0);
      const handle = `mb_${unique()}`.slice(0, 30);
      await page.getByLabel('Handle').fill(handle);
      await assertLayout(page, `start-selling-phone-js-${js}`, [page.getByRole('button', { name: 'Start selling' })]);
      await page.getByRole('button', { name: 'Start selling' }).click();
      await expect(page.getByText(`You're selling as clink/@${handle}`)).toBeVisible();
      await expect(page.locator('#f-files')).toHaveCount(1);
    });
  }
});

test.describe('owners are not charged twice', () => {
  test('a card buyer with a remembered card sees "You own this"', async ({ browser }) => {
    const { link } = await publishFullWork(await browser.newPage(), { title: 'Kept Zine', price: '3' });
    const page = await newPage(browser, PHONE);
    await page.goto(link);
    await page.getByLabel('Your email').fill(`keeper.${unique()}@example.com`);
    await expect(page.getByLabel(/Remember my card/)).not.toBeChecked();
    await page.getByLabel(/Remember my card/).check();
    await page.getByRole('button', { name: 'Buy for €3.00' }).click();
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByLabel('Expiry (MM/YY)').fill('12/34');
    await page.getByLabel('CVC').fill('123');
    await page.getByRole('button', { name: 'Pay €3.00' }).click();
    await expect(page).toHaveURL(/\/d\//);

    await page.goto(link);
    await expect(page.getByText('You own this')).toBeVisible();
    await expect(page.getByRole('button', { name: /with Visa/ })).toHaveCount(0);
    await assertLayout(page, 'owned-card-phone', [page.getByRole('button', { name: 'Email me my download link' })]);
    // Buying again is explicit, and then one click.
    await page.getByRole('link', { name: /Buy again/ }).click();
    await expect(page.getByText('You already own this')).toBeVisible();
    await page.getByRole('button', { name: /Buy for €3\.00 with Visa •••• 4242/ }).click();
    await expect(page).toHaveURL(/\/d\//);
  });

  test('a wallet buyer who owns a work downloads it instead', async ({ browser }) => {
    const { link } = await publishFullWork(await browser.newPage(), { title: 'Wallet Zine', price: '0.30' });
    const page = await newPage(browser, DESKTOP);
    await page.goto(link);
    await page.getByText('Or top up a wallet').click();
    await page.locator('#f-wallet-email').fill(`walleteer.${unique()}@example.com`);
    await page.getByRole('button', { name: 'Top up €5.00 and buy' }).click();
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByLabel('Expiry (MM/YY)').fill('12/34');
    await page.getByLabel('CVC').fill('123');
    const first = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Pay €5.00' }).click();
    await first;
    await page.goto(link);
    await expect(page.getByText('You own this')).toBeVisible();
    await assertLayout(page, 'owned-wallet-desktop', [page.getByRole('button', { name: 'Download' })]);
    await page.getByRole('button', { name: 'Download' }).click();
    await expect(page).toHaveURL(/\/d\//);
    await page.goto('/wallet');
    await expect(page.locator('.balance-big .value')).toHaveText('€4.70');
  });
});

test.describe('pay what you want', () => {
  for (const js of [true, false]) {
    test(`the amount shown is the amount charged (JavaScript ${js ? 'on' : 'off'})`, async ({ browser }) => {
      const { link } = await publishFullWork(await browser.newPage(), { title: 'Name Your Price', price: '1', suggested: '3' });
      const page = await newPage(browser, PHONE, js);
      await signUp(page, js, creator());
      // A wallet with 10.00.
      await page.goto('/wallet');
      await page.getByRole('button', { name: '+ 10', exact: true }).click();
      await page.getByLabel('Card number').fill('4242 4242 4242 4242');
      await page.getByLabel('Expiry (MM/YY)').fill('12/34');
      await page.getByLabel('CVC').fill('123');
      await page.getByRole('button', { name: 'Pay €10.00' }).click();
      await expect(page.locator('.balance-big .value')).toHaveText('€10.00');

      await page.goto(link);
      const wallet = page.locator('form.wallet-buy');
      await expect(wallet.getByLabel('Name your price (minimum €1.00)')).toHaveValue('3.00');
      await expect(wallet.getByRole('button')).toHaveText('Buy for €3.00 with your wallet');
      await wallet.getByLabel('Name your price (minimum €1.00)').fill('4.50');
      if (js) {
        await expect(wallet.getByRole('button')).toHaveText('Buy for €4.50 with your wallet');
        await assertLayout(page, 'pwyw-phone', [wallet.getByRole('button')]);
        await wallet.getByRole('button').click();
      } else {
        await wallet.getByRole('button').click();
        await page.getByRole('button', { name: 'Confirm — pay €4.50' }).click();
      }
      await expect(page).toHaveURL(/\?bought=1$/);
      await expect(page.getByText('Paid €4.50 · your download is starting')).toBeVisible();
      await page.goto('/wallet');
      await expect(page.locator('.balance-big .value')).toHaveText('€5.50');
      await expect(page.getByRole('cell', { name: '-€4.50' })).toBeVisible();
    });
  }
});

test.describe('pages for what is not there', () => {
  test('a bad link, an unknown profile and a deleted work each lead somewhere', async ({ browser }) => {
    const creatorPage = await browser.newPage();
    const { link, who } = await publishFullWork(creatorPage, { title: 'Soon Gone', price: '2' });
    await creatorPage.getByRole('button', { name: 'Delete work' }).click();
    await expect(creatorPage).toHaveURL(/deleted=/);

    const page = await newPage(browser, PHONE);
    let res = await page.goto(link);
    expect(res?.status()).toBe(404);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText("This link isn't available");
    await assertLayout(page, 'dead-link-phone', [page.getByRole('link', { name: /other works/ })]);
    await page.getByRole('link', { name: /other works/ }).click();
    await expect(page).toHaveURL(new RegExp(`/@${who.handle}$`));
    await expect(page.getByText('Nothing for sale yet')).toBeVisible();

    res = await page.goto('/l/NoSuchLk');
    expect(res?.status()).toBe(404);
    await expect(page.getByRole('link', { name: /Find your purchases/ })).toBeVisible();

    res = await page.goto('/@nobody_at_all');
    expect(res?.status()).toBe(404);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('No creator by that name');
    await assertLayout(page, 'unknown-profile-phone', [page.getByRole('link', { name: 'Go to Clink' })]);
  });
});
