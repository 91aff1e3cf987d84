#!/usr/bin/env bash
# The chain's critical path, from kernel timestamps (docs/benchmarks.md,
# "Latency per step"). Part of `make bench` (section 3b).
#
#   bash bench/step_latency.sh
#
# A chain of N `true` steps spends its wall time in two places: the steps
# themselves (bash starting, running `true`, exiting) and the gaps between
# them -- from one step's exit to the next step's exec -- which are the
# runner's: reap, record, decide, spawn. The floor's bash loop has the same
# gaps (its wait4, its fork). `perf record` of the scheduler's
# sched_process_exit / sched_process_exec tracepoints gives each gap to the
# microsecond, so the runner's added latency per step is the median gap of
# waitloop minus the median gap of the floor, over ~N gaps per run: steadier
# than (wall - floor) / N, which also carries the noise of every step's own
# run. Runs alternate (waitloop, floor) RUNS times; the figure is the median
# of the per-run medians.
#
# env: RUNS (default 5), N (200), WAITLOOP_BIN (default build/waitloop).
# Needs perf (Debian: linux-perf) with access to the sched tracepoints
# (root, or kernel.perf_event_paranoid <= -1); says so and measures nothing
# otherwise. The last line is "row|figure|measured|target|result".
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
WL=${WAITLOOP_BIN:-$root/build/waitloop}
RUNS=${RUNS:-5}
N=${N:-200}
[ -x "$WL" ] || { echo "step_latency: $WL not built (make build/waitloop)" >&2; exit 2; }
tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/wl-step-latency.XXXXXX") || exit 2
# Removed at the end by bench/run.sh when it gave BENCH_TMP (no deletion
# before the suite's end), else here.
[ -n "${BENCH_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1

if ! command -v perf >/dev/null 2>&1 ||
	! perf record -q -e sched:sched_process_exec -o "$tmp/probe.data" true >/dev/null 2>&1; then
	echo "step_latency: not measured -- perf with the sched tracepoints is not available here"
	echo "row|chain: runner latency per step (kernel timestamps)|not measured|perf sched tracepoints|-"
	exit 0
fi

{
	echo "name: chain"
	echo 'version: "1"'
	echo 'timeout: "30m"'
	echo "steps:"
	for ((i = 1; i <= N; i++)); do
		echo "  s$i:"
		echo "    worker: CUSTOM"
		echo '    instructions: "true"'
		if [ "$i" -gt 1 ]; then echo "    depends_on: [s$((i - 1))]"; fi
	done
} >"$tmp/chain.yaml"

# gaps LABEL CMD... : one run under perf; appends "median_gap_us median_step_us n" to $tmp/LABEL
seq_no=0
gaps() {
	local label=$1 data
	shift
	seq_no=$((seq_no + 1))
	data="$tmp/$label.$seq_no.data"   # a new file each time: perf renames an existing one
	perf record -q -e sched:sched_process_exec -e sched:sched_process_exit -o "$data" "$@" >/dev/null 2>&1
	perf script -i "$data" 2>/dev/null | awk '
		function ts(   t) { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { t = $i; sub(":", "", t); return t } }
		/sched_process_exec: filename=.*\/bash / { t = ts(); if (last_exit) g[++n] = (t - last_exit) * 1e6; started = t; next }
		/sched_process_exit: comm=bash / { t = ts(); if (started) d[++m] = (t - started) * 1e6; last_exit = t; started = 0 }
		function med(a, k,   i, j, x) {
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
			return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		END { if (n && m) printf "%.0f %.0f %d\n", med(g, n), med(d, m), n; else print "- - 0" }' >>"$tmp/$label"
}
for ((r = 1; r <= RUNS; r++)); do
	mkdir -p "$tmp/ws$r"
	gaps waitloop "$WL" run "$tmp/chain.yaml" -w "$tmp/ws$r" -q --no-progress --db "$tmp/history.db"
	gaps floor bash -c "for ((i = 0; i < $N; i++)); do bash -e -c true; done"
done
med_col() { awk -v c="$1" '$1 != "-" {print $c}' "$2" | sort -n | awk '{a[NR] = $1} END {if (!NR) print "-"; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
wg=$(med_col 1 "$tmp/waitloop") fg=$(med_col 1 "$tmp/floor")
ws=$(med_col 2 "$tmp/waitloop") fs=$(med_col 2 "$tmp/floor")
echo "step_latency: $N-step chain, RUNS=$RUNS, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-28s %16s %16s\n' "" "gap exit->exec" "step exec->exit"
printf '  %-28s %13s us %13s us\n' "waitloop" "$wg" "$ws" "floor: bash loop" "$fg" "$fs"
if [ "$wg" = - ] || [ "$fg" = - ]; then
	echo "row|chain: runner latency per step (kernel timestamps)|not measured|no bash exec seen|-"
	exit 0
fi
d=$(awk -v a="$wg" -v b="$fg" 'BEGIN {printf "%.3f", (a - b) / 1000}')
echo "row|chain: runner latency per step (kernel timestamps)|$d ms (gap $wg vs $fg us, median)|<= 0.5 ms|$(awk -v v="$d" 'BEGIN {print (v <= 0.5) ? "ok" : "MISSED"}')"
