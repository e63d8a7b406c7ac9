# Shared by the benchmark scripts; sourced, never run on its own. The caller sets ROOT (the
# project root, also the working directory) and BENCH_NAME (for messages) before sourcing.
# shellcheck shell=bash

CLINK=$ROOT/target/release/clink
LOADGEN=$ROOT/target/release/loadgen
PG_URL=${CLINK_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

# The release server and site must exist (we never build them here: that takes minutes and is
# the developer's call); the load generator is small and is built on demand.
need_release_build() { # extra commands the script needs
    [[ -x $CLINK ]] || die "$CLINK is missing: run scripts/build-release first"
    [[ -d $ROOT/target/site/pkg ]] || die "target/site/pkg is missing: run scripts/build-release first"
    local tool
    for tool in jq curl "$@"; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    echo "building loadgen (cargo build -p loadgen --release)..." >&2
    cargo build -q -p loadgen --release || die "could not build loadgen"
}

# The two server binaries an A/B script compares, from its arguments: sets A and B (absolute).
ab_binaries() { # "$@" of the script
    (($# == 2)) || die "usage: bench/$BENCH_NAME.sh BINARY_A BINARY_B"
    A=$(realpath "$1")
    B=$(realpath "$2")
    [[ -x $A && -x $B ]] || die "both binaries must exist and be executable"
}

stamp=$(date -u +%Y-%m-%dT%H%M%SZ) # the run's start
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clink-$BENCH_NAME.XXXXXX")
pids=()       # helper processes we started (not clink), stopped on exit
server_pid="" # the clink server currently running, if any
pg_db=""      # the throwaway PostgreSQL database, dropped on exit

bench_cleanup() {
    local pid
    stop_server
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n $pg_db ]]; then
        psql -q "$PG_URL" -c "drop database if exists $pg_db" >/dev/null 2>&1 || true
    fi
    if [[ ${KEEP_DATA:-0} == 1 ]]; then echo "data kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # URL, what
    local i
    for i in $(seq 1 150); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    die "$2 did not answer at $1 within 30 s"
}

# Points clink at one origin and the release site. Set explicitly so that a developer's .env
# (read by clink at start-up) cannot send the benchmark elsewhere.
use_port() {
    port_free "$1" || die "port $1 is in use (set PORT=...)"
    export CLINK_BASE_URL=http://127.0.0.1:$1
    export LEPTOS_SITE_ADDR=127.0.0.1:$1
    export LEPTOS_SITE_ROOT=$ROOT/target/site
    export RUST_LOG=${BENCH_RUST_LOG:-warn}
    base=http://127.0.0.1:$1
}

# Starts `clink serve` (after stopping the previous one) with extra VAR=value settings, and
# waits for /healthz.
start_server() { # log file, [VAR=value ...]
    stop_server
    local log=$1
    shift
    env "$@" "$CLINK" serve >>"$log" 2>&1 &
    server_pid=$!
    wait_for "$base/healthz" "clink serve (log: $log)"
}

# A server whose wallet writer commits at most $1 purchases per transaction (1: the baseline).
# Buyers sign up from addresses of their own (X-Forwarded-For, trusted here): sign-ups are
# rate limited per address.
start_wallet_server() { # max batch
    start_server "$tmp/server.log" "CLINK_WALLET_MAX_BATCH=$1" CLINK_TRUST_FORWARDED_FOR=true
}

# The wallet benchmarks' fixture on the current database: a creator with a 0.05 work (below the
# card minimum: wallet only) and BUYERS signed-in buyers topped up TOPUPS × 500.00 each, whose
# session cookies go to $tmp/cookies-<label>.txt. Leaves a batched server running; sets `code`.
wallet_fixture() { # label
    echo 'bench-password-not-secret-1' | "$CLINK" user create --email creator@bench.example --handle creator \
        --name "Bench Creator" --password-stdin >/dev/null
    local token
    token=$("$CLINK" token create --email creator@bench.example --name bench | tail -n 1)
    start_wallet_server 256
    printf 'bench file' >"$tmp/file.txt"
    code=$(curl -fsS -H "Authorization: Bearer $token" -F 'title=Five-cent sketch' -F currency=EUR \
        -F price_kind=fixed -F price=0.05 -F "files=@$tmp/file.txt" "$base/api/v1/works" | jq -r .work.code)
    [[ -n $code && $code != null ]] || die "could not create the work"
    echo "$1: signing up $BUYERS buyers and topping up $TOPUPS × 500.00 each..." >&2
    python3 bench/wallet_setup.py "$base" "$BUYERS" "$TOPUPS" "$tmp/cookies-$1.txt" ||
        die "setting up buyers failed (log: $tmp/server.log)"
}

# One loadgen run of wallet purchases by wallet_fixture's buyers (their cookies: the fixture's
# label), each purchase with its own idempotency key `<key prefix>-<n>`. Prints loadgen's JSON.
# A fifth argument adds JSON members to each body (`,"pay_later":true` for tab purchases).
wallet_purchases() { # run label, clients, fixture label, key prefix, [extra members]
    "$LOADGEN" run --json --label "$1" -c "$2" -d "$DURATION" -w "$WARMUP" --pid "$server_pid" \
        -m POST -H 'Content-Type: application/json' -H "Origin: $base" --connection-headers "$tmp/cookies-$3.txt" \
        -b "{\"code\":\"$code\",\"idempotency_key\":\"$4-{n}\"${5:-}}" "$base/api/wallet/purchases"
}

stop_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

# A fresh database on the PostgreSQL server at PG_URL, used by clink from now on.
use_fresh_postgres() { # name prefix
    psql -q "$PG_URL" -c 'select 1' >/dev/null 2>&1 || die "no PostgreSQL at $PG_URL"
    pg_db=$1_$(date +%s)
    psql -q "$PG_URL" -c "create database $pg_db" >/dev/null
    export CLINK_DATABASE_URL=${PG_URL%/*}/$pg_db
}

# `ROUNDS` rounds of two (or more) set-ups, alternating (A B A B ...), so that a machine whose
# speed drifts favours none: for each, `$start LABEL`, then `$measure LABEL ROUND` prints one loadgen
# JSON result. Sets `runs` to the results, and adds to `problems` each run for which the jq
# condition `$ok` does not hold. `what` names the runs in the progress lines.
alternate_rounds() { # what, label a, label b, start command, measure command, ok condition, [more labels]
    local what=$1 a=$2 b=$3 start=$4 measure=$5 ok=$6 round mode r bad
    local more=("${@:7}")
    runs=()
    for round in $(seq "$ROUNDS"); do
        for mode in "$a" "$b" "${more[@]}"; do
            "$start" "$mode"
            echo "$what, round $round/$ROUNDS: $mode..." >&2
            r=$("$measure" "$mode" "$round")
            jq -r '"  [\(.label)] \(.rps|floor)/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, server CPU \(.server_cpu_us_per_request // 0 | floor) µs/request, \(.errors) errors, statuses \(.statuses|tostring)"' <<<"$r" >&2
            bad=$(jq -r --arg what "$what" "select(($ok) | not) | \"\\(\$what) \\(.label): \\(.errors) errors, statuses \\(.statuses|tostring) \\(.first_error // \"\")\"" <<<"$r")
            [[ -n $bad ]] && problems+=("$bad")
            runs+=("$r")
        done
    done
}

# The median of a jq expression over JSON lines on stdin.
median() { jq -s "[.[] | $1] | sort | .[(length - 1) / 2 | floor]"; }

# The median over rounds of (b / a), from two equally long lists of loadgen results, for a jq
# expression (default .rps). Ratios are taken per round, because rounds differ in machine load.
median_ratio() { # results a, results b, [expression], [printf format]
    paste <(jq "${3:-.rps}" <<<"$1") <(jq "${3:-.rps}" <<<"$2") | awk '$1 > 0 {print $2 / $1}' | sort -g |
        awk -v fmt="${4:-%.2f}" '{a[NR] = $1} END {printf fmt, a[int((NR + 1) / 2)]}'
}

# "commit `abc1234`, server binary built <time>", and a warning when a source file is newer
# than the binary (a stale build would measure old code).
build_description() {
    local commit built newer
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- app server migrations 2>/dev/null || commit="$commit (with uncommitted changes in app/, server/ or migrations/)"
    built=$(date -u -r "$CLINK" +%Y-%m-%dT%H:%M:%SZ)
    newer=$(find app/src server/src migrations -type f -newer "$CLINK" 2>/dev/null | head -n 1)
    printf 'commit `%s`, server binary built %s' "$commit" "$built"
    if [[ -n $newer ]]; then
        printf ' (**warning: %s is newer than the binary; rebuild with scripts/build-release**)' "$newer"
    fi
}

cpu_description() {
    local cpu
    cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
    printf '`nproc` = %s%s' "$(nproc)" "${cpu:+ ($cpu)}"
}

# Writes bench/results/<name>-<stamp>.md, prints the report, and replaces the block between
# <!-- <name>-results:start --> and <!-- <name>-results:end --> in bench/README.md
# (unless UPDATE_README=0).
publish_results() { # name, title, report
    local name=$1 title=$2 report=$3 readme=bench/README.md
    mkdir -p bench/results
    local out=bench/results/$name-$stamp.md
    { echo "# $title — $stamp"; echo; echo "$report"; } >"$out"
    echo >&2
    echo "$report"
    echo >&2
    echo "wrote $out" >&2
    [[ ${UPDATE_README:-1} == 1 ]] || return 0
    if ! grep -q "<!-- $name-results:start -->" "$readme"; then
        echo "warning: $readme has no <!-- $name-results:start --> marker; not updated" >&2
        return 0
    fi
    REPORT="$report" RESULT_FILE="$out" START="<!-- $name-results:start -->" END="<!-- $name-results:end -->" awk '
        index($0, ENVIRON["START"]) { print; print ""; print ENVIRON["REPORT"]; print ""; print "(From `" ENVIRON["RESULT_FILE"] "`.)"; print ""; skip = 1; next }
        index($0, ENVIRON["END"]) { skip = 0 }
        !skip { print }
    ' "$readme" >"$readme.tmp" && mv "$readme.tmp" "$readme"
    echo "updated the $name results in $readme" >&2
}
