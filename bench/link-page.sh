#!/usr/bin/env bash
# Link-page benchmark: throughput and p99 of a creator's link page (/l/{code}) on the release
# server with SQLite, against a raw axum handler serving the very same bytes, measured in the
# same run (alternating) so that the ratio link/raw is meaningful on a noisy machine.
#
#   bench/link-page.sh                      # concurrency 1, 16, 64; 10 s each after 2 s warm-up
#   DURATION=5s CONCURRENCY="16" bench/link-page.sh
#
# Environment:
#   DURATION        measured time per run (default 10s)
#   WARMUP          unrecorded warm-up per run (default 2s)
#   CONCURRENCY     space-separated connection counts (default "1 16 64")
#   ROUNDS          raw/link alternations per concurrency (default 3); the table shows medians
#   HEALTHZ         1 (default) also measures /healthz as a second reference; 0 skips it
#   PORT            port for clink (default 39080); RAW_PORT for the raw handler (default 39081)
#   LOADGEN_THREADS tokio threads of the load generator (default: one per CPU)
#   UPDATE_README   1 (default) writes the table into bench/README.md; 0 leaves it alone
#   KEEP_DATA       1 keeps the temporary data directory (its path is printed)
#
# Writes bench/results/link-page-<UTC date and time>.md and updates the "Link page" section of
# bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_NAME=link-page
# shellcheck source=bench/lib.sh
source bench/lib.sh

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-1 16 64}
ROUNDS=${ROUNDS:-3}
HEALTHZ=${HEALTHZ:-1}
PORT=${PORT:-39080}
RAW_PORT=${RAW_PORT:-39081}
UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'

need_release_build
port_free "$RAW_PORT" || die "port $RAW_PORT is in use (set RAW_PORT=...)"
use_port "$PORT"
export CLINK_DATA_DIR=$tmp/data
export CLINK_DATABASE_URL=sqlite://$tmp/data/clink.db

# --- A creator, a token, a running server and one published work ------------------------------
echo 'bench-password-not-secret-1' | "$CLINK" user create --email bench@example.com --handle bench \
    --name "Bench Creator" --password-stdin >/dev/null
TOKEN=$("$CLINK" token create --email bench@example.com --name bench | tail -n 1)
[[ -n $TOKEN ]] || die "clink token create printed no token"

start_server "$tmp/server.log"

head -c 200000 /dev/urandom >"$tmp/zine.pdf"
description='A short zine about **benchmarks**: what they measure, what they do not, and why a
ratio against a baseline from the same run is worth more than an absolute number.

- 24 pages
- printable A5'
work_json=$(curl -fsS -H "Authorization: Bearer $TOKEN" \
    -F 'title=Benchmark Zine' -F "description=$description" \
    -F currency=EUR -F price_kind=fixed -F price=4.99 -F "files=@$tmp/zine.pdf" \
    "$base/api/v1/works") || die "creating the work through the API failed"
code=$(jq -r '.work.code' <<<"$work_json")
short_url=$(jq -r '.work.short_url' <<<"$work_json")
[[ -n $code && $code != null ]] || die "no .work.code in the API answer: $work_json"
link_url=$base/l/$code

status=$(curl -sS -o "$tmp/link.html" -w '%{http_code}' -A "$UA" "$link_url")
[[ $status == 200 ]] || die "$link_url answered $status"
page_bytes=$(wc -c <"$tmp/link.html")

# --- The baseline: the same bytes from a bare axum handler ------------------------------------
"$LOADGEN" serve-raw --bytes-from "$link_url" -H "User-Agent: $UA" --port "$RAW_PORT" \
    --save-body "$tmp/raw.html" 2>"$tmp/raw.log" &
raw_pid=$!
pids+=($raw_pid)
wait_for "http://127.0.0.1:$RAW_PORT/l/$code" "loadgen serve-raw (log: $tmp/raw.log)"
raw_url=http://127.0.0.1:$RAW_PORT/l/$code
raw_bytes=$(wc -c <"$tmp/raw.html")
content_type=$(curl -sS -o /dev/null -w '%{content_type}' "$raw_url")

echo "link page $short_url: $page_bytes bytes; raw handler serves $raw_bytes bytes of $content_type" >&2

# --- Alternating runs ----------------------------------------------------------------------------
threads_args=()
[[ -n ${LOADGEN_THREADS:-} ]] && threads_args=(--threads "$LOADGEN_THREADS")

measure() { # label, url, concurrency, pid -> JSON line on stdout
    "$LOADGEN" "${threads_args[@]}" run --json --label "$1" -c "$3" -d "$DURATION" -w "$WARMUP" --pid "$4" \
        -H "User-Agent: $UA" -H 'Accept: text/html' "$2"
}

fmt() { jq -rn "$1"; }

rows=()
health_rows=()
problems=()
for c in $CONCURRENCY; do
    runs=()
    for round in $(seq "$ROUNDS"); do
        targets=("raw $raw_url $raw_pid" "link $link_url $server_pid")
        [[ $HEALTHZ == 1 ]] && targets+=("healthz $base/healthz $server_pid")
        for t in "${targets[@]}"; do
            read -r label url pid <<<"$t"
            echo "concurrency $c, round $round/$ROUNDS: $label..." >&2
            r=$(measure "$label" "$url" "$c" "$pid")
            jq -r '"  [\(.label)] \(.rps|floor) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, max \(.latency_ms.max) ms, server CPU \(.server_cpu_us_per_request // 0 | floor) µs/req, \(.errors) errors, \(.non_2xx) non-2xx, \(.mean_body_bytes|floor) B"' <<<"$r" >&2
            bad=$(jq -r 'select(.errors > 0 or .non_2xx > 0) | "\(.label) c=\(.concurrency): \(.errors) errors, \(.non_2xx) non-2xx \(.statuses|tostring) \(.first_error // "")"' <<<"$r")
            [[ -n $bad ]] && problems+=("$bad")
            runs+=("$r")
        done
    done
    all=$(printf '%s\n' "${runs[@]}")
    pick() { jq -c "select(.label == \"$1\")" <<<"$all"; }
    raw=$(pick raw); link=$(pick link)
    raw_rps=$(median .rps <<<"$raw"); link_rps=$(median .rps <<<"$link")
    raw_p99=$(median .latency_ms.p99 <<<"$raw"); link_p99=$(median .latency_ms.p99 <<<"$link")
    raw_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$raw"); link_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$link")
    # Ratio per round (each pair measured back to back), then the median.
    ratio=$(median_ratio "$raw" "$link")
    rows+=("$(fmt "\"| $c | \($raw_rps|floor) | \($raw_p99) ms | \($link_rps|floor) | \($link_p99) ms | **$ratio** | \($raw_cpu|floor) µs | \($link_cpu|floor) µs |\"")")
    if [[ $HEALTHZ == 1 ]]; then
        health=$(pick healthz)
        h_rps=$(median .rps <<<"$health"); h_p99=$(median .latency_ms.p99 <<<"$health")
        h_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$health")
        h_ratio=$(median_ratio "$raw" "$health")
        health_rows+=("$(fmt "\"| $c | \($h_rps|floor) | \($h_p99) ms | $h_ratio | \($h_cpu|floor) µs |\"")")
    fi
done

# --- Report ----------------------------------------------------------------------------------------
loadgen_threads=${LOADGEN_THREADS:-$(nproc)}

table=$(
    echo "| concurrency | raw req/s | raw p99 | link req/s | link p99 | ratio link/raw | raw server CPU/req | link server CPU/req |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    if ((${#health_rows[@]})); then
        echo
        echo "Second reference, same run: \`GET /healthz\` (one trivial SQLite query through the full middleware stack)."
        echo
        echo "| concurrency | healthz req/s | healthz p99 | ratio healthz/raw | healthz server CPU/req |"
        echo "|---:|---:|---:|---:|---:|"
        printf '%s\n' "${health_rows[@]}"
    fi
)
report=$(
    echo "Run started $stamp, $(build_description), $(cpu_description)."
    echo "Load generator (\`loadgen\`, $loadgen_threads threads), clink and the raw handler all share these cores."
    echo "Each cell: $DURATION measured after $WARMUP warm-up, closed loop, keep-alive, no compression"
    echo "(no \`Accept-Encoding\`), browser User-Agent; raw and link runs alternate ($ROUNDS round(s), medians shown)."
    echo "Page: $page_bytes bytes of \`$content_type\`. Server CPU/req = user+system CPU of the serving process during"
    echo "the measured window divided by the requests served (from \`/proc\`; robust to other load on the machine)."
    echo
    echo "$table"
    if ((${#problems[@]})); then
        echo
        echo "Errors or non-2xx answers:"
        printf -- '- %s\n' "${problems[@]}"
    fi
)

publish_results link-page "Link page vs raw axum handler" "$report"
