#!/usr/bin/env bash
# Lighthouse on a link page, as a phone sees it (Lighthouse's default mobile run: a mid-range
# phone on a slow 4G link, simulated), on the release server with SQLite. The work has a cover
# and a Markdown description, like a real one. Prints the four category scores, the page weight
# and the paint metrics, and writes them to bench/results/lighthouse-<UTC date and time>.md.
#
#   npm install --prefix /tmp/lh lighthouse          # once (from the npm registry)
#   LIGHTHOUSE=/tmp/lh/node_modules/.bin/lighthouse bench/lighthouse.sh
#
# Environment: LIGHTHOUSE (default: lighthouse on PATH), CHROME_PATH (default /usr/bin/chromium),
# PORT (default 39082), KEEP_DATA=1 keeps the data directory and the full JSON report.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_NAME=lighthouse
# shellcheck source=bench/lib.sh
source bench/lib.sh

LIGHTHOUSE=${LIGHTHOUSE:-lighthouse}
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}
PORT=${PORT:-39082}
command -v "$LIGHTHOUSE" >/dev/null || die "lighthouse is required (npm install lighthouse; set LIGHTHOUSE=its path)"
[[ -x $CLINK && -d $ROOT/target/site/pkg ]] || die "run scripts/build-release first"
for tool in jq curl python3; do command -v "$tool" >/dev/null || die "$tool is required"; done

use_port "$PORT"
mkdir -p "$tmp/data"
export CLINK_DATA_DIR=$tmp/data
export CLINK_DATABASE_URL=sqlite://$tmp/data/clink.db
echo 'bench-password-not-secret-1' | "$CLINK" user create --email bench@example.com --handle bench \
    --name "Bench Creator" --password-stdin >/dev/null
TOKEN=$("$CLINK" token create --email bench@example.com --name bench | tail -n 1)
start_server "$tmp/server.log"

# A 1600×1000 cover (a gradient, as a PNG written by hand: no imaging tools needed).
python3 - "$tmp/cover.png" <<'PY'
import struct, sys, zlib
w, h = 1600, 1000
rows = b"".join(b"\x00" + bytes(v for x in range(w) for v in ((x * 255) // w, (y * 255) // h, 150)) for y in range(h))
chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
head -c 200000 /dev/urandom >"$tmp/zine.pdf"
description='A short zine about **light**: how a page gets to a phone, and what it carries on the way.

- 24 pages
- printable A5'
work_json=$(curl -fsS -H "Authorization: Bearer $TOKEN" -F 'title=Night Album' -F "description=$description" \
    -F currency=EUR -F price_kind=fixed -F price=0.20 -F "files=@$tmp/zine.pdf" -F "cover=@$tmp/cover.png" \
    "$base/api/v1/works") || die "creating the work through the API failed"
code=$(jq -r '.work.code' <<<"$work_json")
[[ -n $code && $code != null ]] || die "no .work.code in the API answer: $work_json"
url=$base/l/$code

echo "lighthouse (mobile) on $url ..." >&2
"$LIGHTHOUSE" "$url" --quiet --output=json --output-path="$tmp/report.json" \
    --chrome-flags="--headless=new --no-sandbox" \
    --only-categories=performance,accessibility,best-practices,seo >/dev/null 2>"$tmp/lighthouse.log" ||
    die "lighthouse failed (log: $tmp/lighthouse.log)"

mkdir -p bench/results
out=bench/results/lighthouse-$stamp.md
{
    echo "# Lighthouse, mobile, link page ($stamp)"
    echo
    echo "Commit $(git rev-parse --short HEAD), $(jq -r '.lighthouseVersion' "$tmp/report.json" | sed 's/^/Lighthouse /'), $("$CHROME_PATH" --version 2>/dev/null | head -n1)."
    echo
    echo "| category | score |"
    echo "|---|---:|"
    jq -r '.categories | to_entries[] | "| \(.value.title) | \(.value.score * 100 | round) |"' "$tmp/report.json"
    echo
    echo "| measure | value |"
    echo "|---|---:|"
    jq -r '.audits as $a | [
        ["Page weight (bytes, all requests)", ($a["total-byte-weight"].numericValue | round)],
        ["Requests", ($a["network-requests"].details.items | length)],
        ["First Contentful Paint", $a["first-contentful-paint"].displayValue],
        ["Largest Contentful Paint", $a["largest-contentful-paint"].displayValue],
        ["Total Blocking Time", $a["total-blocking-time"].displayValue],
        ["Cumulative Layout Shift", $a["cumulative-layout-shift"].displayValue]
      ][] | "| \(.[0]) | \(.[1]) |"' "$tmp/report.json"
    failing=$(jq -r '[.audits[] | select(.score != null and .score < 1 and .scoreDisplayMode == "binary") | .title] | join("; ")' "$tmp/report.json")
    echo
    echo "Binary audits not passed: ${failing:-none}."
} >"$out"
cat "$out"
[[ ${KEEP_DATA:-0} == 1 ]] && cp "$tmp/report.json" "bench/results/lighthouse-$stamp.json"
echo "written to $out" >&2
