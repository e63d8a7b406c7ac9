#!/usr/bin/env python3
"""Signed-in buyers with funded wallets, for bench/wallet.sh (or with paid tabs, for bench/tab.sh).

    wallet_setup.py BASE_URL BUYERS TOPUPS OUT_FILE [TAB_CODE]

Signs up BUYERS accounts over HTTP as a browser would (the form, then the confirmation link
from the email the server wrote to $CLINK_DATA_DIR/outbox; each buyer from an address of its
own, which the server reads from X-Forwarded-For: sign-ups are rate limited per address), tops
each wallet up TOPUPS times with
the built-in test provider's card form (500.00 EUR each, the most one top-up allows), and writes
one `Cookie: clink_session=...` line per buyer to OUT_FILE for `loadgen --connection-headers`.
With TAB_CODE, each buyer instead buys the work with that link code on their tab and pays the tab
with the test card once, so that their tab limit is the operator's (`CLINK_TAB_LIMIT`), not a
first tab's; handles and addresses then start with "tab" so both kinds can share a database.
Only the standard library: the benchmark must run on a bare machine.
"""

import concurrent.futures
import glob
import http.client
import json
import os
import quopri
import re
import sys
import time
import urllib.parse
from html import unescape

PASSWORD = "bench-password-not-secret-1"


class Browser:
    """One buyer: a cookie jar and same-origin requests that do not follow redirects."""

    def __init__(self, base, address, user_agent=None):
        self.base = base
        self.host = urllib.parse.urlparse(base).netloc
        self.cookies = {}
        self.address = address
        self.user_agent = user_agent

    def request(self, method, path, form=None, accept=None, json_body=None):
        conn = http.client.HTTPConnection(self.host, timeout=120)
        headers = {"Origin": self.base, "X-Forwarded-For": self.address}
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if json_body is not None:
            body = json.dumps(json_body)
            headers["Content-Type"] = "application/json"
        if accept:
            headers["Accept"] = accept
        conn.request(method, path, body, headers)
        res = conn.getresponse()
        text = res.read().decode("utf-8", "replace")
        for name, value in res.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                self.cookies[key.strip()] = val.strip()
        location = res.getheader("Location")
        conn.close()
        return res.status, location, text


def hidden(html, name):
    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag:
            m = re.search(r'value="([^"]*)"', tag)
            if m:
                return unescape(m.group(1))
    raise RuntimeError(f"no hidden input {name!r} on the page")


def pay_with_test_card(b, pay):
    """Pays the payment step at `pay` with the built-in test provider's card form; returns where
    the provider sends the browser back to."""
    _, _, page = b.request("GET", pay)
    action = unescape(re.search(r'action="(/pay/test/[^"]*)"', page).group(1))
    form = {
        "order_id": hidden(page, "order_id"),
        "k": hidden(page, "k"),
        "card_number": "4242424242424242",
        "card_expiry": "12/34",
        "card_cvc": "123",
    }
    status, back, text = b.request("POST", action, form)
    if not back:
        raise RuntimeError(f"test card refused: {status} {text[:200]}")
    return back


def top_up(b):
    status, pay, text = b.request("POST", "/wallet/topup", {"amount": "500", "currency": "EUR", "remember": "1"})
    if status != 303 or not pay or not pay.startswith("/wallet?topup="):
        raise RuntimeError(f"top-up refused: {status} {pay} {text[:200]}")
    status, done, _ = b.request("GET", pay_with_test_card(b, pay))
    if not done or "topped_up=1" not in done:
        raise RuntimeError(f"top-up not credited: {status} {done}")


def open_and_pay_tab(b, code, i):
    """One purchase on the buyer's tab, then the tab paid by card: the buyer has paid a tab."""
    status, _, text = b.request("POST", "/api/wallet/purchases", json_body={"code": code, "idempotency_key": f"tab-setup-{i:08d}", "pay_later": True})
    if status != 201 or '"paid_from":"tab"' not in text.replace(" ", ""):
        raise RuntimeError(f"tab purchase refused: {status} {text[:200]}")
    status, pay, text = b.request("POST", "/wallet/tab/pay", {"currency": "EUR"})
    if status != 303 or not pay or not pay.startswith("/wallet?topup="):
        raise RuntimeError(f"paying the tab refused: {status} {pay} {text[:200]}")
    status, done, _ = b.request("GET", pay_with_test_card(b, pay))
    if not done or "tab_paid=1" not in done:
        raise RuntimeError(f"tab not paid: {status} {done}")


def confirmation_path(email):
    """The /signup/confirm/... path in the email to `email`, once the server has written it."""
    outbox = os.path.join(os.environ["CLINK_DATA_DIR"], "outbox")
    for _ in range(300):
        for name in glob.glob(os.path.join(outbox, "*.eml")):
            with open(name, "rb") as f:
                raw = f.read()
            if f"To: {email}".encode() not in raw:
                continue
            m = re.search(rb"/signup/confirm/[A-Za-z0-9_-]+", quopri.decodestring(raw))
            if m:
                return m.group(0).decode()
        time.sleep(0.1)
    raise RuntimeError(f"no confirmation email to {email} in {outbox}")


def make_buyer(base, i, topups, tab_code=None):
    b = Browser(base, f"10.{78 if tab_code else 77}.{i // 256}.{i % 256}")
    handle = f"{'tab' if tab_code else 'buyer'}_{i}"
    email = f"{handle}@bench.example"
    form = {"email": email, "password": PASSWORD, "display_name": f"Buyer {i}", "handle": handle}
    status, _, text = b.request("POST", "/api/signup", form, accept="application/json")
    if status != 200:
        raise RuntimeError(f"sign-up of {handle} failed: {status} {text[:200]}")
    b.request("GET", confirmation_path(email))
    if "clink_session" not in b.cookies:
        raise RuntimeError(f"confirming {handle} signed nobody in")
    for _ in range(topups):
        top_up(b)
    if tab_code:
        open_and_pay_tab(b, tab_code, i)
    return f"Cookie: clink_session={b.cookies['clink_session']}"


def main():
    base, buyers, topups, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    tab_code = sys.argv[5] if len(sys.argv) > 5 else None
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        lines = list(pool.map(lambda i: make_buyer(base, i, topups, tab_code), range(buyers)))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
