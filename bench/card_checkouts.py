#!/usr/bin/env python3
"""Card checkouts as new buyers make them, for bench/card-ab.sh.

    card_checkouts.py BASE_URL CODE WORKERS SECONDS LABEL

WORKERS threads each make whole card purchases of the work CODE for SECONDS, one after the
other, every one by a new buyer (its own address and cookies): the link page, Buy with an
email, the payment step, the built-in test provider's card form, and the return that lands on
the download page. The work is fulfilled by the same path Stripe's webhook takes. Prints one
JSON line: checkouts/s, journey latency p50/p99 in ms, errors and the first error.
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wallet_setup import Browser, hidden, pay_with_test_card  # noqa: E402

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def checkout(base, code, n):
    b = Browser(base, f"10.{88 + n // 65536 % 100}.{n // 256 % 256}.{n % 256}", UA)
    status, _, page = b.request("GET", f"/l/{code}")
    if status != 200:
        raise RuntimeError(f"link page: {status}")
    form = {"checkout_key": hidden(page, "checkout_key"), "source": "", "email": f"card{n}@bench.example"}
    status, pay, text = b.request("POST", f"/checkout/{code}", form)
    if not pay:
        raise RuntimeError(f"buy: {status} {text[:200]}")
    status, done, _ = b.request("GET", pay_with_test_card(b, pay))
    if not done or not done.startswith("/d/"):
        raise RuntimeError(f"return: {status} {done}")


def main():
    base, code, workers, seconds, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    lock = threading.Lock()
    latencies, errors, first_error = [], 0, None
    counter = [int(time.time() * 1000) % 1_000_000 * 64]
    deadline = time.monotonic() + seconds

    def work():
        nonlocal errors, first_error
        while time.monotonic() < deadline:
            with lock:
                counter[0] += 1
                n = counter[0]
            started = time.monotonic()
            try:
                checkout(base, code, n)
            except Exception as e:  # a failed journey is counted and reported, not fatal
                with lock:
                    errors += 1
                    first_error = first_error or str(e)
                continue
            with lock:
                latencies.append((time.monotonic() - started) * 1000)

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 1) if latencies else 0

    print(json.dumps({
        "label": label,
        "checkouts": len(latencies),
        "rps": len(latencies) / elapsed,
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99)},
        "errors": errors,
        "first_error": first_error,
    }))


if __name__ == "__main__":
    main()
