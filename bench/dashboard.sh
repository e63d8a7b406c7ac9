#!/usr/bin/env bash
# Dashboard benchmark: how long a creator with a long history waits for /dashboard.
#
# Seeds one creator with `clink dev seed --sales 100000 --views 5000000` (the issue's size), signs
# in, then measures GET /dashboard on the release server against GET /healthz (one trivial query
# through the same middleware) in the same run, alternating. The target is a render under
# 300 ms on 2 cores: the dashboard reads hourly rollups kept up to date in the purchase's own
# transaction, never the sales themselves, so its cost should not grow with the history.
#
#   bench/dashboard.sh
#   BACKENDS=sqlite SALES=10000 VIEWS=500000 bench/dashboard.sh    # quick look
#
# Environment:
#   BACKENDS     "sqlite postgres" (default); PostgreSQL at CLINK_BENCH_POSTGRES_URL
#                (default postgres://postgres@127.0.0.1:5432/postgres, trust auth)
#   SALES, VIEWS the seeded history (default 100000 and 5000000, over 365 days)
#   DURATION     measured time per run (default 10s); WARMUP (default 2s)
#   CONCURRENCY  "1 4" (default): 1 = one creator's page load, 4 = several creators at once
#   ROUNDS       dashboard/healthz alternations (default 3); medians shown
#   PORT         default 39095
#   UPDATE_README 1 (default) writes the results into bench/README.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_NAME=dashboard
# shellcheck source=bench/lib.sh
source bench/lib.sh

BACKENDS=${BACKENDS:-sqlite postgres}
SALES=${SALES:-100000}
VIEWS=${VIEWS:-5000000}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-1 4}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-39095}

need_release_build
use_port "$PORT"

rows=()
notes=()
problems=()
for backend in $BACKENDS; do
    export CLINK_DATA_DIR=$tmp/$backend
    mkdir -p "$CLINK_DATA_DIR"
    if [[ $backend == postgres ]]; then
        use_fresh_postgres clink_dash
    else
        export CLINK_DATABASE_URL=sqlite://$CLINK_DATA_DIR/clink.db
    fi
    echo "$backend: seeding $SALES sales and $VIEWS views..." >&2
    seeded=$("$CLINK" dev seed --sales "$SALES" --views "$VIEWS" --days 365 --works 20) || die "seeding failed"
    echo "  $seeded" >&2
    notes+=("$backend: \`clink dev seed --sales $SALES --views $VIEWS --days 365 --works 20\` → $seeded")

    start_server "$tmp/server-$backend.log"
    jar=$tmp/jar-$backend
    curl -fsS -c "$jar" -o /dev/null -H "Origin: $base" -H 'Accept: application/json' \
        --data-urlencode email=seed@example.com --data-urlencode password=seed-password-123 "$base/api/login" ||
        die "signing in as the seeded creator failed"
    cookie=$(awk '$6 == "clink_session" {print $7}' "$jar")
    [[ -n $cookie ]] || die "no session cookie after login"
    # The page must really be the seeded dashboard, with its sales in it.
    page=$(curl -fsS -H "Cookie: clink_session=$cookie" "$base/dashboard")
    grep -q 'class="period ' <<<"$page" || die "/dashboard did not render the periods"
    bytes=${#page}

    for c in $CONCURRENCY; do
        runs=()
        for round in $(seq "$ROUNDS"); do
            for target in healthz dashboard; do
                echo "$backend, $c clients, round $round/$ROUNDS: $target..." >&2
                r=$("$LOADGEN" run --json --label "$target" -c "$c" -d "$DURATION" -w "$WARMUP" --pid "$server_pid" \
                    -H "Cookie: clink_session=$cookie" "$base/$target")
                jq -r '"  [\(.label)] \(.rps|floor)/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, server CPU \(.server_cpu_us_per_request // 0 | floor) µs/req"' <<<"$r" >&2
                bad=$(jq -r 'select(.errors > 0 or .non_2xx > 0) | "\(.label) c=\(.concurrency): \(.errors) errors, statuses \(.statuses|tostring)"' <<<"$r")
                [[ -n $bad ]] && problems+=("$backend $bad")
                runs+=("$r")
            done
        done
        all=$(printf '%s\n' "${runs[@]}")
        h=$(jq -c 'select(.label == "healthz")' <<<"$all")
        d=$(jq -c 'select(.label == "dashboard")' <<<"$all")
        h_p50=$(median .latency_ms.p50 <<<"$h"); d_p50=$(median .latency_ms.p50 <<<"$d")
        d_p99=$(median .latency_ms.p99 <<<"$d"); d_rps=$(median .rps <<<"$d")
        d_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$d")
        # Per round: dashboard p50 / healthz p50 (how many "trivial requests" one dashboard costs).
        ratio=$(median_ratio "$h" "$d" .latency_ms.p50 %.0f)
        rows+=("| $backend | $c | $h_p50 ms | $d_p50 ms | $d_p99 ms | $ratio× | $(jq -rn "$d_rps|floor") | $(jq -rn "$d_cpu/1000|floor") ms |")
    done
    stop_server
    notes+=("$backend: the page is $bytes bytes of HTML")
done

report=$(
    echo "Run started $stamp, $(build_description), $(cpu_description). The load generator"
    echo "shares the cores. Each cell: $DURATION after $WARMUP warm-up, closed loop, signed in as the seeded creator;"
    echo "\`/healthz\` and \`/dashboard\` alternate ($ROUNDS rounds, medians)."
    echo
    printf -- '- %s\n' "${notes[@]}"
    echo
    echo "| backend | clients | healthz p50 | dashboard p50 | dashboard p99 | dashboard/healthz (p50) | dashboards/s | server CPU/dashboard |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    if ((${#problems[@]})); then echo; echo "Problems:"; printf -- '- %s\n' "${problems[@]}"; fi
)
publish_results dashboard "Dashboard with a long history" "$report"
