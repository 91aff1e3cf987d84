# Fault injection (build/tools/libfaultinject.so, LD_PRELOAD): artifact
# writes failing with ENOSPC/EIO at write and rename time, a history
# database on a failing disk, and allocation failure sweeps. What must hold:
# a clear message, a non-zero exit where the command's own output is lost,
# no torn file (old content intact, no *.tmp.* left), an intact database,
# and never a crash or sanitizer report. Allocation failures run against
# the plain binary (ASan's allocator would sit between us and malloc); the
# sweeps are sampled in `make test` (the first 200 allocations, then about
# 200 more spread evenly) and exhaustive in `make test-slow`
# (WAITLOOP_TEST_SLOW=1).
# timeout: 240
# slow-timeout: 4800
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

FI=$TOOLS/libfaultinject.so
PLAIN=${WAITLOOP_PLAIN_BIN:-$ROOT/build/waitloop}
FIXV=$ROOT/tests/fixtures/valid
# Let ASan accept a preloaded library ahead of its runtime.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"

[ -f "$FI" ] || { t_begin faultinject_built; t_fail "$FI not built"; t_end; exit 0; }

# faulty VAR=VALUE... -- cmd...: run cmd with the injector preloaded.
faulty() {
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	env LD_PRELOAD="$FI" FAULT_VERBOSE=1 "${envs[@]}" "$@"
}
no_tmp_left() { # dir
	local left
	left=$(find "$1" -name '*.tmp.*' 2>/dev/null)
	[ -z "$left" ] || t_fail "temporary files left behind: $left"
}
no_crash() { # rc errfile
	[ "$1" -lt 128 ] || t_fail "killed by a signal (exit $1)"
	if grep -qE 'Sanitizer|runtime error|Segmentation|core dumped' "$2"; then
		t_fail "crash report:"; head -20 "$2" >&2
	fi
}

# --- atomic writes: verdict write -o --------------------------------------
old='{"schema":"old","decision":"complete"}'
for bin in plain asan; do
	if [ $bin = plain ]; then B=$PLAIN; else B=$WL; fi
	for spec in "write ENOSPC 0" "write EIO 0" "write ENOSPC 40" \
		"rename ENOSPC 0" "rename EIO 0"; do
		read -r -a _spec <<<"$spec"; set -- "${_spec[@]}"
		op=$1 eno=$2 after=$3
		case $eno in ENOSPC) msg="No space left on device" ;; EIO) msg="Input/output error" ;; esac
		t_begin "atomic_write_${bin}_${op}_${eno}_after${after}"
		d=$T/aw-$bin-$op-$eno-$after
		mkdir -p "$d"
		printf '%s\n' "$old" >"$d/review.verdict"
		(cd "$d" && faulty FAULT_WRITE_PREFIX="$d" FAULT_WRITE_OPS="$op" FAULT_WRITE_ERRNO="$eno" \
			FAULT_WRITE_AFTER_BYTES="$after" -- "$B" verdict write --decision incomplete \
			--reason "tests failed" -o review.verdict >out.txt 2>err.txt)
		rc=$?
		[ "$rc" -ne 0 ] || t_fail "exit 0 although the write failed"
		no_crash "$rc" "$d/err.txt"
		expect_contains "$d/err.txt" "faultinject: "
		expect_contains "$d/err.txt" "waitloop: error: cannot write 'review.verdict': $msg"
		expect_eq "$(cat "$d/review.verdict")" "$old"
		no_tmp_left "$d"
		t_end
	done
done

t_begin atomic_write_create_fails
d=$T/aw-open
mkdir -p "$d"
(cd "$d" && faulty FAULT_WRITE_PREFIX="$d" FAULT_WRITE_OPS=open -- "$WL" verdict write \
	--decision complete -o review.verdict >out.txt 2>err.txt)
rc=$?
expect_eq "$rc" 1
no_crash "$rc" "$d/err.txt"
expect_contains "$d/err.txt" "waitloop: error: cannot write 'review.verdict': No space left on device"
[ ! -e "$d/review.verdict" ] || t_fail "review.verdict created"
no_tmp_left "$d"
t_end

# Without faults the same command works (the injector itself is transparent).
t_begin atomic_write_injector_transparent
d=$T/aw-ok
mkdir -p "$d"
(cd "$d" && faulty FAULT_WRITE_PREFIX=/nonexistent-prefix -- "$WL" verdict write --decision complete \
	-o review.verdict >out.txt 2>err.txt)
expect_eq "$?" 0
expect_schema_valid verdict "$d/review.verdict"
t_end

# --- history database on a failing disk -----------------------------------
H=$T/hist
mkdir -p "$H"
dead_pid=$(sh -c 'echo $$')
"$TOOLS/store_feed" "$H/history.db" <<EOF || { t_begin history_seed; t_fail "store_feed failed"; t_end; }
{"type":"run_started","run_id":"20260101T120000Z-cccc3333","ago_s":30,"workflow":"crashy","pid":$dead_pid}
{"type":"step_state","run_id":"20260101T120000Z-cccc3333","step":"slow","status":"RUNNING"}
EOF
# `history` marks the dead run CRASHED: a write, failing here at several
# points of the transaction (before the first byte, inside the WAL frame).
for spec in "ENOSPC 0 database or disk is full" "EIO 0 disk I/O error" "ENOSPC 1000 database or disk is full" \
	"EIO 3000 disk I/O error"; do
	read -r -a _spec <<<"$spec"; set -- "${_spec[@]}"
	eno=$1 after=$2
	shift 2
	want="$*"
	t_begin "history_write_fails_${eno}_after${after}"
	faulty FAULT_WRITE_PREFIX="$H" FAULT_WRITE_OPS=write,fsync,rename FAULT_WRITE_ERRNO="$eno" \
		FAULT_WRITE_AFTER_BYTES="$after" -- "$WL" history --db "$H/history.db" >out.txt 2>err.txt
	rc=$?
	expect_eq "$rc" 1
	no_crash "$rc" err.txt
	expect_contains err.txt "faultinject: "
	expect_contains err.txt "waitloop: error: history database '$H/history.db': "
	# SQLite reports ENOSPC on the WAL as "full", other failures as I/O errors
	# (a failing 1-byte write into the -shm file is always an I/O error).
	grep -qE "database or disk is full|disk I/O error" err.txt || t_fail "no sqlite error: $(cat err.txt)"
	expect_eq "$(sqlite3 "$H/history.db" 'PRAGMA integrity_check')" "ok"
	expect_eq "$(sqlite3 "$H/history.db" "SELECT status FROM runs")" "RUNNING"
	t_end
done

t_begin history_recovers_after_disk_error
expect_rc 0 "$WL" history --db "$H/history.db" >out.txt 2>err.txt
expect_contains out.txt "CRASHED"
expect_eq "$(sqlite3 "$H/history.db" 'PRAGMA integrity_check')" "ok"
t_end

# --- the runner: history and context directory on a failing disk ----------
# A history database that cannot be opened stops the run before anything
# starts (exit 2, SQLite's message; docs/cli.md); one that breaks during the
# run never stops it (warning, exit 0). Either way it stays consistent.
mkdir -p ws-h
"$PLAIN" run "$ROOT/workflows/hello.yaml" -w ws-h -q >/dev/null 2>&1
for after in 0 2000 8000 20000 60000; do
	t_begin "run_history_disk_full_after${after}"
	faulty FAULT_WRITE_PREFIX="$T/ws-h/.waitloop" FAULT_WRITE_OPS=write,fsync,rename \
		FAULT_WRITE_AFTER_BYTES="$after" -- "$WL" run "$ROOT/workflows/hello.yaml" -w ws-h \
		--no-progress >out.txt 2>err.txt
	rc=$?
	no_crash "$rc" err.txt
	# the injector must have failed something: a run it never touched
	# would prove nothing
	expect_contains err.txt "faultinject: "
	if [ "$rc" -eq 2 ]; then
		expect_contains err.txt "waitloop: error: history database '"
	else
		expect_eq "$rc" 0
		expect_contains out.txt "Workflow: SUCCEEDED"
		expect_contains err.txt "waitloop: warning: "
	fi
	expect_eq "$(sqlite3 "$T/ws-h/.waitloop/history.db" 'PRAGMA integrity_check')" "ok"
	t_end
done
t_begin run_history_consistent_after_faults
expect_rc 0 "$WL" run "$ROOT/workflows/hello.yaml" -w ws-h -q >/dev/null 2>err.txt
expect_rc 0 "$WL" history --db ws-h/.waitloop/history.db >hist.txt 2>&1
# no run is left RUNNING: every one finished, or was recorded up to the failure and marked CRASHED
expect_not_contains hist.txt "RUNNING"
expect_eq "$(sqlite3 ws-h/.waitloop/history.db 'PRAGMA integrity_check')" "ok"
t_end

# The context directory on a full disk: the step whose output cannot be
# copied fails (exit 1, message names the file); _workflow.json keeps its
# previous content (no torn JSON); no temporary file is left.
for bin in plain asan; do
	if [ $bin = plain ]; then B=$PLAIN; else B=$WL; fi
	t_begin "run_context_disk_full_$bin"
	ws=$T/ws-c-$bin
	mkdir -p "$ws"
	"$B" run "$ROOT/workflows/hello.yaml" -w "$ws" -q >/dev/null 2>&1
	before=$(cat "$ws/context/_workflow.json")
	faulty FAULT_WRITE_PREFIX="$ws/context" -- "$B" run "$ROOT/workflows/hello.yaml" -w "$ws" \
		--no-progress >out.txt 2>err.txt
	rc=$?
	expect_eq "$rc" 1
	no_crash "$rc" err.txt
	# the lost log fails the step first; every write error is reported; a
	# _workflow.json that cannot be written is removed, never left stale
	# (docs/execution.md "Write errors")
	expect_contains out.txt "FAIL  greet — output log lost: cannot write its stdout capture file: No space left on device"
	expect_contains err.txt "waitloop: warning: context directory: cannot write '$ws/context/_workflow.json': No space left on device"
	[ ! -e "$ws/context/_workflow.json" ] || t_fail "a stale _workflow.json was left: $(head -c 300 "$ws/context/_workflow.json")"
	: "$before"
	no_tmp_left "$ws"
	t_end
done

t_begin run_workflow_json_rename_fails
ws=$T/ws-c-plain
before=$(cat "$ws/context/_workflow.json")
faulty FAULT_WRITE_PREFIX="$ws/context/_workflow.json*" FAULT_WRITE_OPS=rename FAULT_WRITE_ERRNO=EIO -- \
	"$WL" run "$ROOT/workflows/hello.yaml" -w "$ws" --no-progress >out.txt 2>err.txt
rc=$?
no_crash "$rc" err.txt
expect_contains err.txt "faultinject: rename("
expect_contains err.txt "waitloop: warning: context directory: cannot write '$ws/context/_workflow.json': Input/output error"
# the run lost an artifact: FAILED everywhere, no stale _workflow.json
expect_eq "$rc" 1
[ ! -e "$ws/context/_workflow.json" ] || t_fail "a stale _workflow.json was left"
: "$before"
no_tmp_left "$ws"
t_end

# _resolved.json is a hard link of _meta.json (docs/artifacts.md). Without
# hard links (link fails with EPERM, as on vfat) it is a file of its own,
# the same bytes, and the run passes; a link that fails for another reason
# (EIO) loses _resolved.json only: reported, the run fails, _meta.json is
# whole and final, and neither name is stale.
for eno in EPERM EIO; do
	t_begin "run_resolved_json_link_fails_$eno"
	ws=$T/ws-link-$eno
	mkdir -p "$ws"
	faulty FAULT_WRITE_PREFIX="$ws/context/greet/_resolved.json*" FAULT_WRITE_OPS=link FAULT_WRITE_ERRNO=$eno -- \
		"$WL" run "$ROOT/workflows/hello.yaml" -w "$ws" --no-progress >out.txt 2>err.txt
	rc=$?
	no_crash "$rc" err.txt
	expect_contains err.txt "faultinject: link(-> '$ws/context/greet/_resolved.json')"
	expect_eq "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$ws/context/greet/_meta.json" 2>&1)" SUCCEEDED
	# show, whose links were not touched: one file under both names
	expect_eq "$(stat -c %h "$ws/context/show/_resolved.json" 2>&1)" 2
	if [ $eno = EPERM ]; then
		expect_eq "$rc" 0
		expect_not_contains err.txt "waitloop: warning"
		cmp -s "$ws/context/greet/_meta.json" "$ws/context/greet/_resolved.json" ||
			t_fail "_resolved.json is not _meta.json's copy"
		expect_eq "$(stat -c %h "$ws/context/greet/_resolved.json" 2>&1)" 1
	else
		expect_eq "$rc" 1
		expect_contains err.txt "waitloop: warning: context directory: cannot write '$ws/context/greet/_resolved.json': Input/output error"
		[ ! -e "$ws/context/greet/_resolved.json" ] || t_fail "a _resolved.json was left"
	fi
	no_tmp_left "$ws"
	t_end
done

# --- allocation failure sweeps (plain binary) ------------------------------
# Allocation N of `validate` fails, for N = 1..K (K: a full run's count;
# sampled unless WAITLOOP_TEST_SLOW): the result is success, the xalloc
# message with exit 70, never anything else (a crash, a wrong "invalid").
sweep_validate() { # name file expected-rc-when-no-fault
	local name=$1 file=$2 okrc=$3 n rc bad=0 last=1 k=0 step=1 tried=0
	t_begin "malloc_sweep_validate_$name"
	"$PLAIN" validate "$file" >/dev/null 2>ref.txt
	# Find K, the allocation count of a full run, by growing N until success.
	while :; do
		k=$((k == 0 ? 64 : k * 2))
		LD_PRELOAD="$FI" FAULT_MALLOC_AFTER=$k "$PLAIN" validate "$file" >/dev/null 2>&1
		[ $? -eq "$okrc" ] && break
		[ $k -gt 1000000 ] && { t_fail "validate never succeeded"; break; }
	done
	[ -n "${WAITLOOP_TEST_SLOW:-}" ] || [ "$k" -le 400 ] || step=$(((k - 200) / 200))
	for ((n = 1; n <= k; n += (n < 200 ? 1 : step))); do
		tried=$((tried + 1))
		LD_PRELOAD="$FI" FAULT_MALLOC_AFTER=$n "$PLAIN" validate "$file" >/dev/null 2>err.txt
		rc=$?
		if [ "$rc" -eq 70 ]; then
			[ "$(cat err.txt)" = "waitloop: error: out of memory" ] || { t_fail "N=$n: $(head -3 err.txt)"; bad=1; }
		elif [ "$rc" -ne "$okrc" ]; then
			t_fail "N=$n: exit $rc: $(head -3 err.txt)"; bad=1
		else
			cmp -s err.txt ref.txt || { t_fail "N=$n: different diagnostics: $(head -3 err.txt)"; bad=1; }
			last=$n
		fi
		[ $bad -eq 0 ] || break
	done
	[ "$last" -gt 1 ] || t_fail "no N succeeded"

	echo "  $name: swept $tried values of N in 1..$k (every N up to 200, then every ${step}th)" >&2
	t_end
}
sweep_validate full_dsl "$FIXV/full-dsl.yaml" 0
sweep_validate bad_class "$ROOT/tests/fixtures/invalid/bad-class.yaml" 2

# `run` of hello.yaml: the runner, its children (which inherit the
# injector) and the history database under a sampled sweep.
# Every 131st N (every N with WAITLOOP_TEST_SLOW).
t_begin malloc_sweep_run
mkdir -p ws-m
codes=""
if [ -n "${WAITLOOP_TEST_SLOW:-}" ]; then run_step=1; else run_step=131; fi
for ((n = 1; n <= 14000; n += run_step)); do
	LD_PRELOAD="$FI" FAULT_MALLOC_AFTER=$n "$PLAIN" run "$ROOT/workflows/hello.yaml" -w ws-m -q >/dev/null 2>err.txt
	rc=$?
	case $rc in
	0 | 1) ;;
	2) grep -q "waitloop: error: history database '.*': out of memory" err.txt ||
		t_fail "N=$n: exit 2: $(head -3 err.txt)" ;;
	70) grep -q "waitloop: error: out of memory" err.txt || t_fail "N=$n: exit 70 without the message" ;;
	*) t_fail "N=$n: exit $rc: $(head -3 err.txt)" ;;
	esac
	codes="$codes $rc"
done
case "$codes" in *" 70"*) ;; *) t_fail "no run ran out of memory: $codes" ;; esac
case "$codes" in *" 0"*) ;; *) t_fail "no run succeeded: $codes" ;; esac
expect_eq "$(sqlite3 ws-m/.waitloop/history.db 'PRAGMA integrity_check')" "ok"
t_end
