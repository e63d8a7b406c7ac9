import { expect, test } from '@playwright/test';
import { publishWork } from './helpers';

/** Collects the page's Content-Security-Policy complaints. */
function cspViolations(page: import('@playwright/test').Page): string[] {
  const seen: string[] = [];
  page.on('console', (msg) => {
    if (msg.text().includes('Content Security Policy')) seen.push(msg.text());
  });
  return seen;
}

test('every page carries a strict CSP; islands still hydrate and injected inline script does not run', async ({ page }) => {
  const violations = cspViolations(page);
  const res = await page.goto('/login');
  const headers = res!.headers();
  const csp = headers['content-security-policy'];
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}'/);
  expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("object-src 'none'");
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
  expect(headers['permissions-policy']).toContain('camera=()');
  // The login form is an island: it hydrated under the policy.
  await expect(page.locator('form[data-ready]').first()).toBeAttached();
  expect(violations).toEqual([]);

  // Markup injected into the page (as a stored XSS would be) cannot run script.
  const outcome = await page.evaluate(async () => {
    (window as unknown as { ran: boolean }).ran = false;
    const refused = new Promise<string>((resolve) =>
      document.addEventListener('securitypolicyviolation', (e) => resolve(e.effectiveDirective), { once: true }),
    );
    const script = document.createElement('script');
    script.textContent = 'window.ran = true';
    document.body.appendChild(script);
    const directive = await Promise.race([refused, new Promise<string>((r) => setTimeout(() => r('none'), 2000))]);
    return { ran: (window as unknown as { ran: boolean }).ran, directive };
  });
  expect(outcome.ran).toBe(false);
  expect(outcome.directive).toBe('script-src-elem');
});

test('a cached link page carries the nonce of its own response', async ({ browser }) => {
  const link = await publishWork(await browser.newPage(), { title: 'Cached Zine', price: '2', file: { name: 'z.pdf', buffer: Buffer.from('z') } });
  const page = await (await browser.newContext()).newPage();
  const violations = cspViolations(page);
  await page.goto(link);
  const second = await page.goto(link);
  expect(second!.headers()['x-cache']).toBe('hit');
  const nonce = /'nonce-([^']+)'/.exec(second!.headers()['content-security-policy'])![1];
  const html = await second!.text();
  const nonces = [...html.matchAll(/nonce="([^"]+)"/g)].map((m) => m[1]);
  expect(nonces.length).toBeGreaterThan(0);
  for (const n of nonces) expect(n).toBe(nonce);
  expect(violations).toEqual([]);
});
