#!/usr/bin/env bash
# Wallet benchmark: one-click wallet purchases over HTTP (POST /api/wallet/purchases) from many
# signed-in buyers against the release server, on SQLite (synchronous=FULL) and on PostgreSQL.
# For each concurrency it alternates two servers on the same database:
#   baseline  CLINK_WALLET_MAX_BATCH=1    one purchase per transaction (one fsync each)
#   batched   CLINK_WALLET_MAX_BATCH=256  group commit (default)
# and reports purchases/s, p50/p99 and the ratio batched/baseline measured in the same run.
#
#   bench/wallet.sh                                  # SQLite and PostgreSQL, 1/16/64 clients
#   BACKENDS=sqlite DURATION=5s ROUNDS=1 bench/wallet.sh   # quick look
#
# Environment:
#   BACKENDS        "sqlite postgres" (default); PostgreSQL needs CLINK_BENCH_POSTGRES_URL's
#                   server (default postgres://postgres@127.0.0.1:5432/postgres, trust auth)
#   DURATION        measured time per run (default 10s); WARMUP (default 2s)
#   CONCURRENCY     space-separated client counts (default "1 16 64")
#   ROUNDS          baseline/batched alternations per concurrency (default 2); medians shown
#   BUYERS          signed-in buyers, one per connection (default 64); TOPUPS per buyer (default 4 × ROUNDS + 2, each 500.00: the first buyer takes part in every run)
#   PORT            port for clink (default 39090)
#   UPDATE_README   1 (default) writes the results into bench/README.md
#   KEEP_DATA       1 keeps the temporary data directory
#
# Writes bench/results/wallet-<UTC date and time>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_NAME=wallet
# shellcheck source=bench/lib.sh
source bench/lib.sh

BACKENDS=${BACKENDS:-sqlite postgres}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-1 16 64}
ROUNDS=${ROUNDS:-2}
BUYERS=${BUYERS:-64}
# The first buyer takes part in every run, and at 1 client spends ~1,400.00 a round (0.05 x
# ~1,300/s x 12 s, baseline and batched): fund it for the rounds asked.
TOPUPS=${TOPUPS:-$((4 * ROUNDS + 2))}
PORT=${PORT:-39090}

need_release_build python3
use_port "$PORT"

# One server at a time, on the current database, with the given largest batch.
rows=()
problems=()
durability=()
for backend in $BACKENDS; do
    export CLINK_DATA_DIR=$tmp/$backend
    mkdir -p "$CLINK_DATA_DIR"
    case $backend in
        sqlite)
            export CLINK_DATABASE_URL=sqlite://$CLINK_DATA_DIR/clink.db
            durability+=("SQLite: WAL, 2 KiB pages; every purchase is fsynced before it is answered (baseline: \`synchronous=FULL\`, one commit and fsync per purchase; batched: the writer commits at \`NORMAL\` and a second thread fsyncs the WAL, then answers, while the next batch is applied)")
            ;;
        postgres)
            use_fresh_postgres clink_bench
            settings=$(psql -Atq "$CLINK_DATABASE_URL" -c "select string_agg(name || '=' || setting, ', ' order by name) from pg_settings where name in ('fsync', 'synchronous_commit', 'wal_sync_method', 'max_connections')")
            durability+=("PostgreSQL $(psql -Atq "$CLINK_DATABASE_URL" -c 'show server_version'): $settings")
            ;;
        *) die "unknown backend $backend (sqlite or postgres)" ;;
    esac

    wallet_fixture "$backend"

    start_mode() { if [[ $1 == baseline ]]; then start_wallet_server 1; else start_wallet_server 256; fi; }
    measure_mode() { wallet_purchases "$1" "$c" "$backend" "bench-$backend-$c-$2-$1"; } # label, round
    for c in $CONCURRENCY; do
        alternate_rounds "$backend, $c clients" baseline batched start_mode measure_mode \
            '.errors == 0 and .non_2xx == 0 and ((.statuses["201"] // 0) == .requests)'
        all=$(printf '%s\n' "${runs[@]}")
        base_runs=$(jq -c 'select(.label == "baseline")' <<<"$all")
        batch_runs=$(jq -c 'select(.label == "batched")' <<<"$all")
        b_rps=$(median .rps <<<"$base_runs"); b_p50=$(median .latency_ms.p50 <<<"$base_runs"); b_p99=$(median .latency_ms.p99 <<<"$base_runs")
        g_rps=$(median .rps <<<"$batch_runs"); g_p50=$(median .latency_ms.p50 <<<"$batch_runs"); g_p99=$(median .latency_ms.p99 <<<"$batch_runs")
        g_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$batch_runs")
        ratio=$(median_ratio "$base_runs" "$batch_runs")
        rows+=("$(jq -rn "\"| $backend | $c | \($b_rps|floor) | \($b_p50) / \($b_p99) ms | \($g_rps|floor) | \($g_p50) / \($g_p99) ms | **$ratio** | \($g_cpu|floor) µs |\"")")
    done
    stop_server
    # Every purchase the benchmark made must add up.
    if verify=$("$CLINK" ledger verify 2>&1); then
        durability+=("\`clink ledger verify\` on the $backend database after the run: passed ($(grep -m1 -oE '[0-9]+ transactions' <<<"$verify" || echo ok))")
    else
        problems+=("clink ledger verify failed on $backend: $(tail -n 3 <<<"$verify" | tr '\n' ' ')")
    fi
done

report=$(
    echo "Run started $stamp, $(build_description), $(cpu_description)."
    echo "The load generator and clink share these cores. Each cell: $DURATION measured after $WARMUP warm-up,"
    echo "closed loop, keep-alive, one signed-in buyer per connection ($BUYERS buyers), each request a new 0.05 EUR"
    echo "purchase with its own idempotency key (every answer must be \`201 Created\`). Baseline and batched servers"
    echo "alternate on the same database ($ROUNDS round(s), medians; the ratio is taken per round, then the median)."
    echo
    printf -- '- %s\n' "${durability[@]}"
    echo
    echo "| backend | clients | baseline purchases/s | baseline p50 / p99 | batched purchases/s | batched p50 / p99 | ratio batched/baseline | batched server CPU/purchase |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    if ((${#problems[@]})); then
        echo
        echo "Problems:"
        printf -- '- %s\n' "${problems[@]}"
    fi
)
publish_results wallet "Wallet purchases: group commit vs one purchase per transaction" "$report"
