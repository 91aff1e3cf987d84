#!/usr/bin/env bash
# Load figures that used to be timed assertions in tests/e2e/test_load.sh and
# test_run.sh (STYLE.md: benchmarks, not timed tests). The tests keep the
# structural checks (every step ran, every observation logged, no fd or
# zombie left); the runner's peak memory and the wall time live here.
#
#   bash bench/load.sh        (bench/run.sh runs it; WAITLOOP_BIN selects the binary)
#
# Prints the details, then one "ROW|figure|measured|target|result" line per
# figure for bench/run.sh's table.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
WL=${WAITLOOP_BIN:-$root/build/waitloop}
HELPER=$root/build/tools/wl-helper
# Under bench/run.sh (BENCH_TMP, BENCH_SHM) the temp dirs are left for
# run.sh to remove at its end: a deletion slows every create on this disk
# for a minute.
tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/wl-bench-load.XXXXXX") || exit 2
fast=$tmp
if [ -d "${BENCH_SHM:-/dev/shm}" ] && [ -w "${BENCH_SHM:-/dev/shm}" ]; then
	fast=$(mktemp -d "${BENCH_SHM:-/dev/shm}/wl-bench-load.XXXXXX") || exit 2
fi
[ -n "${BENCH_TMP:-}" ] || trap 'rm -rf "$tmp" "$fast"' EXIT
export NO_COLOR=1
ok_if() { if awk "BEGIN {exit !($1)}"; then echo ok; else echo MISSED; fi; }
rss_of() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
wall_of() { # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:01.23" -> seconds
	sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" | awk -F: '{s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.1f", s}'
}
row() { echo "ROW|$1|$2|$3|$4"; }

# 1. A step printing 1 GB: the runner streams it to stdout.log.
if [ -x "$HELPER" ]; then
	printf 'name: flood\nversion: "1"\ntimeout: 10m\nsteps:\n  flood: {worker: CUSTOM, instructions: %s}\n' \
		"'\"$HELPER\" flood 1000000000'" >"$tmp/flood.yaml"
	mkdir -p "$tmp/ws-flood"
	/usr/bin/time -v "$WL" run "$tmp/flood.yaml" -w "$tmp/ws-flood" -q --db "$tmp/ws-flood/h.db" \
		>/dev/null 2>"$tmp/flood.time"
	rc=$?
	rss=$(rss_of "$tmp/flood.time")
	echo "1 GB step: exit $rc, runner peak RSS ${rss} KiB, $(wall_of "$tmp/flood.time") s"
	row "peak RSS, a step printing 1 GB" "$(awk -v k="$rss" 'BEGIN {printf "%.1f MB", k / 1024}')" "< 32 MB" \
		"$( [ "$rc" -eq 0 ] && ok_if "${rss:-999999} < 32768" || echo MISSED)"
	# the 1 GB log goes at once when run alone; under bench/run.sh at its end
	[ -n "${BENCH_TMP:-}" ] || rm -rf "$tmp/ws-flood"
else
	row "peak RSS, a step printing 1 GB" "not measured" "build/tools/wl-helper missing (make test builds it)" "-"
fi

# 2. 10 000 observations in one wait (interval 1 ms, a dash counter).
mkdir -p "$fast/obs"
echo 0 >"$fast/obs/c"
# shellcheck disable=SC2016
printf 'read n < c; n=$((n + 1)); echo $n > c; [ $n -ge 10000 ]\n' >"$fast/obs/cond.sh"
(cd "$fast/obs" && /usr/bin/time -v "$WL" wait --mode timeout_only --interval 1ms --max-wait 600s \
	--out "$fast/obs/out" --quiet -- sh "$fast/obs/cond.sh" >/dev/null 2>"$fast/obs.time")
rc=$?
rss=$(rss_of "$fast/obs.time")
wall=$(wall_of "$fast/obs.time")
echo "10 000 observations: exit $rc, runner peak RSS ${rss} KiB, ${wall} s"
row "peak RSS, 10 000 observations in one wait" "$(awk -v k="$rss" 'BEGIN {printf "%.1f MB", k / 1024}') (${wall} s)" "< 16 MB" \
	"$( [ "$rc" -eq 0 ] && ok_if "${rss:-999999} < 16384" || echo MISSED)"

# 3. Memory per step: 100 against 1000 steps (concurrency 8).
gen() { # N
	printf 'name: big\nversion: "1"\ntimeout: 10m\nconcurrency: 8\nsteps:\n'
	local i
	for ((i = 0; i < $1; i++)); do
		printf '  s%d:\n    worker: CUSTOM\n    instructions: "true"\n' "$i"
		[ "$i" -lt 8 ] || printf '    depends_on: [s%d]\n' $((i - 8))
	done
}
for n in 100 1000; do
	gen "$n" >"$tmp/big$n.yaml"
	mkdir -p "$fast/ws-big$n"
	/usr/bin/time -v "$WL" run "$tmp/big$n.yaml" -w "$fast/ws-big$n" -q --db "$fast/ws-big$n/h.db" \
		>/dev/null 2>"$tmp/big$n.time"
done
r100=$(rss_of "$tmp/big100.time")
r1000=$(rss_of "$tmp/big1000.time")
echo "peak RSS: 100 steps ${r100} KiB, 1000 steps ${r1000} KiB"
row "peak RSS growth, 100 -> 1000 steps" "$((r1000 - r100)) KiB (${r100} -> ${r1000})" "< 4 MB" "$(ok_if "$r1000 - $r100 < 4096")"

# 4. 200 concurrent waits with probes (100 wait steps met at the 4th
#    observation, 100 guarded steps of 6 s): wall time of the whole run.
{
	printf 'name: waits200\nversion: "1"\ntimeout: 10m\nsteps:\n'
	for ((i = 0; i < 100; i++)); do
		cat <<EOF
  w$i:
    wait: {condition: 'n=\$(cat c$i 2>/dev/null || echo 0); echo \$((n + 1)) > c$i; [ \$n -ge 3 ]', target: t$i}
    wait_policy: {mode: probe_aware, interval: 500ms, max_wait: 90s, probe: 'echo "{\\"n\\": \$(cat c$i)}"'}
  g$i:
    worker: CUSTOM
    instructions: 'sleep 6'
    wait_policy: {mode: probe_aware, interval: 500ms, max_wait: 90s, probe: 'echo "{\\"t\\": \$(date +%s%N)}"'}
EOF
	done
} >"$tmp/waits.yaml"
mkdir -p "$fast/ws-waits"
/usr/bin/time -v "$WL" run "$tmp/waits.yaml" -w "$fast/ws-waits" -q --db "$fast/ws-waits/h.db" >/dev/null 2>"$tmp/waits.time"
rc=$?
wall=$(wall_of "$tmp/waits.time")
gobs=$(cat "$fast"/ws-waits/context/g*/wait-probe.log 2>/dev/null | wc -l)
echo "200 concurrent waits: exit $rc, ${wall} s, peak RSS $(rss_of "$tmp/waits.time") KiB, ${gobs} probe observations in the guarded steps (~11 each when idle)"
row "200 concurrent waits with probes" "${wall} s, ${gobs} guard observations" "< 60 s (6 s of sleep)" \
	"$( [ "$rc" -eq 0 ] && ok_if "$wall < 60" || echo MISSED)"
