#!/usr/bin/env bash
# A stress check of the test suite itself: run tests/run.sh [FILTER] N times
# in a row while N_BUSY busy loops keep the CPUs loaded, and report each
# round and a summary. A suite that is green here does not depend on the
# machine being idle. It does not build: `make test-deps test-build` first.
#
#   N=3 N_BUSY=2 bash tests/stress.sh [FILTER]
#
# env: N (rounds, default 3), N_BUSY (busy loops, default: the CPU count),
#      KEEP_LOGS=DIR (keep every round's output there; default: only the
#      red rounds', in a temporary directory that is printed),
#      and everything tests/run.sh reads (WAITLOOP_TEST_TIMEOUT_MULTIPLIER, ...).
# Exit status 0 when every round was green.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
filter=${1:-}
rounds=${N:-3}
busy=${N_BUSY:-$(nproc 2>/dev/null || echo 2)}
case "$rounds$busy" in *[!0-9]*) echo "tests/stress.sh: N and N_BUSY must be whole numbers" >&2; exit 2 ;; esac
logs=${KEEP_LOGS:-$(mktemp -d /tmp/waitloop-stress.XXXXXX)} || exit 2
mkdir -p "$logs" || exit 2

busy_pids=()
stop_busy() {
	local p
	for p in "${busy_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${busy_pids[@]}"; do wait "$p" 2>/dev/null; done
	busy_pids=()
}
trap stop_busy EXIT
trap 'stop_busy; exit 130' INT
trap 'stop_busy; exit 143' TERM
for ((i = 0; i < busy; i++)); do
	(while :; do :; done) &
	busy_pids+=($!)
done

echo "stress: $rounds rounds of tests/run.sh${filter:+ $filter} beside $busy busy loops ($(nproc) CPUs); logs in $logs"
green=0
red=0
results=()
for ((r = 1; r <= rounds; r++)); do
	log=$logs/round-$r.log
	start=$SECONDS
	bash tests/run.sh "$filter" >"$log" 2>&1
	rc=$?
	took=$((SECONDS - start))
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		green=$((green + 1))
		verdict=green
		[ -n "${KEEP_LOGS:-}" ] || rm -f "$log"
	else
		red=$((red + 1))
		verdict=RED
	fi
	results+=("round $r: $verdict  ${summary:-no summary (exit $rc)}  ${took}s")
	echo "${results[-1]}"
	if [ "$rc" -ne 0 ]; then
		grep -E '^(FAIL |failed: )|^    \| FAIL ' "$log" | sed 's/^/    /'
		echo "    (full output: $log)"
	fi
done
stop_busy
echo "stress summary: $green of $rounds rounds green, $red red (N_BUSY=$busy${filter:+, filter $filter})"
[ "$red" -eq 0 ] && [ -z "${KEEP_LOGS:-}" ] && rmdir "$logs" 2>/dev/null
[ "$red" -eq 0 ]
