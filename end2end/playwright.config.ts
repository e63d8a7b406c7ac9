import { defineConfig } from '@playwright/test';

// The server under test: the release build from `cargo leptos build --release`, on a fresh
// data directory (SQLite, local files, test payment provider: the zero-config defaults).
const port = Number(process.env.CLINK_E2E_PORT ?? 3210);
const baseURL = `http://127.0.0.1:${port}`;
const bin = process.env.CLINK_E2E_BIN ?? '../target/release/clink';
const dataDir = process.env.CLINK_E2E_DATA_DIR ?? '.e2e-data';
// A second app, paying through Stripe — pointed at the Stripe simulator.
const stripePort = Number(process.env.CLINK_E2E_STRIPE_PORT ?? 3211);
const simPort = Number(process.env.CLINK_E2E_SIM_PORT ?? 12111);
const simBin = process.env.CLINK_E2E_SIM_BIN ?? '../target/debug/stripe-sim';
export const stripeAppURL = `http://127.0.0.1:${stripePort}`;
// Each app's stderr goes to a log file that `server-panics.ts` reads after the run: a server
// panic fails the suite even when the page it broke happened to look fine in the browser.
export const serverLogs = [`${dataDir}.log`, `${dataDir}-stripe.log`];

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  workers: 2,
  reporter: [['list']],
  globalTeardown: './server-panics.ts',
  use: {
    baseURL,
    trace: 'retain-on-failure',
    // Headless Chromium announces itself as "HeadlessChrome", which link-view counting rightly
    // treats as a bot; these journeys are people.
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: {
          executablePath: '/usr/bin/chromium',
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
        },
      },
    },
  ],
  webServer: [
    {
      command: `sh -c 'rm -rf "${dataDir}" "${serverLogs[0]}" && exec "${bin}" serve 2>"${serverLogs[0]}"'`,
      url: `${baseURL}/healthz`,
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: 'ignore',
      stderr: 'pipe',
      env: {
        CLINK_DATA_DIR: dataDir,
        LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
        LEPTOS_SITE_ROOT: '../target/site',
        CLINK_ENV: 'dev',
        RUST_LOG: 'warn',
        // Every journey comes from 127.0.0.1: per-address limits (sign-ups, mail) would stop
        // the suite, not a person.
        CLINK_RATE_LIMIT_SCALE: '100',
      },
    },
    {
      command: `"${simBin}" --port ${simPort} --webhook-url ${stripeAppURL}/webhooks/stripe --webhook-secret whsec_e2e`,
      url: `http://127.0.0.1:${simPort}/_sim/health`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
      command: `sh -c 'rm -rf "${dataDir}-stripe" "${serverLogs[1]}" && exec "${bin}" serve 2>"${serverLogs[1]}"'`,
      url: `${stripeAppURL}/healthz`,
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: 'ignore',
      stderr: 'pipe',
      env: {
        CLINK_DATA_DIR: `${dataDir}-stripe`,
        LEPTOS_SITE_ADDR: `127.0.0.1:${stripePort}`,
        LEPTOS_SITE_ROOT: '../target/site',
        CLINK_ENV: 'dev',
        RUST_LOG: 'warn',
        CLINK_RATE_LIMIT_SCALE: '100',
        CLINK_STRIPE_SECRET_KEY: 'sk_test_stripe_sim',
        CLINK_STRIPE_PUBLISHABLE_KEY: 'pk_test_stripe_sim',
        CLINK_STRIPE_WEBHOOK_SECRET: 'whsec_e2e',
        CLINK_STRIPE_API_BASE: `http://127.0.0.1:${simPort}`,
        CLINK_STRIPE_JS_URL: `http://127.0.0.1:${simPort}/js/v3`,
        CLINK_STRIPE_KLARNA: 'on',
      },
    },
  ],
});
