#!/usr/bin/env bash
# A/B of two server binaries on card checkouts (SQLite, the built-in test provider).
#
#   cp target/release/clink /tmp/clink-before    # then change the code, scripts/build-release
#   bench/card-ab.sh /tmp/clink-before target/release/clink
#
# A creator and a 3.00 work are prepared once; every run starts from a fresh copy of that
# database, the binaries alternating (A B A B ...). WORKERS new buyers at a time make whole card
# purchases (bench/card_checkouts.py: link page, Buy, payment step, card form, return to the
# download page; five requests, the fulfilment on the path a provider's webhook takes). Each run
# prints checkouts/s, the journey's p50/p99 and the server's CPU per checkout; the summary is
# the median of the per-round B/A ratios.
#
# Environment: ROUNDS (default 3), WORKERS (default 8), DURATION in seconds (default 10),
# PORT (default 39095).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_NAME=card-ab
# shellcheck source=bench/lib.sh
source bench/lib.sh

ab_binaries "$@"
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-8}
DURATION=${DURATION:-10}
PORT=${PORT:-39095}
need_release_build python3
use_port "$PORT"

# Each checkout is a new buyer from an address of its own: per-address limits stay out of the
# figures, as they would for buyers arriving from a post.
card_server() { start_server "$tmp/server.log" CLINK_TRUST_FORWARDED_FOR=true "$@"; }

export CLINK_DATA_DIR=$tmp/prepared
export CLINK_DATABASE_URL=sqlite://$CLINK_DATA_DIR/clink.db
mkdir -p "$CLINK_DATA_DIR"
echo 'bench-password-not-secret-1' | "$A" user create --email creator@bench.example --handle creator \
    --name "Bench Creator" --password-stdin >/dev/null
token=$("$A" token create --email creator@bench.example --name bench | tail -n 1)
CLINK=$A card_server
printf 'bench file' >"$tmp/file.txt"
code=$(curl -fsS -H "Authorization: Bearer $token" -F 'title=Three-euro zine' -F currency=EUR \
    -F price_kind=fixed -F price=3.00 -F "files=@$tmp/file.txt" "$base/api/v1/works" | jq -r .work.code)
[[ -n $code && $code != null ]] || die "could not create the work"
echo "warming the database up with one run of A..." >&2
python3 bench/card_checkouts.py "$base" "$code" "$WORKERS" 5 warm-up >/dev/null
stop_server

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
results=()
for round in $(seq "$ROUNDS"); do
    for side in A B; do
        rm -rf "$tmp/run" && cp -a "$CLINK_DATA_DIR" "$tmp/run"
        if [[ $side == A ]]; then binary=$A; else binary=$B; fi
        CLINK=$binary CLINK_DATA_DIR=$tmp/run CLINK_DATABASE_URL=sqlite://$tmp/run/clink.db card_server
        before=$(cpu_ticks "$server_pid")
        r=$(python3 bench/card_checkouts.py "$base" "$code" "$WORKERS" "$DURATION" "$side-$round")
        after=$(cpu_ticks "$server_pid")
        r=$(jq -c --argjson ticks $((after - before)) --argjson hz "$(getconf CLK_TCK)" \
            '. + {server_cpu_us_per_request: (if .checkouts > 0 then $ticks / $hz * 1000000 / .checkouts else 0 end)}' <<<"$r")
        jq -e '.errors == 0 and .checkouts > 0' <<<"$r" >/dev/null ||
            die "checkouts failed: $(jq -c '{errors, first_error}' <<<"$r") (log: $tmp/server.log)"
        results+=("$r")
        jq -r --arg side "$side" \
            '"round \(.label | split("-")[1]) \($side): \(.rps * 10 | floor / 10) checkouts/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, server CPU \(.server_cpu_us_per_request | floor) µs/checkout"' <<<"$r"
        stop_server
    done
done
all=$(printf '%s\n' "${results[@]}")
a_runs=$(jq -c 'select(.label | startswith("A-"))' <<<"$all")
b_runs=$(jq -c 'select(.label | startswith("B-"))' <<<"$all")
echo "A: $A"
echo "B: $B"
echo "median B/A per round: checkouts/s $(median_ratio "$a_runs" "$b_runs"), server CPU per checkout $(median_ratio "$a_runs" "$b_runs" '.server_cpu_us_per_request')"
