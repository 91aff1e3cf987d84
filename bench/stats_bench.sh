#!/usr/bin/env bash
# `waitloop stats` over 10 000 runs (issue 21: answers in <= 200 ms).
#
#   bash bench/stats_bench.sh [RUNS_IN_DB]     (default 10000)
#
# Records 200 runs of the test workload (tests/tools/gen_history.py) through
# the real store, then copies them with new run ids up to RUNS_IN_DB runs
# (SQL copies: recording 250 000 events one by one would take minutes), and
# prints the median wall time of 5 `stats --json` and 5 `tune` calls, and
# the CPU time of one (less sensitive to a loaded machine).
# env: WAITLOOP_BIN (default build/waitloop), WAITLOOP_TOOLS (build/tools).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
WL=${WAITLOOP_BIN:-$root/build/waitloop}
TOOLS=${WAITLOOP_TOOLS:-$root/build/tools}
n=${1:-10000}
# Under bench/run.sh (BENCH_TMP) the temp dir is left for run.sh to remove.
tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/wl-stats-bench.XXXXXX") || exit 2
[ -n "${BENCH_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
python3 "$root/tests/tools/gen_history.py" 200 "$tmp/truth.json" >"$tmp/ev.jsonl" || exit 1
"$TOOLS/store_feed" "$tmp/h.db" <"$tmp/ev.jsonl" || exit 1
python3 - "$tmp/h.db" "$n" <<'PY' || exit 1
import sqlite3, sys
db, want = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
copies = max(0, want // 200 - 1)
cols = {t: [r[1] for r in db.execute("PRAGMA table_info(%s)" % t)] for t in
        ("runs", "steps", "iterations", "verdict_fingerprints", "waits", "observations", "git_snapshots")}
def copy(table, k, rename):
    c = cols[table]
    sel = ", ".join(rename.get(x, x) for x in c)
    db.execute("INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s" % (
        table, ", ".join(c), sel, table, "run_id NOT LIKE '%%-c%%'" if table != "runs" and table != "observations" else
        ("id NOT LIKE '%%-c%%'" if table == "runs" else "wait_id < 1000000")))
off = 1000000
for k in range(1, copies + 1):
    sfx = "'-c%d'" % k
    copy("runs", k, {"id": "id || %s" % sfx})
    for t in ("steps", "iterations", "verdict_fingerprints", "git_snapshots"):
        copy(t, k, {"run_id": "run_id || %s" % sfx})
    copy("waits", k, {"id": "id + %d" % (k * off), "run_id": "run_id || %s" % sfx})
    copy("observations", k, {"id": "NULL", "wait_id": "wait_id + %d" % (k * off)})
db.commit()
print("runs in the database:", db.execute("SELECT count(*) FROM runs").fetchone()[0],
      "waits:", db.execute("SELECT count(*) FROM waits").fetchone()[0],
      "observations:", db.execute("SELECT count(*) FROM observations").fetchone()[0])
PY
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
s=$(for _ in 1 2 3 4 5; do ms "$WL" stats --json "$tmp/h.db"; done | median)
t=$(for _ in 1 2 3 4 5; do ms "$WL" tune deploy/api "$tmp/h.db"; done | median)
cpu=$( { /usr/bin/time -f '%U %S' "$WL" stats --json "$tmp/h.db" >/dev/null; } 2>&1 | awk '{printf "%d", ($1 + $2) * 1000}')
echo "stats over $n runs: ${s} ms wall (median of 5), ${cpu} ms CPU"
echo "tune over $n runs: ${t} ms wall (median of 5)"
