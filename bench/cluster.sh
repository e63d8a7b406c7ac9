#!/usr/bin/env bash
# Cluster benchmark: the cluster mode of the wallet and link-page benchmarks. On one PostgreSQL
# database, with Debian's nginx round-robin in front (the deployment the README describes), it
# alternates
#   one      1 clink server behind nginx
#   three    3 clink servers behind nginx, on the same machine and database
#   standby  3 clink servers running, nginx sending every request to the first
# and measures, through nginx, one-click wallet purchases and the link page. It reports req/s and
# p99 for each, the ratio three/one, and the CPU the clink processes used per request (all
# servers added up, nginx not included). On one machine three servers can't be faster, and the
# CPU ratio three/one mixes the cluster machinery with the cost of splitting the load (batches a
# third as large, three caches, three runtimes on two cores). The standby mode keeps the
# machinery (the other servers listen for change notifications, claim outbox rows, run their
# pools and background jobs) without the split: its CPU ratio to one server is what the
# machinery costs per request.
#
#   bench/cluster.sh
#   DURATION=5s ROUNDS=1 CONCURRENCY=16 bench/cluster.sh      # quick look
#
# Environment:
#   DURATION, WARMUP   measured time per run (default 10s) and unrecorded warm-up (default 2s)
#   CONCURRENCY        space-separated client counts (default "16 64")
#   WORKLOADS          "wallet link" (default), or one of them
#   ROUNDS             one/three alternations per workload and concurrency (default 2); medians
#   BUYERS             signed-in buyers, one per connection (default 64); TOPUPS × 500.00 each
#   PORT               nginx's port (default 19100: below the ephemeral range, since nginx opens a
#                      connection per request and could hold a restarting server's port); the
#                      servers use the next three
#   NGINX              the nginx binary (default /usr/sbin/nginx; apt-get install nginx-light)
#   CLINK_BENCH_POSTGRES_URL   the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
#   UPDATE_README, KEEP_DATA   as in the other benchmarks
#
# Writes bench/results/cluster-<UTC date and time>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_NAME=cluster
# shellcheck source=bench/lib.sh
source bench/lib.sh

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-16 64}
WORKLOADS=${WORKLOADS:-wallet link}
ROUNDS=${ROUNDS:-2}
BUYERS=${BUYERS:-64}
TOPUPS=${TOPUPS:-$((2 * ROUNDS + 2))}
PORT=${PORT:-19100}
NGINX=${NGINX:-/usr/sbin/nginx}
UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'

need_release_build python3 psql
[[ -x $NGINX ]] || die "$NGINX is missing (apt-get install nginx-light, or set NGINX=...)"
for i in 1 2 3; do port_free $((PORT + i)) || die "port $((PORT + i)) is in use (set PORT=...)"; done
use_port "$PORT" # the public origin is nginx's
use_fresh_postgres clink_cluster_bench
export CLINK_DATA_DIR=$tmp/data CLINK_TRUST_FORWARDED_FOR=true
# Servers behind one balancer share the signing key (and here, on one machine, the files).
CLINK_SECRET_KEY=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
export CLINK_SECRET_KEY
mkdir -p "$CLINK_DATA_DIR"

# The fixture, made on one server listening on nginx's port (then stopped): a 0.05 work, its
# link code in $code, and BUYERS topped-up buyers whose cookies are in $tmp/cookies-cluster.txt.
wallet_fixture cluster
stop_server

mkdir -p "$tmp/nginx"
nginx_conf() { # servers nginx sends requests to
    local upstreams="" i
    for i in $(seq 1 "$1"); do upstreams+="        server 127.0.0.1:$((PORT + i)) max_fails=1 fail_timeout=2s;"$'\n'; done
    cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/client_body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    upstream clink {
$upstreams    }
    server {
        listen 127.0.0.1:$PORT;
        location / {
            proxy_pass http://clink;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
}
nginx_args=(-p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf")
nginx_cmd() { "$NGINX" "${nginx_args[@]}" "$@"; }

cluster_pids=()
stop_cluster() {
    local pid
    for pid in "${cluster_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${cluster_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    cluster_pids=()
}
nginx_pid=""
cluster_cleanup() {
    stop_cluster
    if [[ -n $nginx_pid ]]; then
        # QUIT: the master takes its workers with it (a killed master leaves them running).
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    bench_cleanup
}
trap cluster_cleanup EXIT

# Starts `n` servers at once on the shared database, and nginx (or reloads it) in front of the
# first `serving` of them (default: all).
start_cluster() { # n, [serving]
    stop_cluster
    local i
    for i in $(seq 1 "$1"); do
        LEPTOS_SITE_ADDR=127.0.0.1:$((PORT + i)) "$CLINK" serve >>"$tmp/server-$i.log" 2>&1 &
        cluster_pids+=($!)
    done
    for i in $(seq 1 "$1"); do wait_for "http://127.0.0.1:$((PORT + i))/healthz" "clink server $i (log: $tmp/server-$i.log)"; done
    nginx_conf "${2:-$1}"
    if [[ -z $nginx_pid ]]; then
        # exec: $! is then nginx's master itself, not a subshell around it.
        (exec "$NGINX" "${nginx_args[@]}" -g 'daemon off;') &
        nginx_pid=$!
    else
        nginx_cmd -s reload
        sleep 1
    fi
    wait_for "$base/healthz" "nginx (log: $tmp/nginx/error.log)"
}

measure() { # workload, label, clients, round -> a loadgen JSON line
    local pid_args=() pid
    for pid in "${cluster_pids[@]}"; do pid_args+=(--pid "$pid"); done
    case $1 in
        wallet)
            "$LOADGEN" run --json --label "$2" -c "$3" -d "$DURATION" -w "$WARMUP" "${pid_args[@]}" \
                -m POST -H 'Content-Type: application/json' -H "Origin: $base" --connection-headers "$tmp/cookies-cluster.txt" \
                -b "{\"code\":\"$code\",\"idempotency_key\":\"cluster-$2-$3-$4-{n}\"}" "$base/api/wallet/purchases"
            ;;
        link)
            "$LOADGEN" run --json --label "$2" -c "$3" -d "$DURATION" -w "$WARMUP" "${pid_args[@]}" \
                -H "User-Agent: $UA" -H 'Accept: text/html' "$base/l/$code"
            ;;
    esac
}

start_mode() {
    case $1 in
        one) start_cluster 1 ;;
        three) start_cluster 3 ;;
        standby) start_cluster 3 1 ;;
    esac
}
measure_mode() { measure "$workload" "$1" "$c" "$2"; } # label, round

rows=()
problems=()
for workload in $WORKLOADS; do
    for c in $CONCURRENCY; do
        alternate_rounds "$workload, $c clients" one three start_mode measure_mode '.errors == 0 and .non_2xx == 0' standby
        all=$(printf '%s\n' "${runs[@]}")
        one=$(jq -c 'select(.label == "one")' <<<"$all")
        three=$(jq -c 'select(.label == "three")' <<<"$all")
        standby=$(jq -c 'select(.label == "standby")' <<<"$all")
        s_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$standby")
        machinery=$(median_ratio "$one" "$standby" '.server_cpu_us_per_request // 0')
        o_rps=$(median .rps <<<"$one"); o_p99=$(median .latency_ms.p99 <<<"$one"); o_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$one")
        t_rps=$(median .rps <<<"$three"); t_p99=$(median .latency_ms.p99 <<<"$three"); t_cpu=$(median '.server_cpu_us_per_request // 0' <<<"$three")
        ratio=$(median_ratio "$one" "$three")
        cpu_ratio=$(median_ratio "$one" "$three" '.server_cpu_us_per_request // 0')
        name=$([[ $workload == wallet ]] && echo "wallet purchases" || echo "link page")
        rows+=("$(jq -rn "\"| $name | $c | \($o_rps|floor) | \($o_p99) ms | \($t_rps|floor) | \($t_p99) ms | **$ratio** | \($o_cpu|floor) µs | \($t_cpu|floor) µs | **$cpu_ratio** | \($s_cpu|floor) µs | **$machinery** |\"")")
    done
done
stop_cluster
if verify=$("$CLINK" ledger verify 2>&1); then
    verified="\`clink ledger verify\` after the run: passed ($(grep -m1 -oE '[0-9]+ transactions' <<<"$verify" || echo ok))."
else
    problems+=("clink ledger verify failed: $(tail -n 3 <<<"$verify" | tr '\n' ' ')")
    verified=""
fi

report=$(
    echo "Run started $stamp, $(build_description), $(cpu_description), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'),"
    echo "PostgreSQL $(psql -Atq "$CLINK_DATABASE_URL" -c 'show server_version')."
    echo "nginx, the clink servers, PostgreSQL and the load generator share these cores. Each cell: $DURATION"
    echo "measured after $WARMUP warm-up, closed loop, keep-alive to nginx (nginx opens a connection per"
    echo "request to a server, as configured in the README). Wallet: one signed-in buyer per connection"
    echo "($BUYERS buyers), each request a new 0.05 EUR purchase; link page: a browser User-Agent, so views are"
    echo "counted. One server, three, and three with nginx sending everything to the first (standby) alternate"
    echo "($ROUNDS round(s), medians; ratios per round, then the median). clink CPU/request adds up every clink"
    echo "process's user + system CPU in the measured window. Machinery CPU ratio: standby ÷ one server. $verified"
    echo
    echo "| workload | clients | 1 server req/s | 1 server p99 | 3 servers req/s | 3 servers p99 | ratio 3/1 | clink CPU/req, 1 | clink CPU/req, 3 | CPU ratio 3/1 | clink CPU/req, standby | machinery CPU ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    if ((${#problems[@]})); then
        echo
        echo "Problems:"
        printf -- '- %s\n' "${problems[@]}"
    fi
)
publish_results cluster "Cluster: one vs three servers behind nginx on PostgreSQL" "$report"
