import { expect, test, type Locator, type Page } from '@playwright/test';

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
  // The account is made by the link in the confirmation email.
  await expect(page).toHaveURL(/\/signup\/sent$/);
  await page.goto(await mailedLink(page, who.email, 'Finish creating your Clink account', '/signup/confirm/'));
  await expect(page).toHaveURL(/\/dashboard$/);
}

/** The link starting with `path` in the newest email to `to` with `subject`, read from the dev
 * outbox (the server drains its mail queue every half second: poll until it is there). */
export async function mailedLink(page: Page, to: string, subject: string, path: string): Promise<string> {
  let link = '';
  await expect(async () => {
    const list = await (await page.request.get('/dev/outbox')).text();
    const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const item = new RegExp(`href="(/dev/outbox/[^"]+)">${escaped(to)} — ${escaped(subject)}<`).exec(list);
    expect(item, `an email to ${to}: ${subject}`).not.toBeNull();
    const raw = await (await page.request.get(item![1])).text();
    const body = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
    const found = new RegExp(`https?://[^\\s"<]+${escaped(path)}[A-Za-z0-9_-]+`).exec(body);
    expect(found).not.toBeNull();
    link = found![0];
  }).toPass({ timeout: 20_000 });
  return link;
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

/** A solid-colour PNG of the given size (no image library needed). */
export function pngBuffer(width: number, height: number, rgb: [number, number, number] = [190, 60, 90]): Buffer {
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Signs a creator up (on `page`) and publishes a work with any of a cover, a description and
 * a pay-what-you-want price; returns the link and the creator. */
export async function publishFullWork(
  page: Page,
  work: { title: string; price: string; suggested?: string; cover?: Buffer; description?: string; file?: { name: string; buffer: Buffer } },
) {
  const who = creator();
  await signUp(page, true, who);
  await page.goto('/dashboard/works/new');
  await waitForIslands(page, true);
  await page.getByLabel('Title').fill(work.title);
  if (work.description) await page.getByLabel('Description').fill(work.description);
  if (work.suggested !== undefined) {
    await page.getByLabel('Pay what you want').check();
    await page.locator('#f-suggested').fill(work.suggested);
  }
  await page.locator('#f-price').fill(work.price);
  if (work.cover) await page.locator('#f-cover').setInputFiles({ name: 'cover.png', mimeType: 'image/png', buffer: work.cover });
  const file = work.file ?? { name: 'work.pdf', buffer: Buffer.from(`%PDF ${work.title}`) };
  await page.locator('#f-files').setInputFiles({ name: file.name, mimeType: 'application/octet-stream', buffer: file.buffer });
  await page.getByRole('button', { name: 'Upload and get my link' }).click();
  await expect(page).toHaveURL(/created=1/);
  return { link: await page.getByLabel('Your link').inputValue(), who };
}

export const PHONE = {
  viewport: { width: 390, height: 844 },
  isMobile: true,
  hasTouch: true,
  userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
};
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

/** What a person sees must stay true: no sideways scroll, every image at its own aspect ratio
 * (±2 %), the given elements inside the first screen. Saves a screenshot as a test artifact. */
export async function assertLayout(page: Page, name: string, firstScreen: Locator[] = []) {
  const info = test.info();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `${name}: no horizontal scroll`).toBeLessThanOrEqual(0);
  const ratios = await page.locator('img').evaluateAll((imgs) =>
    (imgs as HTMLImageElement[])
      .filter((img) => img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().width > 0)
      .map((img) => {
        const box = img.getBoundingClientRect();
        return { src: img.currentSrc, box: box.width / box.height, natural: img.naturalWidth / img.naturalHeight };
      }),
  );
  for (const r of ratios) expect(Math.abs(r.box / r.natural - 1), `${name}: ${r.src} keeps its aspect ratio`).toBeLessThanOrEqual(0.02);
  const height = page.viewportSize()?.height ?? 0;
  for (const el of firstScreen) {
    const box = await el.boundingBox();
    expect(box, `${name}: ${el} is laid out`).not.toBeNull();
    expect(box!.y + box!.height, `${name}: ${el} is in the first screen`).toBeLessThanOrEqual(height);
    expect(box!.y).toBeGreaterThanOrEqual(0);
  }
  const shot = info.outputPath(`${name}.png`);
  await page.screenshot({ path: shot });
  await info.attach(name, { path: shot, contentType: 'image/png' });
  // A copy outside test-results, which the next run clears: for people to look at.
  const fs = require('node:fs') as typeof import('node:fs');
  fs.mkdirSync('screenshots', { recursive: true });
  fs.copyFileSync(shot, `screenshots/${name}.png`);
}

/** A link to a part of a page (`/settings#two-step`) lands with `heading` in sight: below the
 * sticky header, not under it. Polled, as the browser may still be scrolling. */
export async function expectClearOfHeader(page: Page, heading: Locator, what: string) {
  await expect
    .poll(async () => {
      const header = (await page.locator('.site-header').boundingBox())!;
      const box = (await heading.boundingBox())!;
      return box.y - (header.y + header.height);
    }, { message: `${what} is clear of the sticky header` })
    .toBeGreaterThanOrEqual(0);
}

/** Counts a buyer's interactions (clicks, key presses on controls); typing into a field
 * and entering a card are not counted. */
export class Interactions {
  count = 0;
  async click(target: Locator) {
    this.count += 1;
    await target.click();
  }
}
