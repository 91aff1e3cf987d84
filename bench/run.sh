#!/usr/bin/env bash
# The benchmark suite (SPEC §11), `make bench`. Runs every benchmark, each
# figure the median of RUNS runs, ratios measured in the same run, and prints
# one table at the end (details of each benchmark above it).
#
#   bash bench/run.sh                 full run (the 60 s CPU-while-waiting, RUNS=7)
#   QUICK=1 bash bench/run.sh         shorter: RUNS=3, 10 s CPU wait, seed max_wait 5 s
#
# env: WAITLOOP_BIN (default build/waitloop, the plain build), RUNS, CPU_WAIT_S,
#      SKIP_STORE=1 (skip bench/store_bench.sh, which compiles a helper),
#      ROBOPPI_DIR (a roboppi checkout set up as in docs/benchmarks.md: adds
#      the side-by-side comparison; without it, waitloop's figures only),
#      SECTIONS (which sections, in which order; default below),
#      BENCH_DIR (default /tmp: where the temp tree goes -- e.g. a file
#      system of its own, which nobody else's deletions slow down),
#      SETTLE_S (default 90; 0: don't wait) and SETTLE_US (default 60): before
#      the first section, wait up to SETTLE_S seconds for a mkdir to cost
#      less than SETTLE_US µs (median of 100), i.e. for the deletions of the
#      last minute (the build's, other processes') to age out.
#
# File-system hygiene (docs/benchmarks.md, "The kernel side"): on ext4
# without a journal a deletion makes every create on the disk slower for
# about a minute, and the floors create nothing. So nothing here deletes
# before the end: every benchmark works below one temp dir (BENCH_TMP, and
# BENCH_SHM on tmpfs) that one trap removes when the suite exits, and the
# sections that time creates against the floor (3: the chain, 6: roboppi
# and the parallel floor) run first, before the sections that run tests or
# tools which clean up after themselves (2b's test_kstatus.sh, 5's compile).
# The table keeps the section order.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
WL=${WAITLOOP_BIN:-$root/build/waitloop}
if [ -n "${QUICK:-}" ]; then
	RUNS=${RUNS:-3}
	CPU_WAIT_S=${CPU_WAIT_S:-10}
	SEED_MAX_WAIT_S=${SEED_MAX_WAIT_S:-5}
else
	RUNS=${RUNS:-7}
	CPU_WAIT_S=${CPU_WAIT_S:-60}
	SEED_MAX_WAIT_S=${SEED_MAX_WAIT_S:-10}
fi
SECTIONS=${SECTIONS:-3 3b 6 1 2 2b 4a 4b 4c 5 7 8}
tmp=$(mktemp -d "${BENCH_DIR:-/tmp}/wl-bench-run.XXXXXX") || exit 2
shm=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then shm=$(mktemp -d /dev/shm/wl-bench-run.XXXXXX) || exit 2; fi
# The one deletion of the suite, at its end.
trap 'rm -rf "$tmp" ${shm:+"$shm"}' EXIT
export BENCH_TMP=$tmp BENCH_SHM=$shm
export NO_COLOR=1
declare -A ROWS
sec=""
row() { ROWS[$sec]+="$(printf '%-44s %-30s %-22s %s' "$1" "$2" "$3" "$4")"$'\n'; }
ok_if() { if awk "BEGIN {exit !($1)}"; then echo ok; else echo MISSED; fi; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print 0; else print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now_us() { echo $(($(date +%s%N) / 1000)); }
# time_us cmd... : wall time of one run in microseconds (output discarded)
time_us() {
	local t0
	t0=$(now_us)
	"$@" >/dev/null 2>&1
	echo $(($(now_us) - t0))
}
section() { printf '\n== %s\n' "$*"; }
# rows_of TAG CMD... : run a bench script, print its report, and turn its
# last lines "TAG|figure|measured|target|result" into rows of the table
rows_of() {
	local tag=$1 out _ fig meas tgt res
	shift
	out=$("$@" 2>&1)
	echo "$out" | grep -v "^$tag|"
	while IFS='|' read -r _ fig meas tgt res; do
		row "$fig" "$meas" "$tgt" "$res"
	done < <(echo "$out" | grep "^$tag|")
}

# The cost of a create now (bench/create_cost.c, 100 mkdirs; built here
# into build/bench, which is not removed): what other processes deleted in
# the last minute shows here. "?" without a C compiler.
cc_bin=$root/build/bench/create_cost
if [ ! -x "$cc_bin" ] || [ bench/create_cost.c -nt "$cc_bin" ]; then
	mkdir -p build/bench && "${CC:-cc}" -std=c11 -O2 -o "$cc_bin" bench/create_cost.c 2>/dev/null
fi
mkdir_us() { if [ -x "$cc_bin" ]; then "$cc_bin" mkdir "$tmp/mkdir-probe.$(date +%s%N)" 100 | awk '{print $3}'; else echo "?"; fi; }

echo "$("$WL" --version 2>/dev/null) — $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), RUNS=$RUNS, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "deletions by this bench before its end: none (one trap removes $tmp${shm:+ and $shm} at exit); sections in this order: $SECTIONS"
echo "mkdir now: $(mkdir_us) µs (median of 100; ~20-60 when the disk is calm, 100-250 within a minute of deletions)"
# settle: wait (at most SETTLE_S s) until a mkdir is cheap again
settle_s=${SETTLE_S:-90}
settle_us=${SETTLE_US:-60}
if [ "$settle_s" -gt 0 ] && [ -x "$cc_bin" ]; then
	t_settle=$SECONDS
	calm=0 # two probes in a row under the bar: one can pass by chance
	while :; do
		us=$(mkdir_us)
		if awk -v u="$us" -v m="$settle_us" 'BEGIN {exit !(u + 0 < m)}'; then calm=$((calm + 1)); else calm=0; fi
		[ "$calm" -ge 2 ] && break
		[ $((SECONDS - t_settle)) -ge "$settle_s" ] && break
		sleep 3
	done
	echo "settled: mkdir $us µs after $((SECONDS - t_settle)) s (wait until two in a row < $settle_us µs, at most $settle_s s)"
fi

# --- 1. time to decision, seed scenario -----------------------------------
s_1() {
	section "1. time to decision, seed scenario (bench/wait_seed.sh)"
	seed=$(WAITLOOP_BIN="$WL" MAX_WAIT_S=$SEED_MAX_WAIT_S bash bench/wait_seed.sh "$RUNS")
	echo "$seed"
	pa=$(echo "$seed" | awk '/^probe_aware/ {print $5}')
	to=$(echo "$seed" | awk '/^timeout_only/ {print $5}')
	bl=$(echo "$seed" | awk '/^bash_loop/ {print $5}')
	if [ -n "$pa" ] && [ -n "$to" ]; then
		row "early abort (probe_aware), seed scenario" "${pa} s (max_wait ${SEED_MAX_WAIT_S} s)" "<= 1 interval (1 s)" "$(ok_if "$pa <= 1.0")"
		row "  vs timeout_only / bash retry loop" "${to} s / ${bl} s" "= max_wait" "$(awk -v a="$to" -v b="$pa" 'BEGIN {printf "%.0fx", a / (b > 0 ? b : 0.001)}') faster"
	else
		row "early abort, seed scenario" "bench/wait_seed.sh failed" "" "MISSED"
	fi
}

# --- 2. false early aborts --------------------------------------------------
s_2() {
	section "2. false early aborts, slow-but-progressing corpus (bench/false_aborts.sh)"
	fa=$(WAITLOOP_BIN="$WL" bash bench/false_aborts.sh 2>&1)
	echo "$fa"
	n_fa=$(echo "$fa" | sed -n 's/^false early aborts: \([0-9]*\) of \([0-9]*\).*/\1/p')
	n_sc=$(echo "$fa" | sed -n 's/^false early aborts: \([0-9]*\) of \([0-9]*\).*/\2/p')
	row "false early aborts (progressing corpus)" "${n_fa:-?} of ${n_sc:-?} scenarios" "0" "$( [ "${n_fa:-1}" = 0 ] && echo ok || echo MISSED)"
}

# --- 2b. the kstatus corpus through the real kubectl -------------------------
s_2b() {
	section "2b. kstatus corpus through the real kubectl (tests/e2e/test_kstatus.sh)"
	if command -v kubectl >/dev/null 2>&1 && [ -z "${SKIP_KUBECTL:-}" ]; then
		KSTATUS_LANES=1 WAITLOOP_ROOT=$root WAITLOOP_BIN=$WL KSTATUS_DECISIONS=$tmp/kstatus.tsv \
			bash tests/e2e/test_kstatus.sh >"$tmp/kstatus.out" 2>&1
		grep -c '^PASS' "$tmp/kstatus.out" | sed 's/^/    cases passed: /'
		grep '^FAIL' "$tmp/kstatus.out" | sed 's/^/    /'
		if [ -s "$tmp/kstatus.tsv" ]; then
			# name kind exit observations ms
			awk -F'\t' '{printf "    %-38s %-8s exit %3d  decided at observation %2d  %6.2f s\n", $1, $2, $3, $4, $5 / 1000}' "$tmp/kstatus.tsv"
			kh=$(awk -F'\t' '$2 == "healthy"' "$tmp/kstatus.tsv" | wc -l)
			kfa=$(awk -F'\t' '$2 == "healthy" && $3 != 0' "$tmp/kstatus.tsv" | wc -l)
			kt=$(awk -F'\t' '$2 == "terminal"' "$tmp/kstatus.tsv" | wc -l)
			tmed=$(awk -F'\t' '$2 == "terminal" {print $5 / 1000}' "$tmp/kstatus.tsv" | median)
			omax=$(awk -F'\t' '$2 == "terminal" {print $4}' "$tmp/kstatus.tsv" | sort -n | tail -n 1)
			row "false early aborts (kubectl corpus)" "$kfa of $kh healthy sequences" "0" "$( [ "$kfa" = 0 ] && echo ok || echo MISSED)"
			row "  time to decision, $kt terminal sequences" "median ${tmed} s, latest at obs ${omax}" "first telling obs" "ok"
		else
			row "kstatus corpus (kubectl)" "tests/e2e/test_kstatus.sh failed" "" "MISSED"
		fi
	else
		echo "    skipped: kubectl not installed (or SKIP_KUBECTL set)"
	fi
}

gen_chain() { # N [parallel]
	echo "name: chain"
	echo 'version: "1"'
	echo "timeout: 30m"
	echo "steps:"
	local i
	for ((i = 1; i <= $1; i++)); do
		echo "  s$i:"
		echo "    worker: CUSTOM"
		echo "    instructions: \"true\""
		if [ "$i" -gt 1 ] && [ -z "${2:-}" ]; then echo "    depends_on: [s$((i - 1))]"; fi
	done
}
bash_loop200() { local i; for ((i = 0; i < 200; i++)); do bash -e -c true; done; }
# chain200 WS_PARENT DB LABEL: RUNS rounds of floor, run, floor, ... (a floor
# before and after every run), then the figures. Sets per_step.
chain200() {
	local wsp=$1 db=$2 label=$3 r prev next run_ms bash_ms paired
	: >"$tmp/run200.$label" && : >"$tmp/bash200.$label" && : >"$tmp/pair200.$label"
	prev=$(time_us bash_loop200)
	echo "$prev" >>"$tmp/bash200.$label"
	for ((r = 0; r < RUNS; r++)); do
		mkdir -p "$wsp/ws200.$r"
		time_us "$WL" run "$tmp/chain200.yaml" -w "$wsp/ws200.$r" -q --db "$db" >>"$tmp/run200.$label"
		next=$(time_us bash_loop200)
		echo "$next" >>"$tmp/bash200.$label"
		echo $(((prev + next) / 2)) >>"$tmp/pair200.$label"
		prev=$next
	done
	run_ms=$(median <"$tmp/run200.$label" | awk '{printf "%.1f", $1 / 1000}')
	bash_ms=$(median <"$tmp/bash200.$label" | awk '{printf "%.1f", $1 / 1000}')
	# Issue 19's definition: (median wall - median floor) / N. Beside it the
	# median over the runs of (run - mean of the floors just before and
	# after it) / N: steadier under a changing load, the same quantity when
	# the load is flat.
	per_step=$(awk -v a="$run_ms" -v b="$bash_ms" 'BEGIN {printf "%.2f", (a - b) / 200}')
	paired=$(paste -d ' ' "$tmp/run200.$label" "$tmp/pair200.$label" | awk '{print ($1 - $2) / 200 / 1000}' | median | awk '{printf "%.2f", $1}')
	echo "$label: waitloop run (200 steps): median ${run_ms} ms  (runs: $(tr '\n' ' ' <"$tmp/run200.$label") µs)"
	echo "$label: bash -e -c true x200:     median ${bash_ms} ms  (runs: $(tr '\n' ' ' <"$tmp/bash200.$label") µs)"
	echo "$label: per step: (median - median) / 200 = ${per_step} ms; paired (floor before and after) ${paired} ms; load $(cut -d' ' -f1-3 /proc/loadavg), mkdir $(mkdir_us) µs"
	figs="${per_step} ms (${run_ms} vs ${bash_ms} ms)"
}

# --- 3. runner overhead per CUSTOM step --------------------------------------
s_3() {
	section "3. runner overhead per CUSTOM step: 200-step chain of 'true'"
	gen_chain 200 >"$tmp/chain200.yaml"
	# One history database for all runs (a user's .waitloop/history.db
	# persists) and a new workspace per run, removed at the end of the suite.
	"$WL" run "$tmp/chain200.yaml" -w "$tmp" -q --context "$tmp/warm" --db "$tmp/h200.db" >/dev/null 2>&1
	chain200 "$tmp" "$tmp/h200.db" disk
	row "runner overhead per CUSTOM step" "$figs" "<= 0.5 ms (SPEC: 1)" "$(ok_if "$per_step <= 0.5")"
	# The same with the context directory and the database on tmpfs: what the
	# runner costs without this disk's inode allocation.
	if [ -n "$shm" ]; then
		chain200 "$shm" "$shm/h.db" tmpfs
		row "  the same, context + db on tmpfs" "$figs" "<= 0.5 ms (SPEC: 1)" "$(ok_if "$per_step <= 0.5")"
	fi
}

# --- 3b. the chain's critical path from kernel timestamps ---------------------
s_3b() {
	section "3b. latency per step on the chain, from the scheduler's tracepoints (bench/step_latency.sh)"
	RUNS=$RUNS WAITLOOP_BIN="$WL" rows_of row bash bench/step_latency.sh
}

# --- 4. validate, peak RSS, CPU while waiting --------------------------------
s_4a() {
	section "4a. validate of a 500-step workflow"
	gen_chain 500 >"$tmp/v500.yaml"
	"$WL" validate "$tmp/v500.yaml" >/dev/null 2>&1 || echo "validate of the 500-step workflow failed"
	: >"$tmp/val"
	for ((r = 0; r < RUNS * 2; r++)); do time_us "$WL" validate "$tmp/v500.yaml" >>"$tmp/val"; done
	val_ms=$(median <"$tmp/val" | awk '{printf "%.1f", $1 / 1000}')
	echo "validate 500 steps: median ${val_ms} ms (process start included; runs: $(tr '\n' ' ' <"$tmp/val") µs)"
	row "validate, 500-step workflow" "${val_ms} ms" "<= 20 ms" "$(ok_if "$val_ms <= 20")"
}

s_4b() {
	section "4b. peak RSS of the runner, 1000-step workflow (/usr/bin/time -v)"
	gen_chain 1000 >"$tmp/c1000.yaml"
	: >"$tmp/rss"
	for ((r = 0; r < RUNS; r++)); do
		mkdir -p "$tmp/ws1000.$r" # a new one per run: nothing deleted before the end
		/usr/bin/time -v "$WL" run "$tmp/c1000.yaml" -w "$tmp/ws1000.$r" -q --db "$tmp/ws1000.$r/h.db" \
			>/dev/null 2>"$tmp/rss.time"
		sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/rss.time" >>"$tmp/rss"
	done
	rss_kb=$(median <"$tmp/rss")
	rss_mb=$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}')
	echo "peak RSS, 1000-step chain: median ${rss_kb} KiB (runs: $(tr '\n' ' ' <"$tmp/rss") KiB)"
	row "peak RSS, 1000-step run" "${rss_mb} MB" "<= 10 MB" "$(ok_if "$rss_mb <= 10")"
}

s_4c() {
	section "4c. runner CPU while waiting (interval 1 s, ${CPU_WAIT_S} s, probe each observation)"
	hz=$(getconf CLK_TCK)
	mkdir -p "$tmp/cpu"
	# The probe's output changes every observation (no stall); the condition never holds.
	# shellcheck disable=SC2016
	"$WL" wait --condition false --probe 'echo "{\"t\":$(date +%s%N)}"' --interval 1s \
		--max-wait "${CPU_WAIT_S}s" --out "$tmp/cpu" --quiet >/dev/null 2>&1 &
	wpid=$!
	t0=$(now_us)
	last=""
	while kill -0 "$wpid" 2>/dev/null; do
		# utime + stime of the runner itself (fields 14, 15; children are not included)
		s=$(awk '{print $14 + $15}' "/proc/$wpid/stat" 2>/dev/null) && [ -n "$s" ] && last="$s $(now_us)"
		sleep 0.5
	done
	wait "$wpid"
	wrc=$?
	if [ -n "$last" ]; then
		read -r ticks t1 <<<"$last"
		cpu_pct=$(awk -v t="$ticks" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", 100 * (t / hz) / ((b - a) / 1e6)}')
		obs=$(wc -l <"$tmp/cpu/wait-probe.log")
		echo "wait exit $wrc, $obs observations; runner CPU ${ticks} ticks (1/${hz} s) over $(((t1 - t0) / 1000000)) s = ${cpu_pct} %"
		row "runner CPU while waiting (${CPU_WAIT_S} s)" "${cpu_pct} % (${ticks} ticks)" "<= 1 %" "$(ok_if "$cpu_pct <= 1")"
	else
		row "runner CPU while waiting" "not measured" "<= 1 %" "MISSED"
	fi
}

# --- 5. history --------------------------------------------------------------
s_5() {
	if [ -z "${SKIP_STORE:-}" ]; then
		section "5. history (bench/store_bench.sh)"
		st=$(bash bench/store_bench.sh 2>&1)
		echo "$st"
		wr=$(echo "$st" | sed -n 's/^ *per iteration: *median \([0-9.]*\) ms.*/\1/p')
		hi=$(echo "$st" | awk '/history +median/ {print $3; exit}')
		hall=$(echo "$st" | awk '/history --limit 0 +median/ {print $5; exit}')
		[ -n "$wr" ] && row "history write per iteration" "${wr} ms" "<= 1 ms median" "$(ok_if "$wr <= 1")"
		[ -n "$hi" ] && row "history over 10 000 runs (default limit)" "${hi} ms" "<= 100 ms" "$(ok_if "$hi <= 100")"
		[ -n "$hall" ] && row "  the same, every run (--limit 0)" "${hall} ms" "<= 100 ms" "$(ok_if "$hall <= 100")"
	fi
}

# --- 6. 200 parallel steps, and roboppi side by side ----------------------------
s_6() {
	section "6. side by side: hello world, 200-step chain, 200 parallel steps (bench/vs-roboppi.sh)"
	RUNS=$RUNS WAITLOOP_BIN="$WL" rows_of row bash bench/vs-roboppi.sh "${ROBOPPI_DIR:-}"
}

# --- 7. load: memory and time under load (bench/load.sh) ---------------------
s_7() {
	section "7. load: 1 GB step, 10 000 observations, 100 vs 1000 steps, 200 concurrent waits (bench/load.sh)"
	WAITLOOP_BIN="$WL" rows_of ROW bash bench/load.sh
}

# --- 8. insights: stats over 10 000 runs (bench/stats_bench.sh) --------------
s_8() {
	section "8. waitloop stats / tune over 10 000 runs (bench/stats_bench.sh)"
	sb=$(WAITLOOP_BIN="$WL" bash bench/stats_bench.sh 2>&1)
	echo "$sb"
	st=$(echo "$sb" | sed -n 's/^stats over .*: \([0-9]*\) ms wall.*/\1/p')
	row "stats over 10 000 runs" "${st:-?} ms" "<= 200 ms" "$(ok_if "${st:-999999} <= 200")"
}

took=""
for sec in $SECTIONS; do
	t_sec=$SECONDS
	if declare -F "s_$sec" >/dev/null; then "s_$sec"; else echo "bench/run.sh: no section '$sec'" >&2; fi
	took+=" $sec: $((SECONDS - t_sec)) s,"
done
echo
echo "time per section:${took%,}; total $SECONDS s"

printf '\n%-44s %-30s %-22s %s\n' "figure" "measured (median)" "target" "result"
for sec in 1 2 2b 3 3b 4a 4b 4c 5 6 7 8; do printf '%s' "${ROWS[$sec]:-}"; done
