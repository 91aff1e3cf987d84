#!/usr/bin/env bash
# waitloop against roboppi on the same CUSTOM workflows, side by side
# (docs/benchmarks.md, "Against roboppi"). Part of `make bench`.
#
#   bash bench/vs-roboppi.sh [ROBOPPI_DIR]
#
# Workflows: roboppi's examples/hello-world.yaml (waitloop's copy in
# bench/ when roboppi is absent), a 200-step chain of `true` (each step
# depends on the previous) and 200 independent steps of `true`.
# Systems, run alternately in every round so that machine load hits all of
# them alike: waitloop, roboppi --direct, roboppi supervised (its default),
# and the floor -- the shells both start, `bash -e -c true`: 200 in a shell
# loop for the chain, `xargs -P 200` (the same concurrency: both runners
# start every ready step at once) for the parallel workflow, started by
# the same harness as the systems (time -v, setsid, timeout: harness()
# below). The floor runs before and after every system run (F S1 F S2 F
# S3 F), so each system run has a floor on both sides.
# Per system and workflow: min/median/max wall time and median peak RSS
# (/usr/bin/time -v); per-step overhead = (median wall - median floor) / N
# (issue 19), and beside it the median over the rounds of (wall - mean of
# the floors just before and just after it) / N ("paired": steadier when
# the load changes). "CPU/step": the runner's own CPU per step, from
# separate runs under `perf stat -i -e task-clock` (-i: the runner process
# alone, not its children -- the shells -- nor its threads), median over
# the rounds / N; perf's start-up never enters the wall times. For
# waitloop that is its loop thread, the one that starts the steps (its two
# writer threads -- documents and history -- are not counted); for roboppi
# --direct it is bun's main thread only (a lower bound: bun's helper
# threads are not counted); roboppi supervised does its work in Core child processes, so
# "-". "-" too when perf does not work here (NO_PERF=1 skips it).
# The bench deletes nothing until it exits (one trap); the runs themselves
# may (waitloop replaces files by rename, SQLite removes its -wal/-shm):
# a "mkdir" line per round gives the cost of a create at that moment
# (bench/create_cost.c, 100 mkdirs; docs/benchmarks.md "The kernel side").
# Without ROBOPPI_DIR (or when it has no bun) it says so and prints
# waitloop's figures only.
#
# env: RUNS (default 7, at least 5 for the published table), N (200),
#      RUN_TIMEOUT (seconds per run, default 600),
#      WAITLOOP_BIN (default build/waitloop), BUN (default
#      ROBOPPI_DIR/node_modules/.bin/bun), KEEP=1 keeps the workspaces,
#      NO_PERF=1, BENCH_TMP (a directory to work in, left for the caller
#      to remove: bench/run.sh removes everything at its end), SETTLE_S and
#      SETTLE_US (below), BENCH_DIR (default /tmp; alone: where the temp
#      tree goes).
# The last lines are "row|figure|measured|target|result" for bench/run.sh.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
WL=${WAITLOOP_BIN:-$root/build/waitloop}
RUNS=${RUNS:-7}
N=${N:-200}
RDIR=${1:-${ROBOPPI_DIR:-}}
BUN=${BUN:-${RDIR:+$RDIR/node_modules/.bin/bun}}
[ -x "$WL" ] || { echo "vs-roboppi: $WL not built (make build/waitloop)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "vs-roboppi: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }

have_roboppi=0
why=""
if [ -z "$RDIR" ]; then
	why="no ROBOPPI_DIR given"
elif [ ! -f "$RDIR/src/workflow/run.ts" ]; then
	why="'$RDIR' is not a roboppi checkout (no src/workflow/run.ts)"
elif [ ! -x "$BUN" ]; then
	why="no bun at '$BUN' (see docs/benchmarks.md for the set-up)"
else
	have_roboppi=1
	PATH="$(cd "$(dirname "$BUN")" && pwd):$PATH" # supervised mode starts `bun` by name
	export PATH
fi

tmp=$(mktemp -d "${BENCH_TMP:-${BENCH_DIR:-/tmp}}/wl-vs-roboppi.XXXXXX") || exit 2
# Workspaces are removed at the end, not between runs: a deletion makes
# ext4 (without a journal) skip the freed inodes on every create for the
# next minute. Under bench/run.sh (BENCH_TMP) its own trap removes them.
# waitloop keeps one history database for all its runs, as a user's
# .waitloop/history.db does (a new database costs a few fsyncs once).
cleanup() { if [ -n "${KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi; }
[ -n "${BENCH_TMP:-}" ] || trap cleanup EXIT
export NO_COLOR=1

gen() { # name parallel(0|1)
	echo "name: $1"
	echo 'version: "1"'
	echo 'timeout: "30m"'
	echo "steps:"
	local i
	for ((i = 1; i <= N; i++)); do
		echo "  s$i:"
		echo "    worker: CUSTOM"
		echo '    instructions: "true"'
		echo "    capabilities: [READ]" # roboppi requires it; waitloop accepts it
		if [ "$2" = 0 ] && [ "$i" -gt 1 ]; then echo "    depends_on: [s$((i - 1))]"; fi
	done
}
gen chain 0 >"$tmp/chain.yaml"
gen parallel 1 >"$tmp/parallel.yaml"
if [ "$have_roboppi" = 1 ] && [ -f "$RDIR/examples/hello-world.yaml" ]; then
	cp "$RDIR/examples/hello-world.yaml" "$tmp/hello.yaml"
else
	cp "$root/bench/hello-world.yaml" "$tmp/hello.yaml"
fi

now_us() { echo $(($(date +%s%N) / 1000)); }
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
# Kill (by pid) every process still in session $1, and say so.
reap_session() {
	[ -n "${1:-}" ] || return 0
	local left
	left=$(ps -eo pid=,sid= | awk -v s="$1" '$2 == s {print $1}')
	[ -n "$left" ] || return 0
	echo "  session $1 left $(echo "$left" | wc -l) process(es) behind: killed" >&2
	# shellcheck disable=SC2086
	kill -KILL $left 2>/dev/null
}
# harness WS CMD...: CMD started as every timed run is -- under
# /usr/bin/time -v (peak RSS), in a session of its own (the shell execs
# setsid, which keeps the pid: whatever the run leaves behind is found by
# session id and killed; roboppi's supervised mode left orphaned core
# processes, `bun src/index.ts`, ~95 MB each, when a run failed under load)
# and under timeout -- in directory WS, output to WS.out. The floors are
# started the same way, so the harness's own process starts (~6 ms a run
# on these machines: ~0.03 ms of a 200-step run's "per step") are in the
# floor as in every system's wall, and cancel out of the overheads.
harness() {
	local ws=$1
	shift
	# shellcheck disable=SC2016
	(cd "$ws" && /usr/bin/time -v -o "$ws.time" \
		bash -c 'echo $$ >"$0.sid"; exec setsid timeout -k 5 "$1" "${@:2}"' "$ws" "$RUN_TIMEOUT" "$@" \
		>"$ws.out" 2>&1)
}
seq_no=0
# measure SYSTEM WORKFLOW [cpu]: one run; appends "wall_us rss_kb" to
# $tmp/SYSTEM.WORKFLOW, or with "cpu" the runner's own CPU in ms (perf stat
# -i) to $tmp/SYSTEM.WORKFLOW.cpu and no wall time.
measure() {
	local sys=$1 wf=$2 mode=${3:-} ws rc t0 t1 rss cpu
	seq_no=$((seq_no + 1))
	ws="$tmp/ws/$sys.$wf.$seq_no"
	mkdir -p "$ws"
	local -a cmd
	case $sys in
	waitloop) cmd=("$WL" run "$tmp/$wf.yaml" -w "$ws" -q --no-progress --db "$tmp/history.db") ;;
	direct) cmd=("$BUN" run "$RDIR/src/workflow/run.ts" "$tmp/$wf.yaml" --direct --no-tui --workspace "$ws") ;;
	supervised) cmd=("$BUN" run "$RDIR/src/workflow/run.ts" "$tmp/$wf.yaml" --no-tui --workspace "$ws") ;;
	esac
	[ "$mode" = cpu ] && cmd=(perf stat -i -e task-clock -x "," -o "$ws.perf" -- "${cmd[@]}")
	t0=$(now_us)
	harness "$ws" "${cmd[@]}"
	rc=$?
	t1=$(now_us)
	reap_session "$(cat "$ws.sid" 2>/dev/null)"
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$ws.time")
	if [ "$mode" = cpu ]; then
		cpu=$(awk -F, '$3 ~ /^task-clock/ {print $1}' "$ws.perf" 2>/dev/null)
		[ "$rc" -eq 0 ] && [ -n "$cpu" ] || cpu=FAILED
		echo "$cpu" >>"$tmp/$sys.$wf.cpu"
		return
	fi
	if [ "$rc" -ne 0 ]; then
		echo "  $sys $wf run $seq_no FAILED (exit $rc): $(tail -n 3 "$ws.out" | tr '\n' ' ')" >&2
		echo "FAILED" >>"$tmp/$sys.$wf"
		return
	fi
	echo "$((t1 - t0)) ${rss:-0}" >>"$tmp/$sys.$wf"
}
# floor WORKFLOW: one floor run; appends "wall_us 0" to $tmp/floor.WORKFLOW
# and prints wall_us
floor() {
	local t0 t ws
	ws="$tmp/ws/floor.$1.$(date +%s%N)" # (called in $(...): named by the time)
	mkdir -p "$ws"
	t0=$(now_us)
	# shellcheck disable=SC2016
	case $1 in
	chain) harness "$ws" bash -c 'for ((i = 0; i < $0; i++)); do bash -e -c true; done' "$N" ;;
	parallel) harness "$ws" bash -c 'seq "$0" | xargs -P "$0" -n 1 bash -e -c true' "$N" ;;
	esac
	t=$(($(now_us) - t0))
	reap_session "$(cat "$ws.sid" 2>/dev/null)"
	echo "$t 0" >>"$tmp/floor.$1"
	echo "$t"
}
# The cost of a create right now: median µs of 100 mkdirs in a new
# directory (bench/create_cost.c, built here if missing); "?" without cc.
cc_bin=$root/build/bench/create_cost
if [ ! -x "$cc_bin" ] || [ "$root/bench/create_cost.c" -nt "$cc_bin" ]; then
	mkdir -p "$root/build/bench" && "${CC:-cc}" -std=c11 -O2 -o "$cc_bin" "$root/bench/create_cost.c" 2>/dev/null
fi
# (called in $(...): a subshell, so the directory is named by the time)
mkdir_us() {
	if [ -x "$cc_bin" ]; then mkdir -p "$tmp/ws" && "$cc_bin" mkdir "$tmp/ws/mkdir-probe.$(date +%s%N)" 100 | awk '{print $3}'; else echo "?"; fi
}
have_perf=0
if [ -z "${NO_PERF:-}" ] && command -v perf >/dev/null 2>&1 &&
	perf stat -i -e task-clock -x "," -o "$tmp/perf.check" -- true >/dev/null 2>&1 &&
	grep -q task-clock "$tmp/perf.check"; then
	have_perf=1
fi

systems=(waitloop)
[ "$have_roboppi" = 1 ] && systems+=(direct supervised)
# roboppi's supervised mode starts one Core process (`bun src/index.ts`,
# ~95 MB) per running step: N parallel steps need about N x 100 MB at once.
# On a shared machine without that much to spare, that row is not measured.
sup_par=1
avail_mb=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo 2>/dev/null)
need_mb=$((N * 100 * 3 / 2))
if [ "$have_roboppi" = 1 ] && [ -z "${FORCE_SUPERVISED_PARALLEL:-}" ] && [ "${avail_mb:-0}" -lt "$need_mb" ]; then
	sup_par=0
	echo "roboppi supervised, parallel: not measured -- it needs ~$((N * 100)) MB (one ~95 MB Core process per running step), ${avail_mb} MB available (need ${need_mb} with margin; FORCE_SUPERVISED_PARALLEL=1 runs it anyway)"
fi
echo "vs-roboppi: $("$WL" --version 2>/dev/null), $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), RUNS=$RUNS, N=$N, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mkdir now: $(mkdir_us) µs (median of 100; ~20-60 calm, ~100-200 within a minute of a few hundred deletions on this disk); runner CPU: $([ "$have_perf" = 1 ] && echo "perf stat -i -e task-clock" || echo "not measured (perf unavailable or NO_PERF)")"
if [ "$have_roboppi" = 1 ]; then
	echo "roboppi: $RDIR ($(git -C "$RDIR" describe --always --tags 2>/dev/null || echo '?')), bun $("$BUN" --version 2>/dev/null)"
else
	echo "roboppi: not measured -- $why; waitloop's figures only"
fi
# Alone (not under bench/run.sh, which settles once before its first
# section): wait at most SETTLE_S s (default 90; 0: don't) until a mkdir
# costs less than SETTLE_US µs (default 60), i.e. until the deletions of the
# last minute have aged out.
if [ -z "${BENCH_TMP:-}" ] && [ "${SETTLE_S:-90}" -gt 0 ] && [ -x "$cc_bin" ]; then
	t_settle=$SECONDS
	calm=0 # two probes in a row under the bar: one can pass by chance
	while :; do
		us=$(mkdir_us)
		if awk -v u="$us" -v m="${SETTLE_US:-60}" 'BEGIN {exit !(u + 0 < m)}'; then calm=$((calm + 1)); else calm=0; fi
		[ "$calm" -ge 2 ] && break
		[ $((SECONDS - t_settle)) -ge "${SETTLE_S:-90}" ] && break
		sleep 3
	done
	echo "settled: mkdir $us µs after $((SECONDS - t_settle)) s (wait until two in a row < ${SETTLE_US:-60} µs, at most ${SETTLE_S:-90} s)"
fi
for ((r = 1; r <= RUNS; r++)); do
	for wf in hello chain parallel; do
		prev=""
		[ "$wf" = hello ] || prev=$(floor "$wf")
		for sys in "${systems[@]}"; do
			[ "$sys.$wf" = supervised.parallel ] && [ "$sup_par" = 0 ] && continue
			measure "$sys" "$wf"
			if [ -n "$prev" ]; then
				next=$(floor "$wf")
				echo $(((prev + next) / 2)) >>"$tmp/$sys.$wf.fpair"
				prev=$next
			fi
		done
	done
	if [ "$have_perf" = 1 ]; then
		for wf in hello chain parallel; do
			for sys in "${systems[@]}"; do
				[ "$sys" = supervised ] || measure "$sys" "$wf" cpu
			done
		done
	fi
	us=$(mkdir_us)
	echo "$us" >>"$tmp/mkdir.rounds"
	echo "  round $r of $RUNS done, mkdir $us µs, load $(cut -d' ' -f1 /proc/loadavg)" >&2
done

# stats FILE -> "min median max rss_median n_ok" (ms, ms, ms, MB); "-" when no run succeeded
stats() {
	grep -v FAILED "$1" 2>/dev/null | awk '
		{ w[NR] = $1 / 1000; m[NR] = $2 / 1024 }
		function med(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			if (NR == 0) { print "- - - - 0"; exit }
			n = NR; mn = w[1]; mx = w[1]
			for (i = 1; i <= n; i++) { if (w[i] < mn) mn = w[i]; if (w[i] > mx) mx = w[i] }
			printf "%.1f %.1f %.1f %.1f %d\n", mn, med(w, n), mx, med(m, n), n
		}'
}
# paired SYSTEM_FILE -> per-step overhead in ms: the median over the rounds
# of (wall - mean of the floors just before and after it) / N, so each
# difference sees one load; it is printed beside issue 19's figure,
# (median wall - median floor) / N, which is what the ratios and targets use.
paired() {
	paste -d ' ' "$1" "$1.fpair" | awk -v n="$N" '
		$1 != "FAILED" { d[++k] = ($1 - $NF) / 1000 / n }
		END {
			if (k == 0) { print "-"; exit }
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (d[j] < d[i]) { t = d[i]; d[i] = d[j]; d[j] = t }
			printf "%.3f\n", (k % 2) ? d[(k + 1) / 2] : (d[k / 2] + d[k / 2 + 1]) / 2
		}'
}
# cpu_step SYSTEM WORKFLOW STEPS -> median runner CPU per step in ms, or "-"
cpu_step() {
	grep -v FAILED "$tmp/$1.$2.cpu" 2>/dev/null | awk -v n="$3" '
		{ c[++k] = $1 }
		END {
			if (k == 0) { print "-"; exit }
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
			printf "%.3f\n", ((k % 2) ? c[(k + 1) / 2] : (c[k / 2] + c[k / 2 + 1]) / 2) / n
		}'
}
label() { case $1 in waitloop) echo waitloop ;; direct) echo "roboppi --direct" ;; supervised) echo "roboppi supervised" ;; floor) echo "floor: bash -e -c true" ;; esac; }

declare -A MED RSS OVH CPU
echo
printf '%-10s %-24s %9s %9s %9s %9s %12s %10s %10s\n' workflow system "min ms" "median" "max ms" "RSS MB" "per step ms" "(paired)" "CPU/step"
for wf in hello chain parallel; do
	fmed=""
	if [ "$wf" != hello ]; then
		read -r fmin fmed fmax _ _ < <(stats "$tmp/floor.$wf")
	fi
	for sys in "${systems[@]}"; do
		read -r mn md mx rss n < <(stats "$tmp/$sys.$wf")
		MED[$sys.$wf]=$md
		RSS[$sys.$wf]=$rss
		ovh="-" pov="-"
		if [ -n "$fmed" ] && [ "$md" != - ]; then
			# issue 19's definition: (median wall - median floor) / N
			ovh=$(awk -v a="$md" -v b="$fmed" -v n="$N" 'BEGIN {printf "%.3f", (a - b) / n}')
			pov=$(paired "$tmp/$sys.$wf")
		fi
		OVH[$sys.$wf]=$ovh
		steps=$N
		[ "$wf" = hello ] && steps=$(grep -c '^    worker:' "$tmp/hello.yaml")
		CPU[$sys.$wf]=$(cpu_step "$sys" "$wf" "${steps:-1}")
		fails=$((RUNS - n))
		[ "$sys.$wf" = supervised.parallel ] && [ "$sup_par" = 0 ] && fails=0
		printf '%-10s %-24s %9s %9s %9s %9s %12s %10s %10s%s\n' "$wf" "$(label "$sys")" "$mn" "$md" "$mx" "$rss" "$ovh" "$pov" \
			"${CPU[$sys.$wf]}" "$([ "$fails" -gt 0 ] && echo "  ($fails FAILED)")"
	done
	if [ -n "$fmed" ]; then
		printf '%-10s %-24s %9s %9s %9s %9s %12s %10s %10s\n' "$wf" "$(label floor)$([ "$wf" = parallel ] && echo ', xargs -P')" \
			"$fmin" "$fmed" "$fmax" - - - -
		MED[floor.$wf]=$fmed
	fi
done

# ratio A B -> A / B; "inf" when waitloop's overhead B is not above the
# floor at all while A is (a ratio of overheads), "-" when unknown
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else if (b <= 0) print (a > 0 ? "inf" : "-"); else printf "%.1f", a / b }'; }
okif() { awk -v v="$1" -v t="$2" 'BEGIN { if (v == "-") print "MISSED"; else if (v == "inf") print "ok"; else print (v + 0 >= t ? "ok" : "MISSED") }'; }
echo
# waitloop against the floor (always)
# two decimals: the target is 1.15x
par_x=$(awk -v a="${MED[waitloop.parallel]}" -v b="${MED[floor.parallel]}" 'BEGIN { if (a == "-" || b == "-" || b <= 0) print "-"; else printf "%.2f", a / b }')
echo "waitloop per-step overhead: chain ${OVH[waitloop.chain]} ms, parallel ${OVH[waitloop.parallel]} ms; parallel wall ${par_x}x the xargs -P floor; runner CPU per step: chain ${CPU[waitloop.chain]} ms, parallel ${CPU[waitloop.parallel]} ms"
echo "mkdir at the end: $(mkdir_us) µs; rounds after which a mkdir cost >= ${SETTLE_US:-60} µs (a disk slowed by recent deletions): $(awk -v m="${SETTLE_US:-60}" '$1 + 0 >= m {k++} END {print k + 0}' "$tmp/mkdir.rounds" 2>/dev/null || echo "?") of $RUNS; load $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
rows+=("row|$N parallel steps vs xargs -P floor|${par_x}x (${MED[waitloop.parallel]} vs ${MED[floor.parallel]} ms)|<= 1.15x|$(awk -v v="$par_x" 'BEGIN { print (v != "-" && v + 0 <= 1.15) ? "ok" : "MISSED" }')")
rows+=("row|runner CPU per step, chain / parallel|${CPU[waitloop.chain]} / ${CPU[waitloop.parallel]} ms (perf stat -i)|(no target)|-")
if [ "$have_roboppi" = 1 ]; then
	echo "roboppi / waitloop (higher = waitloop better):"
	printf '  %-10s %-20s %12s %12s %10s\n' workflow against "overhead" "wall" "peak RSS"
	for wf in hello chain parallel; do
		for sys in direct supervised; do
			o=-
			[ "$wf" != hello ] && o=$(ratio "${OVH[$sys.$wf]}" "${OVH[waitloop.$wf]}")
			printf '  %-10s %-20s %12s %12s %10s\n' "$wf" "$(label "$sys")" "${o}x" \
				"$(ratio "${MED[$sys.$wf]}" "${MED[waitloop.$wf]}")x" "$(ratio "${RSS[$sys.$wf]}" "${RSS[waitloop.$wf]}")x"
		done
	done
	for wf in chain parallel; do
		od=$(ratio "${OVH[direct.$wf]}" "${OVH[waitloop.$wf]}")
		os=$(ratio "${OVH[supervised.$wf]}" "${OVH[waitloop.$wf]}")
		rows+=("row|vs roboppi --direct, $wf: overhead/step|${od}x smaller (${OVH[waitloop.$wf]} vs ${OVH[direct.$wf]} ms)|>= 20x|$(okif "$od" 20)")
		if [ "$wf" = parallel ] && [ "$sup_par" = 0 ]; then
			rows+=("row|vs roboppi supervised, $wf: overhead/step|not measured|needs ~$((N * 100)) MB|-")
		else
			rows+=("row|vs roboppi supervised, $wf: overhead/step|${os}x smaller (${OVH[waitloop.$wf]} vs ${OVH[supervised.$wf]} ms)|>= 50x|$(okif "$os" 50)")
		fi
	done
	for wf in hello chain parallel; do
		rs=$(ratio "${RSS[supervised.$wf]}" "${RSS[waitloop.$wf]}")
		rd=$(ratio "${RSS[direct.$wf]}" "${RSS[waitloop.$wf]}")
		lo=$(awk -v a="$rs" -v b="$rd" 'BEGIN { if (a == "-") print b; else if (b == "-") print a; else print (a < b ? a : b) }')
		rows+=("row|vs roboppi, $wf: peak RSS|${lo}x less (${RSS[waitloop.$wf]} vs ${RSS[direct.$wf]}/${RSS[supervised.$wf]} MB)|>= 20x|$(okif "$lo" 20)")
	done
	ws=$(ratio "${MED[supervised.chain]}" "${MED[waitloop.chain]}")
	rows+=("row|vs roboppi supervised, chain: wall|${ws}x less (${MED[waitloop.chain]} vs ${MED[supervised.chain]} ms)|>= 10x|$(okif "$ws" 10)")
else
	rows+=("row|vs roboppi on the same workflows|not measured|$why|-")
fi
echo
printf '%s\n' "${rows[@]}"
