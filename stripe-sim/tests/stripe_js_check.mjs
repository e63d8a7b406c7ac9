// Browser check of the Stripe.js stand-in (/js/v3) in Debian's Chromium.
// Not part of `cargo test`; run from the workspace root after
// `cargo build -p stripe-sim` (uses end2end/node_modules' Playwright):
//
//   node stripe-sim/tests/stripe_js_check.mjs
//
// A page on another origin loads the script, mounts a card element and pays:
// 4242 succeeds; 3155 shows the 3-D Secure modal (completed); 3184's modal is
// failed; 0002 is declined; an empty form is a validation_error; and the
// redirect_to_url challenge page returns to the return_url.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { once } from 'node:events';

const require = createRequire(new URL('../../end2end/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const SK = 'sk_test_stripe_sim';
const simBin = process.argv[2] ?? 'target/debug/stripe-sim';
const sim = spawn(simBin, ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const [line] = await once(sim.stdout, 'data');
const api = String(line).match(/http:\/\/\S+/)[0];

const page = (clientSecret) => `<!doctype html><html><body>
<script src="${api}/js/v3"></script>
<form id="f"><div id="card"></div><button id="pay">Pay</button></form><pre id="out"></pre>
<script>
  const stripe = Stripe('pk_test_stripe_sim');
  const card = stripe.elements().create('card');
  card.mount('#card');
  document.getElementById('f').onsubmit = async (e) => {
    e.preventDefault();
    const r = await stripe.confirmCardPayment(${JSON.stringify(clientSecret)},
      { payment_method: { card, billing_details: { email: 'ada@example.com' } } });
    document.getElementById('out').textContent =
      r.error ? 'error:' + (r.error.code || r.error.type) : 'status:' + r.paymentIntent.status;
  };
</script></body></html>`;

let currentSecret = '';
const site = createServer((req, res) => {
  res.setHeader('Content-Type', 'text/html');
  res.end(page(currentSecret));
});
site.listen(0, '127.0.0.1');
await once(site, 'listening');
const siteUrl = `http://127.0.0.1:${site.address().port}/`;

async function newIntent() {
  const r = await fetch(`${api}/v1/payment_intents`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${SK}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'amount=1999&currency=usd',
  });
  return (await r.json()).client_secret;
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
let failures = 0;
async function scenario(name, number, threeDs, expected) {
  currentSecret = await newIntent();
  const p = await browser.newPage();
  await p.goto(siteUrl);
  if (number) {
    await p.getByTestId('sim-card-number').fill(number);
    await p.getByTestId('sim-card-expiry').fill('12/34');
    await p.getByTestId('sim-card-cvc').fill('123');
  }
  await p.click('#pay');
  if (threeDs) {
    await p.getByText('Test 3-D Secure').first().waitFor();
    await p.getByTestId(threeDs).click();
  }
  await p.waitForFunction(() => document.getElementById('out').textContent !== '');
  const out = await p.textContent('#out');
  const ok = out === expected;
  failures += !ok;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${out}${ok ? '' : ` (expected ${expected})`}`);
  await p.close();
}

// Server-side confirm with a return_url: next_action.redirect_to_url leads to
// the sim's challenge page, which redirects back like Stripe's.
async function redirectScenario() {
  const r = await fetch(`${api}/v1/payment_intents`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${SK}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'amount=1999&currency=usd&payment_method=pm_card_authenticationRequired&confirm=true&return_url='
      + encodeURIComponent(siteUrl + 'done'),
  });
  const pi = await r.json();
  const p = await browser.newPage();
  await p.goto(pi.next_action.redirect_to_url.url);
  await p.getByTestId('sim-3ds-complete').click();
  await p.waitForURL(/\/done\?/);
  const q = new URL(p.url()).searchParams;
  const ok = q.get('payment_intent') === pi.id && q.get('redirect_status') === 'succeeded';
  failures += !ok;
  console.log(`${ok ? 'ok  ' : 'FAIL'} redirect_to_url challenge: ${p.url()}`);
  await p.close();
}

try {
  await redirectScenario();
  await scenario('4242 succeeds', '4242 4242 4242 4242', null, 'status:succeeded');
  await scenario('3155 with 3DS completed', '4000002500003155', 'sim-3ds-complete', 'status:succeeded');
  await scenario('3184 with 3DS failed', '4000002760003184', 'sim-3ds-fail', 'error:payment_intent_authentication_failure');
  await scenario('0002 declined', '4000000000000002', null, 'error:card_declined');
  await scenario('empty form', '', null, 'error:incomplete_number');
} finally {
  await browser.close();
  site.close();
  sim.kill();
}
console.log(`${6 - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
