#!/usr/bin/env bash
# A/B of two server binaries on batched wallet purchases (SQLite, 64 clients by default).
#
#   cp target/release/clink /tmp/clink-before    # then change the code, scripts/build-release
#   bench/wallet-ab.sh /tmp/clink-before target/release/clink
#
# A SQLite database is prepared once (wallet.sh's fixture, then one warm-up run so the indexes
# have some size, then each binary's migrations on a copy of its own), and every run starts from
# a fresh copy of it, the binaries alternating: a
# database grown by earlier runs favours neither side, and the order of the rounds is A B A B.
# Each run prints purchases/s, p50/p99, the server's CPU per purchase, and each thread group's
# share of one core (read from /proc over the middle of the run): the wallet writer
# (`wallet-writer`), its SQLite connection (the busiest `sqlx-sqlite-worker`), the HTTP
# workers (`tokio-runtime-worker`) and the WAL syncer.
#
# Environment:
#   ROUNDS        A/B pairs (default 3)
#   CONCURRENCY   clients (default 64); DURATION (default 10s), WARMUP (default 2s)
#   BUYERS        signed-in buyers (default 64), TOPUPS per buyer (default 8 × 500.00)
#   A_ENV, B_ENV  extra VAR=value settings for each side, e.g. B_ENV="CLINK_WALLET_MAX_BATCH=64"
#   PORT          default 39090
#
# Nothing is written to bench/results: an A/B is a step in deciding, the full run (wallet.sh)
# is the record.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_NAME=wallet-ab
# shellcheck source=bench/lib.sh
source bench/lib.sh

ab_binaries "$@"
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
BUYERS=${BUYERS:-64}
TOPUPS=${TOPUPS:-8}
PORT=${PORT:-39090}
need_release_build python3
use_port "$PORT"

# Seconds in a loadgen duration such as 10s or 500ms (whole seconds, at least 1).
seconds() { awk -v d="$1" 'BEGIN { n = d + 0; if (d ~ /ms$/) n /= 1000; else if (d ~ /m$/) n *= 60; print (n < 1 ? 1 : int(n)) }'; }

# Clock ticks of each thread group of process $1: "<name> <ticks>" lines. A connection's
# sqlx thread is reported alone when it is the busiest (the wallet writer's), the rest summed.
thread_ticks() { # pid
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s %s %s\n' "$(tr ' ' _ <"$t/comm")" "${t##*/}" "$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)"
    done
}

# Share of one core per thread group between two thread_ticks snapshots taken $3 seconds apart.
thread_shares() { # before, after, seconds
    join <(awk '{print $2, $1, $3}' <<<"$1" | sort) <(awk '{print $2, $3}' <<<"$2" | sort) |
        awk -v s="$3" -v hz="$(getconf CLK_TCK)" '{
            d = ($4 - $3) / hz / s * 100; name = $2
            if (name ~ /^sqlx-sqlite/) { if (d > top) { rest += top; top = d } else rest += d; next }
            if (name ~ /^tokio/) name = "http"
            share[name] += d
        } END {
            printf "writer-sqlite %.0f%%, writer %.0f%%, http %.0f%%, wal-sync %.0f%%, other sqlite %.0f%%",
                top, share["wallet-writer"], share["http"], share["wallet-wal-sync"], rest
        }'
}

export CLINK_DATA_DIR=$tmp/prepared
export CLINK_DATABASE_URL=sqlite://$CLINK_DATA_DIR/clink.db
mkdir -p "$CLINK_DATA_DIR"
CLINK=$A wallet_fixture sqlite
purchase() { # label
    wallet_purchases "$1" "$CONCURRENCY" sqlite "wallet-ab-run-$1"
}
echo "warming the database up with one run of A..." >&2
purchase warm-up >/dev/null
stop_server
# Each side starts from a copy of the database as its own migrations leave it, migrated once
# here: a newer binary migrating a copy grown by a warm-up at every start would measure its
# migrations (and could miss the start-up wait) instead of its purchases.
for side in A B; do
    rm -rf "$tmp/prepared-$side" && cp -a "$CLINK_DATA_DIR" "$tmp/prepared-$side"
    if [[ $side == A ]]; then binary=$A; else binary=$B; fi
    CLINK_DATA_DIR=$tmp/prepared-$side CLINK_DATABASE_URL=sqlite://$tmp/prepared-$side/clink.db "$binary" migrate >/dev/null 2>&1 ||
        echo "($side has no \`clink migrate\`: it migrates at each start)" >&2
done

window=$(($(seconds "$DURATION") - 2))
((window >= 1)) || window=1
results=()
for round in $(seq "$ROUNDS"); do
    for side in A B; do
        rm -rf "$tmp/run" && cp -a "$tmp/prepared-$side" "$tmp/run"
        if [[ $side == A ]]; then binary=$A extra=${A_ENV:-}; else binary=$B extra=${B_ENV:-}; fi
        # shellcheck disable=SC2086 # extra holds VAR=value words
        CLINK=$binary CLINK_DATA_DIR=$tmp/run CLINK_DATABASE_URL=sqlite://$tmp/run/clink.db start_server "$tmp/server.log" $extra
        purchase "$side-$round" >"$tmp/result.json" &
        loadgen_pid=$!
        sleep $(($(seconds "$WARMUP") + 1))
        before=$(thread_ticks "$server_pid")
        sleep "$window"
        after=$(thread_ticks "$server_pid")
        wait "$loadgen_pid" || die "loadgen failed (log: $tmp/server.log)"
        r=$(cat "$tmp/result.json")
        # Every answer must be a new purchase, or the figures measure something else.
        jq -e '.errors == 0 and (.statuses["201"] // 0) == .requests' <<<"$r" >/dev/null ||
            die "not every answer was 201 Created: $(jq -c '{errors, statuses, first_error}' <<<"$r") (log: $tmp/server.log)"
        results+=("$r")
        jq -r --arg side "$side" --arg threads "$(thread_shares "$before" "$after" "$window")" \
            '"round \(.label | split("-")[1]) \($side): \(.rps | floor)/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, server CPU \(.server_cpu_us_per_request // 0 | floor) µs/purchase, \(.errors) errors, statuses \(.statuses | tostring); threads: \($threads)"' <<<"$r"
        stop_server
    done
done
all=$(printf '%s\n' "${results[@]}")
a_runs=$(jq -c 'select(.label | startswith("A-"))' <<<"$all")
b_runs=$(jq -c 'select(.label | startswith("B-"))' <<<"$all")
echo "A: $A ${A_ENV:-}"
echo "B: $B ${B_ENV:-}"
echo "median B/A per round: purchases/s $(median_ratio "$a_runs" "$b_runs"), server CPU per purchase $(median_ratio "$a_runs" "$b_runs" '.server_cpu_us_per_request // 0')"
