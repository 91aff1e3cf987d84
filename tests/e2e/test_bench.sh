#!/usr/bin/env bash
# timeout: 120
# The benchmark harness's own guarantees (docs/benchmarks.md, "Deletions
# slow every create for a minute"), structure only, no timing:
# bench/create_cost's output and errors; bench/vs-roboppi.sh under
# BENCH_TMP deletes nothing (every workspace is still there when it exits),
# runs the floor before and after every system run and prints the CPU/step
# column; bench/run.sh removes its whole tree, and only at exit.
# The scripts run from a copy in the test's directory, so that what they
# build (build/bench/create_cost) lands there, not in the checkout.
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2
mkdir -p bench
cp "$ROOT/bench/vs-roboppi.sh" "$ROOT/bench/run.sh" "$ROOT/bench/create_cost.c" "$ROOT/bench/benchclock.h" "$ROOT/bench/hello-world.yaml" bench/

t_begin create_cost_counts_and_refuses
cc -std=c11 -O2 -o cc_bin bench/create_cost.c || t_fail "create_cost.c does not compile"
out=$(./cc_bin mkdir d 10)
read -r mode n med p10 p90 mean <<<"$out"
expect_eq "$mode $n" "mkdir 10"
for v in "$med" "$p10" "$p90" "$mean"; do
	case $v in '' | *[!0-9.]*) t_fail "not a number: '$v' in '$out'" ;; esac
done
expect_eq "$(find d -mindepth 1 -maxdepth 1 -type d | wc -l)" 10
./cc_bin files f 5 >/dev/null
expect_eq "$(find f -mindepth 1 -maxdepth 1 -type f | wc -l)" 5
expect_rc 1 ./cc_bin mkdir d 3 2>/dev/null    # exists: nothing silently reused
expect_rc 2 ./cc_bin mkdir e 0 2>/dev/null
expect_rc 2 ./cc_bin rmdir e 3 2>/dev/null
[ -e e ] && t_fail "a refused call created e"
t_end

t_begin vs_roboppi_deletes_nothing_floors_around_runs
mkdir bt
BENCH_TMP=$T/bt N=3 RUNS=2 NO_PERF=1 SETTLE_S=0 WAITLOOP_BIN=$WL \
	bash bench/vs-roboppi.sh >vs.out 2>&1
rc=$?
expect_eq "$rc" 0
expect_contains vs.out "mkdir now:"
expect_contains vs.out "CPU/step"
expect_contains vs.out "rounds after which a mkdir cost"
vs=$(find bt -mindepth 1 -maxdepth 1 -name 'wl-vs-roboppi.*' -type d)
if [ -z "$vs" ]; then
	t_fail "bench/vs-roboppi.sh removed its tree under BENCH_TMP"
else
	# 3 workflows x 2 rounds, each workspace still there
	expect_eq "$(find "$vs/ws" -mindepth 1 -maxdepth 1 -type d -name 'waitloop.*' | wc -l)" 6
	# floor, waitloop, floor in each round: 2 floors per round and workflow
	expect_eq "$(wc -l <"$vs/floor.chain")" 4
	expect_eq "$(wc -l <"$vs/floor.parallel")" 4
	expect_eq "$(wc -l <"$vs/waitloop.chain.fpair")" 2
fi
# NO_PERF: the column is there, its values "-"
chain=$(grep -E '^chain +waitloop ' vs.out)
expect_eq "$(awk '{print $NF}' <<<"$chain")" "-"
t_end

t_begin vs_roboppi_cpu_per_step
if ! perf stat -i -e task-clock -x , -o perf.check -- true >/dev/null 2>&1 || ! grep -q task-clock perf.check; then
	t_skip "perf stat does not work here"
else
	BENCH_TMP=$T/bt N=3 RUNS=1 SETTLE_S=0 WAITLOOP_BIN=$WL bash bench/vs-roboppi.sh >vsp.out 2>&1
	expect_eq "$?" 0
	expect_contains vsp.out "runner CPU: perf stat -i -e task-clock"
	for wf in hello chain parallel; do
		v=$(grep -E "^$wf +waitloop " vsp.out | awk '{print $NF}')
		case $v in '' | - | *[!0-9.]*) t_fail "$wf: CPU/step is '$v'" ;; esac
	done
	expect_contains vsp.out "row|runner CPU per step, chain / parallel|"
fi
t_end

t_begin run_removes_its_tree_at_exit_only
mkdir rd
BENCH_DIR=$T/rd SECTIONS="4a" RUNS=1 SETTLE_S=0 WAITLOOP_BIN=$WL bash bench/run.sh >run.out 2>&1
expect_eq "$?" 0
expect_contains run.out "deletions by this bench before its end: none"
expect_contains run.out "validate, 500-step workflow"
expect_eq "$(find rd -mindepth 1 | wc -l)" 0
shm=$(sed -n 's/.* and \(\/dev\/shm\/wl-bench-run\.[A-Za-z0-9]*\) at exit.*/\1/p' run.out)
[ -n "$shm" ] && [ -e "$shm" ] && t_fail "$shm left behind"
t_end
