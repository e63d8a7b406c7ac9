#!/usr/bin/env python3
"""Cross-check stripe-sim's webhook envelope and signature against localstripe.

Not part of `cargo test` (it needs Python and `pip install localstripe`).
Run from the workspace root after `cargo build -p stripe-sim`:

    python3 stripe-sim/tests/localstripe_crosscheck.py [path/to/stripe-sim]

It starts localstripe (port 8420, unless one is already running there), the
stripe-sim binary and a webhook receiver, creates a customer in both, and
compares what the receiver got: top-level envelope keys, `data` keys,
customer-object keys, headers and the `Stripe-Signature` format, verifying
both HMACs. Exits non-zero if either signature fails to verify or the
formats differ.
"""

import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

SECRET = "whsec_crosscheck"
LOCALSTRIPE = "http://localhost:8420"
received = []  # (source, headers, body)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.append((self.path.strip("/"), self.headers, body))  # case-insensitive
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def post(url, data, key="sk_test_crosscheck", headers=None):
    req = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST")
    req.add_header("Authorization", "Bearer " + key)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as r:
        body = r.read()
        return json.loads(body) if body.strip() else None


def up(url):
    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except urllib.error.HTTPError:
        return True
    except Exception:
        return False


def wait_for(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def verify(headers, body):
    sig = headers.get("Stripe-Signature", "")
    m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", sig)
    if not m:
        return False, sig
    expected = hmac.new(SECRET.encode(), m.group(1).encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, m.group(2)), sig


def main():
    sim_bin = sys.argv[1] if len(sys.argv) > 1 else "target/debug/stripe-sim"
    procs = []
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{port}"
    try:
        if not up(LOCALSTRIPE + "/v1/customers"):
            exe = shutil.which("localstripe") or os.path.join(os.path.dirname(sys.executable), "localstripe")
            procs.append(subprocess.Popen([exe, "--from-scratch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if not wait_for(lambda: up(LOCALSTRIPE + "/v1/customers")):
                sys.exit("localstripe did not start (pip install localstripe)")
        sim_port = free_port()
        procs.append(subprocess.Popen(
            [sim_bin, "--port", str(sim_port), "--webhook-url", hook + "/sim", "--webhook-secret", SECRET],
            stdout=subprocess.DEVNULL))
        sim = f"http://127.0.0.1:{sim_port}"
        if not wait_for(lambda: up(sim + "/_sim/health")):
            sys.exit("stripe-sim did not start")

        post(LOCALSTRIPE + "/_config/webhooks/crosscheck", {"url": hook + "/localstripe", "secret": SECRET})
        post(LOCALSTRIPE + "/v1/customers", {"email": "a@example.com"})
        post(sim + "/v1/customers", {"email": "a@example.com"})
        if not wait_for(lambda: {s for s, _, _ in received} >= {"sim", "localstripe"}):
            sys.exit(f"missing webhooks; got {[s for s, _, _ in received]}")

        got = {}
        for source, headers, body in received:
            event = json.loads(body)
            if event.get("type") == "customer.created" and source not in got:
                got[source] = (headers, body, event)
        failures = 0
        for source in ("localstripe", "sim"):
            headers, body, event = got[source]
            ok, sig = verify(headers, body)
            failures += not ok
            print(f"== {source}")
            print(f"  Stripe-Signature: {re.sub(r'v1=[0-9a-f]+', 'v1=<64 hex>', sig)}  verifies: {ok}")
            print(f"  Content-Type: {headers.get('Content-Type')}")
            print(f"  t == event.created: {sig.split(',')[0] == 't=%d' % event['created']}")
            print(f"  pretty-printed body: {body.startswith(b'{' + bytes([10]))}")
            print(f"  envelope keys: {sorted(event)}")
            print(f"  data keys: {sorted(event['data'])}")
            print(f"  api_version: {event.get('api_version')}")
        ls, sm = got["localstripe"][2], got["sim"][2]
        print("== differences")
        print(f"  envelope keys only in localstripe: {sorted(set(ls) - set(sm))}")
        print(f"  envelope keys only in stripe-sim:  {sorted(set(sm) - set(ls))}")
        lo, so = ls["data"]["object"], sm["data"]["object"]
        print(f"  customer keys only in localstripe: {sorted(set(lo) - set(so))}")
        print(f"  customer keys only in stripe-sim:  {sorted(set(so) - set(lo))}")
        if set(ls) - set(sm):
            failures += 1
        sys.exit(1 if failures else 0)
    finally:
        for p in procs:
            p.terminate()
        server.shutdown()


if __name__ == "__main__":
    main()
