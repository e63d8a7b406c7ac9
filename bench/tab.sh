#!/usr/bin/env bash
# Tab benchmark: purchases on the tab against wallet purchases, on the same server and SQLite
# database in the same run (the issue's target: tab purchases/s ≥ 0.9 × wallet purchases/s at
# 64 clients, p99 < 25 ms). Both go through the wallet's group commit; a tab purchase also
# decides where it is paid from (the wallet's balance, the creator's tab setting, the tab's
# state), which the wallet purchase doesn't.
#
#   bench/tab.sh                          # 64 clients, 3 alternating rounds of 10 s
#   DURATION=5s ROUNDS=1 bench/tab.sh     # quick look
#
# Environment: DURATION (10s), WARMUP (2s), CONCURRENCY ("64"), ROUNDS (3), BUYERS (64 of each
# kind), PORT (39094), UPDATE_README (1), KEEP_DATA (0).
#
# Writes bench/results/tab-<UTC date and time>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_NAME=tab
# shellcheck source=bench/lib.sh
source bench/lib.sh

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-64}
ROUNDS=${ROUNDS:-3}
BUYERS=${BUYERS:-64}
TOPUPS=${TOPUPS:-$((2 * ROUNDS + 2))}
PORT=${PORT:-39094}

need_release_build python3
use_port "$PORT"
export CLINK_DATA_DIR=$tmp/sqlite
mkdir -p "$CLINK_DATA_DIR"
export CLINK_DATABASE_URL=sqlite://$CLINK_DATA_DIR/clink.db
# Buyers who have paid a tab get the operator's limit: high enough here never to be reached.
export CLINK_TAB_LIMIT=10000

wallet_fixture wallet
echo "tab: signing up $BUYERS buyers, each buying once on their tab and paying it by card..." >&2
python3 bench/wallet_setup.py "$base" "$BUYERS" 0 "$tmp/cookies-tab.txt" "$code" ||
    die "setting up tab buyers failed (log: $tmp/server.log)"

rows=()
problems=()
same_server() { :; }
measure_mode() { # label, round
    if [[ $1 == wallet ]]; then
        wallet_purchases wallet "$c" wallet "bench-tab-wallet-$c-$2"
    else
        wallet_purchases tab "$c" tab "bench-tab-ontab-$c-$2" ',"pay_later":true'
    fi
}
for c in $CONCURRENCY; do
    alternate_rounds "$c clients" wallet tab same_server measure_mode \
        '.errors == 0 and .non_2xx == 0 and ((.statuses["201"] // 0) == .requests)'
    all=$(printf '%s\n' "${runs[@]}")
    w_runs=$(jq -c 'select(.label == "wallet")' <<<"$all")
    t_runs=$(jq -c 'select(.label == "tab")' <<<"$all")
    w_rps=$(median .rps <<<"$w_runs"); w_p50=$(median .latency_ms.p50 <<<"$w_runs"); w_p99=$(median .latency_ms.p99 <<<"$w_runs")
    t_rps=$(median .rps <<<"$t_runs"); t_p50=$(median .latency_ms.p50 <<<"$t_runs"); t_p99=$(median .latency_ms.p99 <<<"$t_runs")
    w_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$w_runs"); t_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$t_runs")
    ratio=$(median_ratio "$w_runs" "$t_runs")
    rows+=("$(jq -rn "\"| $c | \($w_rps|floor) | \($w_p50) / \($w_p99) ms | \($w_cpu|floor) µs | \($t_rps|floor) | \($t_p50) / \($t_p99) ms | \($t_cpu|floor) µs | **$ratio** |\"")")
done
stop_server
if verify=$("$CLINK" ledger verify 2>&1); then
    verified="\`clink ledger verify\` after the run: passed ($(grep -m1 -oE '[0-9]+ transactions' <<<"$verify" || echo ok)), including every tab owing exactly its unsettled purchases"
else
    problems+=("clink ledger verify failed: $(tail -n 3 <<<"$verify" | tr '\n' ' ')")
    verified="\`clink ledger verify\` failed"
fi

report=$(
    echo "Run started $stamp, $(build_description), $(cpu_description)."
    echo "SQLite. The load generator and clink share these cores. Each cell: $DURATION measured after $WARMUP warm-up,"
    echo "closed loop, keep-alive, one signed-in buyer per connection, each request a new 0.05 EUR purchase with its own"
    echo "idempotency key (every answer must be \`201 Created\`). Wallet purchases ($BUYERS buyers with funded wallets) and"
    echo "tab purchases (\`\"pay_later\": true\`, $BUYERS other buyers with empty wallets who have paid a tab once) alternate on"
    echo "the same server ($ROUNDS round(s), medians; the ratio is taken per round, then the median). $verified."
    echo
    echo "| clients | wallet purchases/s | wallet p50 / p99 | wallet CPU/purchase | tab purchases/s | tab p50 / p99 | tab CPU/purchase | ratio tab/wallet |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    if ((${#problems[@]})); then
        echo
        echo "Problems:"
        printf -- '- %s\n' "${problems[@]}"
    fi
)
publish_results tab "Tab purchases against wallet purchases" "$report"
