// stripe-sim's customer pages (the 3-D Secure challenge, Klarna's page): what their buttons
// do. Each page reads the PaymentIntent id from its path (/_sim/{area}/{pi}/{page}) and
// client_secret / return_url from its query, decides through POST /_sim/3ds/{pi}, then goes
// back to return_url as Stripe does (payment_intent, payment_intent_client_secret,
// redirect_status), or says the result when there is no return_url.
var simQuery = new URLSearchParams(location.search);
var simIntent = location.pathname.split('/')[3];

function simDecide(result, okText, failText) {
  document.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
  fetch('/_sim/3ds/' + simIntent, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_secret: simQuery.get('client_secret'), result: result }),
  }).then(function (r) { return r.json(); }).then(function (pi) {
    var ok = !pi.error && pi.status === 'succeeded';
    var back = simQuery.get('return_url');
    if (!back) { document.getElementById('status').textContent = ok ? okText : failText; return; }
    var url = new URL(back);
    url.searchParams.set('payment_intent', simIntent);
    url.searchParams.set('payment_intent_client_secret', simQuery.get('client_secret'));
    url.searchParams.set('redirect_status', ok ? 'succeeded' : 'failed');
    location.assign(url.toString());
  });
}
