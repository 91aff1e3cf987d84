# End-to-end: what a step costs the kernel (issue 19) -- system calls per
# step counted with strace (structure, not time: the same on a busy
# machine), and that the shortcuts keep their guarantees (a re-used
# context directory still starts each step clean).
# timeout: 180
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

# count FILE SYSCALL [GREP] -> how many lines of the strace log FILE are
# calls of SYSCALL (matching GREP when given)
count() {
	grep -E "^([0-9]+ +)?$2\(" "$1" | grep -cF -- "${3:-(}"
}

# --- per-step system calls of the runner ---------------------------------
t_begin syscalls_per_step
if can_strace; then
	gen_true_steps 10 0 >c10.yaml
	gen_true_steps 30 0 >c30.yaml
	for n in 10 30; do
		mkdir -p "ws$n"
		# the runner and its writer thread (bgwrite.h), not the shells: every
		# process that exec'd, but the runner, is left out. LeakSanitizer
		# cannot run under ptrace: leaks are checked by every other test.
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -o "all$n.txt" -e trace=execve,pipe2,pipe,openat,open,unlink,mkdir,newfstatat,stat,access,read,link,linkat,rename \
			"$WL" run "c$n.yaml" -w "ws$n" -q --no-progress --db "ws$n/h.db" >"run$n.out" 2>&1 ||
			t_fail "run of $n steps failed: $(tail -n 3 "run$n.out")"
		awk 'NR == 1 {runner = $1} $2 ~ /^execve\(/ && $1 != runner {kid[$1] = 1} {line[NR] = $0; pid[NR] = $1}
			END {for (i = 1; i <= NR; i++) if (!(pid[i] in kid)) print line[i]}' "all$n.txt" |
			sed 's/^[0-9][0-9]* *//' >"s$n.txt"
	done
	# per step = (calls of the 30-step run - calls of the 10-step run) / 20:
	# start-up and end are the same in both and cancel out
	per() { echo $((($(count s30.txt "$@") - $(count s10.txt "$@")) / 20)); }
	# stdout and stderr: one pipe each; exec errors come back through the
	# memory the child shares with the runner, not a third pipe
	expect_eq "pipes/step $(per pipe2)" "pipes/step 2"
	# the children's stdin is one /dev/null opened once, not one per child
	expect_eq "/dev/null opens/step $(per openat /dev/null)" "/dev/null opens/step 0"
	# a step directory this run created has nothing of an earlier run to remove
	expect_eq "unlinks/step $(per unlink)" "unlinks/step 0"
	# the shell's PATH lookup is remembered: one access(), no stat walk over PATH
	stats=$(per newfstatat)
	[ "$stats" -le 2 ] || t_fail "newfstatat per step: $stats (the PATH walk is back?)"
	# one mkdir per step (its directory), none for parents that exist
	expect_eq "mkdirs/step $(per mkdir)" "mkdirs/step 1"
	# inodes created: the step directory and ONE file, _meta.json, that is
	# also _resolved.json (a hard link; SPEC 6.1, docs/artifacts.md); a step
	# that prints nothing has no log files. (3 before: _resolved.json was a
	# file of its own.)
	creates=$(($(per mkdir) + $(per openat O_CREAT)))
	[ "$creates" -le 2 ] || t_fail "files and directories created per step: $creates (want <= 2)"
	# _resolved.json is linked, never renamed into place: per step one link
	# and one rename, _meta.json's (two when the idle turn also wrote the
	# RUNNING document -- timing: counted on the 30-step run, not per step)
	expect_eq "links/step $(($(per link) + $(per linkat)))" "links/step 1"
	expect_eq "renames onto _resolved.json: $(count s30.txt rename '_resolved.json"')" "renames onto _resolved.json: 0"
	metas=$(count s30.txt rename '/_meta.json"')
	[ "$metas" -ge 30 ] && [ "$metas" -le 60 ] || t_fail "renames onto _meta.json in 30 steps: $metas (want 30-60)"
	# ... and both names are there, the same file
	for s in s1 s15 s30; do
		expect_eq "$(stat -c '%i %h' "ws30/context/$s/_resolved.json" 2>&1)" "$(stat -c '%i 2' "ws30/context/$s/_meta.json" 2>&1)"
	done
fi
t_end

# --- a re-used context directory: each step still starts clean -----------
t_begin reused_context_starts_clean
cat >talk.yaml <<'EOF'
name: talk
version: "1"
timeout: 5m
steps:
  a:
    worker: CUSTOM
    instructions: "echo first-run-out; echo first-run-err >&2"
EOF
cat >quiet.yaml <<'EOF'
name: talk
version: "1"
timeout: 5m
steps:
  a:
    worker: CUSTOM
    instructions: "true"
EOF
mkdir -p wsr
expect_rc 0 "$WL" run talk.yaml -w wsr -q --no-progress --db wsr/h.db >>runs.out
expect_contains wsr/context/a/stdout.log first-run-out
expect_contains wsr/context/a/stderr.log first-run-err
expect_rc 0 "$WL" run quiet.yaml -w wsr -q --no-progress --db wsr/h.db >>runs.out
# the second run printed nothing: its logs are absent (= empty), not the first run's
[ ! -e wsr/context/a/stdout.log ] || t_fail "stdout.log of the first run left in the re-used step directory"
[ ! -e wsr/context/a/stderr.log ] || t_fail "stderr.log of the first run left in the re-used step directory"
# and a new context directory works as before
mkdir -p wsn
expect_rc 0 "$WL" run talk.yaml -w wsn -q --no-progress --db wsn/h.db >>runs.out
expect_contains wsn/context/a/stdout.log first-run-out
t_end

# --- an escapee that exited is reaped when the next step ends ---------------
# (reaper.c looks for a zombie child with one waitid() before reading the
# list of all children; this checks that the shortcut still reaps)
t_begin exited_escapee_reaped
cat >esc.yaml <<'EOF2'
name: esc
version: "1"
timeout: 5m
steps:
  a:
    worker: CUSTOM
    instructions: "setsid sh -c 'sleep 0.3' >/dev/null 2>&1 </dev/null & echo $! >esc.pid"
  b:
    worker: CUSTOM
    depends_on: [a]
    instructions: "sleep 1.5"
  c:
    worker: CUSTOM
    depends_on: [b]
    instructions: |
      for p in /proc/[0-9]*; do
        s=$(sed 's/.*) //' "$p/stat" 2>/dev/null) || continue
        set -- $s
        if [ "$1" = Z ] && [ "$2" = "$PPID" ]; then echo "zombie child of the runner: ${p#/proc/}"; fi
      done >zombies.txt
EOF2
mkdir -p wse
expect_rc 0 "$WL" run esc.yaml -w wse -q --no-progress --db wse/h.db >>runs.out
[ -s wse/esc.pid ] || t_fail "the escapee was not started"
if [ -f wse/zombies.txt ]; then
	[ ! -s wse/zombies.txt ] || t_fail "not reaped after step b ended: $(cat wse/zombies.txt)"
else
	t_fail "step c wrote no zombies.txt"
fi
t_end

# Under valgrind (callgrind measures the runner's instructions: bench,
# docs/benchmarks.md) a clone(CLONE_VM) that is not a vfork is not run, and
# a vfork runs as a fork: the runner must wait for each exec and free the
# child's stack slot itself (it hung before: the word the kernel clears was
# the child's copy). Parallel steps (one batch) and an exec failure.
t_begin valgrind_runs_a_batch
if ! command -v valgrind >/dev/null 2>&1; then
	t_skip "valgrind not installed (make deps: DEB_TEST_PKGS)"
else
	cat >vg.yaml <<'Y'
name: vg
version: "1"
timeout: 2m
steps:
  a:
    worker: CUSTOM
    instructions: "echo a"
  b:
    worker: CUSTOM
    instructions: "echo b"
  c:
    worker: CUSTOM
    instructions: "true"
    depends_on: [a, b]
Y
	mkdir -p ws-vg
	timeout -k 5 60 valgrind -q "${WAITLOOP_PLAIN_BIN:?}" run vg.yaml -w ws-vg -q --no-progress --db vg.db >vg.out 2>&1
	rc=$?
	expect_eq "$rc" 0
	expect_eq "$(cat ws-vg/context/a/stdout.log 2>/dev/null)" a
	expect_eq "$(cat ws-vg/context/b/stdout.log 2>/dev/null)" b
	expect_contains ws-vg/context/c/_meta.json '"status":	"SUCCEEDED"'
fi
t_end

# The history's WAL and its index stay between runs (SQLITE_FCNTL_PERSIST_WAL):
# a run neither creates them nor deletes them (each create and deletion
# slows the next creates on ext4 without a journal: docs/benchmarks.md).
t_begin history_wal_kept_between_runs
gen_true_steps 2 0 >wal.yaml
mkdir -p ws-wal1 ws-wal2
"$WL" run wal.yaml -w ws-wal1 -q --no-progress --db wal.db >/dev/null 2>&1 || t_fail "first run failed"
[ -f wal.db-wal ] && [ -f wal.db-shm ] || t_fail "the WAL or its index was deleted at the end of the run"
before=$(stat -c %i wal.db-wal wal.db-shm 2>/dev/null | tr '\n' ' ')
"$WL" run wal.yaml -w ws-wal2 -q --no-progress --db wal.db >/dev/null 2>&1 || t_fail "second run failed"
expect_eq "$(stat -c %i wal.db-wal wal.db-shm 2>/dev/null | tr '\n' ' ')" "$before"
# ... and empty (checkpointed, truncated to 0 bytes): the next run reads no
# old frames back at its open (strace: no pread of the WAL before the run
# first writes it).
expect_eq "wal bytes $(stat -c %s wal.db-wal)" "wal bytes 0"
if can_strace; then
	mkdir -p ws-wal3
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -o wal.trace -e trace=openat,pread64,pwrite64 "$WL" run wal.yaml -w ws-wal3 -q --no-progress --db wal.db >/dev/null 2>&1
	walfd=$(sed -n 's/.*openat(AT_FDCWD, "[^"]*wal\.db-wal", .*) = \([0-9]*\)$/\1/p' wal.trace | head -1)
	expect_eq "WAL reads at open: $(awk -v r="pread64($walfd," -v w="pwrite64($walfd," 'index($0, w) {exit} index($0, r) {n++} END {print n + 0}' wal.trace)" "WAL reads at open: 0"
fi
expect_eq "$(sqlite3 wal.db 'SELECT count(*) FROM runs')" "$([ -d ws-wal3 ] && echo 3 || echo 2)"
t_end

# The runner's loop runs SCHED_BATCH, so its wake-ups (a child's output,
# exit, exec) do not preempt the step on its CPU (docs/execution.md
# "Processes"); the steps run SCHED_OTHER as before. A runner started
# under another policy (chrt -i: SCHED_IDLE) changes nothing: its steps
# keep that policy.
t_begin runner_batch_steps_other
if command -v chrt >/dev/null 2>&1; then
	cat >sched.yaml <<'Y'
name: sched
version: "1"
timeout: 1m
steps:
  show:
    worker: CUSTOM
    instructions: |
      echo "step: $(chrt -p $$ | sed -n 's/.*policy: //p')"
      echo "runner: $(chrt -p $PPID | sed -n 's/.*policy: //p')"
Y
	mkdir -p ws-sched1 ws-sched2
	"$WL" run sched.yaml -w ws-sched1 -q --no-progress --db sched.db >/dev/null 2>&1 || t_fail "run failed"
	expect_eq "$(find ws-sched1 -name stdout.log -exec cat {} +)" "step: SCHED_OTHER
runner: SCHED_BATCH"
	chrt -i 0 "$WL" run sched.yaml -w ws-sched2 -q --no-progress --db sched.db >/dev/null 2>&1 || t_fail "run under chrt -i failed"
	expect_eq "$(find ws-sched2 -name stdout.log -exec cat {} +)" "step: SCHED_IDLE
runner: SCHED_IDLE"
else
	t_skip "no chrt (util-linux)"
fi
t_end
