#!/usr/bin/env bash
# outside.sh: the outside benchmark in one run, beside the floor and the ceiling.
#
# Builds the release binary, starts a gateway on its embedded defaults in a fresh temporary
# directory (SQLite, a development PKI it makes itself, the default registry and policy) with
# bench/outside.toml, which raises [limits] (it says why), then in turn:
#   1. ../shared/bench/compare.sh: the echo ceiling, the durable floor, and the gateway's
#      Send on one connection (an Intake of the mix to two municipalities the bench does not
#      subscribe for, from `ketenpoort bench --write-request`); the floor writes DELIVERIES
#      copies and AUDIT audit rows per request (defaults 2 and 3: the mix's signals go to two
#      receivers, or three, and each Send writes one acceptance and one record per copy);
#   2. `ketenpoort bench` against the same gateway: SENDERS municipalities, CONC in flight,
#      BENCH_SECONDS, subscribers acknowledging, the gateway's CPU and RSS sampled;
# and prints the figures side by side with the ratios: bench Send req/s / floor req/s, and
# bench Send p99 against the floor's p99.
#
# Knobs (environment): BENCH_SECONDS (20), INTERVAL (5), SENDERS (8), CONC (64), and for
# compare.sh DURATION (8), REPEATS (3), DELIVERIES (2), AUDIT (3); BENCH_ARGS adds options
# to `ketenpoort bench` (e.g. "--stall ngo-begeleiding" or "--prefill 1000000"). STORE_URL
# (a postgres:// URL, e.g. STORE_URL=$(bash .ci/postgres)) runs the gateway on PostgreSQL
# instead of its SQLite file: on a database of its own made on that server for the run with
# psql, and dropped at the end.
# CARGO_TARGET_DIR is honoured. Everything listens on 127.0.0.1; everything started here is
# stopped by its PID at the end, and the gateway at the latest when the run's time is up.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_BENCH:-$repo/../shared/bench}
BENCH_SECONDS=${BENCH_SECONDS:-20}; INTERVAL=${INTERVAL:-5}; SENDERS=${SENDERS:-8}
export CONC=${CONC:-64} DURATION=${DURATION:-8} REPEATS=${REPEATS:-3}
export DELIVERIES=${DELIVERIES:-2} AUDIT=${AUDIT:-3}
[[ -x $shared/compare.sh ]] || { echo "no $shared/compare.sh (set SHARED_BENCH)" >&2; exit 2; }

target=${CARGO_TARGET_DIR:-$repo/target}
nice -n 19 cargo build --release -q --manifest-path "$repo/Cargo.toml"
# compare.sh builds its instruments unniced; build them niced first, so that it finds them.
CARGO_TARGET_DIR=${BENCH_TARGET:-/tmp/ketenpoort-bench-target} nice -n 19 \
  cargo build --release -q --manifest-path "$shared/loadgen/Cargo.toml"
bin=$target/release/ketenpoort

work=$(mktemp -d /tmp/ketenpoort-outside.XXXXXX)
mkdir "$work/config"
cp "$repo/config/partners.toml" "$repo/config/policy.toml" "$work/config/"
cp "$repo/bench/outside.toml" "$work/config/ketenpoort.toml"
db=""
if [[ -n ${STORE_URL:-} ]]; then
  db=ketenpoort_outside_$$
  psql -q "$STORE_URL" -c "CREATE DATABASE $db"
  printf '\n[store]\nurl = "%s"\n' "${STORE_URL%/*}/$db" >>"$work/config/ketenpoort.toml"
fi
port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)"/\1/p' "$work/config/ketenpoort.toml" | head -1)
life=$(( (DURATION + 10) * REPEATS * 3 + BENCH_SECONDS + 300 ))

cd "$work"
# `timeout` ends the gateway when the run's time is up, whatever happens to this script.
timeout "$life" "$bin" serve >"$work/serve.log" 2>&1 & bounded=$!
stop() {
  kill "$bounded" 2>/dev/null; wait "$bounded" 2>/dev/null; cd /; rm -rf "$work"
  [[ -z $db ]] || psql -q "$STORE_URL" -c "DROP DATABASE IF EXISTS $db"
}
trap stop EXIT
for _ in $(seq 1 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$bounded" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.2
done
gateway=$(pgrep -P "$bounded")  # the gateway itself, whose CPU and memory the bench samples
gw=https://localhost:$port

"$bin" bench --write-request "$work/send.bin"
"$shared/compare.sh" --target "$gw" --method /ketenpoort.v1.SignalService/Send \
  --payload-file "$work/send.bin" --ca var/dev-pki/ca.pem \
  --cert var/dev-pki/gemeente-utrecht.pem --key var/dev-pki/gemeente-utrecht.key \
  | tee "$work/compare.txt"
# shellcheck disable=SC2086 # BENCH_ARGS are words to pass on
timeout $(( BENCH_SECONDS + 120 )) "$bin" bench --gateway "$gw" --duration "${BENCH_SECONDS}s" \
  --interval "${INTERVAL}s" --in-flight "$CONC" --senders "$SENDERS" --gateway-pid "$gateway" \
  --json ${BENCH_ARGS:-} >"$work/bench.json"

python3 - "$work/compare.txt" "$work/bench.json" <<'PY'
import collections, json, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, _, js = line.partition(" ")
    if js.startswith("{"):
        rows[name].append(json.loads(js))
med = {n: {f: statistics.median(r[f] for r in rs) for f in ("rps", "p50_ms", "p99_ms")} for n, rs in rows.items()}
b = json.load(open(sys.argv[2]))
s, d, g = b["send"], b["delivered"], b.get("gateway") or {}
print(f"\n{'':34s}{'req/s':>9s}{'p50 ms':>9s}{'p99 ms':>9s}")
for name, label in (("echo", "echo (ceiling), 1 connection"), ("floor", "floor (durable), 1 connection"), ("target", "Send via compare.sh, 1 connection")):
    m = med[name]
    print(f"{label:34s}{m['rps']:9.0f}{m['p50_ms']:9.2f}{m['p99_ms']:9.2f}")
sl = s["latency"]
print(f"{'Send via ketenpoort bench':34s}{s['req_per_s']:9.0f}{sl['p50_ms']:9.2f}{sl['p99_ms']:9.2f}")
dl = d["latency"]
print(f"{'send -> delivered (bench)':34s}{'':9s}{dl['p50_ms']:9.2f}{dl['p99_ms']:9.2f}   max {dl['max_ms']:.2f} ms")
print(f"\nbench Send / floor: {s['req_per_s'] / med['floor']['rps']:.2f}x req/s, p99 {sl['p99_ms']:.2f} ms vs floor {med['floor']['p99_ms']:.2f} ms "
      f"({sl['p99_ms'] / med['floor']['p99_ms']:.2f}x); bench Send / echo: {s['req_per_s'] / med['echo']['rps']:.2f}x")
print(f"errors: Send {s['errors_total']} {s['errors'] or ''}; copies {d['accepted']} accepted, {d['delivered']} delivered, "
      f"{d['acknowledged']} acknowledged, {d['pending']} pending, {d['stalled_pending']} for a stalled receiver")
if g:
    print(f"gateway: {g['cpu_cores']:.2f} cores, RSS max {g['rss_max_mib']:.1f} MiB; bench process: {b['bench']['cpu_cores']:.2f} cores")
print(f"({b['setup']['in_flight']} in flight over {len(b['setup']['senders'])} senders for {b['elapsed_s']:.1f} s; compare.sh medians of {len(rows['floor'])} rounds)")
PY
