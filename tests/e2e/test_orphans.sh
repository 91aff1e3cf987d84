# End-to-end: no process of a run outlives it (SPEC §8), even when the
# runner is SIGKILLed: the subreaper brings `setsid` escapees back, the
# watchdog of the next `history`/`run` stops what a crashed run left, and
# a reused pid is never touched (docs/execution.md "No orphans").
# shellcheck shell=bash
# timeout: 180
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

alive() { # pid: running (not gone, not a zombie)
	[ -r "/proc/$1/stat" ] || return 1
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)
	[ "$st" != Z ] && [ "$st" != X ]
}
wait_file() { local _; for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
gone_soon() { local _; for _ in $(seq 1 40); do alive "$1" || return 0; sleep 0.05; done; return 1; }
start_ticks() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
cleanup_pids=()
cleanup() { local p; for p in "${cleanup_pids[@]}"; do alive "$p" && kill -9 "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT

# 1. A step's `setsid cmd &` (a service) lives while the run does — a later
#    step can use it — and is stopped at the end of the run, not left to init.
t_begin setsid_escapee_lives_with_run_stopped_at_end
mkdir -p ws1
cat > esc.yaml <<'Y'
name: esc
version: "1"
timeout: "1m"
steps:
  a:
    worker: CUSTOM
    instructions: |
      setsid sh -c 'echo $$ > esc.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &
      while [ ! -s esc.pid ]; do sleep 0.05; done
      echo started
  b:
    worker: CUSTOM
    depends_on: [a]
    instructions: |
      sleep 0.3
      kill -0 "$(cat esc.pid)" && echo "service still up"
Y
"$WL" run esc.yaml -w ws1 -q >/dev/null 2>err1.txt; rc=$?
expect_eq "$rc" 0
expect_contains ws1/context/b/stdout.log "service still up"
pid=$(cat ws1/esc.pid 2>/dev/null)
cleanup_pids+=("$pid")
[ -n "$pid" ] || t_fail "escapee never started"
[ -n "$pid" ] && ! gone_soon "$pid" && t_fail "escapee $pid still running after the run"
t_end

# 1b. The same for a job that stays in the step's process group but lets go
#     of its output pipes (`cmd >/dev/null 2>&1 &`, roboppi case 07b): the
#     step ends when its shell exits, the job lives on while the run does and
#     is stopped when the run ends (docs/execution.md "Background jobs").
t_begin detached_job_lives_with_run_stopped_at_end
mkdir -p ws1b
cat > det.yaml <<'Y'
name: det
version: "1"
timeout: "1m"
steps:
  a:
    worker: CUSTOM
    instructions: |
      (echo "$BASHPID" > job.pid; exec sleep 300) >/dev/null 2>&1 &
      while [ ! -s job.pid ]; do sleep 0.05; done
  b:
    worker: CUSTOM
    depends_on: [a]
    instructions: |
      sleep 0.3
      kill -0 "$(cat job.pid)" && echo "job still up"
Y
"$WL" run det.yaml -w ws1b -q >/dev/null 2>err1b.txt; rc=$?
expect_eq "$rc" 0
expect_contains ws1b/context/b/stdout.log "job still up"
pid=$(cat ws1b/job.pid 2>/dev/null)
cleanup_pids+=("$pid")
[ -n "$pid" ] || t_fail "job never started"
[ -n "$pid" ] && ! gone_soon "$pid" && t_fail "job $pid still running after the run"
t_end

# 2. SIGKILL the runner mid-step: the direct child dies with it (PDEATHSIG);
#    a group member and a setsid escapee are stopped by the next `history`.
#    The step's shell ends in `exec sleep` so the count is exactly 2: a
#    foreground `sleep` forked after main.pid is written would make it 2 or 3
#    depending on when the SIGKILL lands (CI saw 3).
t_begin sigkill_runner_leaves_no_orphan
mkdir -p ws2
cat > kill.yaml <<'Y'
name: kill
version: "1"
timeout: "1m"
steps:
  a:
    worker: CUSTOM
    instructions: |
      sh -c 'echo $$ > member.pid; exec sleep 300' &
      setsid sh -c 'echo $$ > escapee.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &
      echo $$ > main.pid
      exec sleep 300
Y
"$WL" run kill.yaml -w ws2 -q >/dev/null 2>err2.txt &
runner=$!
{ wait_file ws2/member.pid && wait_file ws2/escapee.pid && wait_file ws2/main.pid; } || t_fail "step did not start"
main=$(cat ws2/main.pid); member=$(cat ws2/member.pid); escapee=$(cat ws2/escapee.pid)
cleanup_pids+=("$main" "$member" "$escapee")
kill -9 "$runner"; wait "$runner" 2>/dev/null
gone_soon "$main" || t_fail "the step's main process outlived the SIGKILLed runner"
alive "$member" || t_fail "precondition: group member already gone"
"$WL" history --db ws2/.waitloop/history.db >h.txt 2>h.err; rc=$?
expect_eq "$rc" 0
expect_contains h.txt CRASHED
expect_contains h.err "waitloop: warning: stopped 2 processes left running by crashed runs"
gone_soon "$member" || t_fail "group member $member survived the watchdog"
gone_soon "$escapee" || t_fail "escapee $escapee survived the watchdog"
t_end

# 2b. Killed between a spawn and the commit of the child's group: the run
#     is on record (run_started is committed before its first process),
#     its group is not. strace holds the runner 1 s after each clone; the
#     step starts a group member and a setsid escapee meanwhile. The
#     watchdog finds both by their environment (WAITLOOP_RUN_ID).
t_begin sigkill_before_the_group_is_on_record_leaves_no_orphan
if can_strace; then
	mkdir -p ws2b
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -o k.strace \
		-e trace=clone,clone3,vfork -e inject=clone,clone3,vfork:delay_exit=1000000 \
		"$WL" run kill.yaml -w ws2b -q >/dev/null 2>&1 &
	spid=$!
	rpid=
	for _ in $(seq 100); do
		rpid=$(cat "/proc/$spid/task/$spid/children" 2>/dev/null)
		rpid=${rpid%% *}
		[ -n "$rpid" ] && [ -s ws2b/escapee.pid ] && [ -s ws2b/member.pid ] && break
		sleep 0.05
	done
	{ [ -s ws2b/escapee.pid ] && [ -s ws2b/member.pid ]; } || t_fail "the step never started"
	member=$(cat ws2b/member.pid 2>/dev/null); escapee=$(cat ws2b/escapee.pid 2>/dev/null)
	cleanup_pids+=("$member" "$escapee")
	[ -n "$rpid" ] && kill -KILL "$rpid" 2>/dev/null
	wait "$spid" 2>/dev/null
	grep -q 'DELAYED' k.strace || t_fail "strace did not hold the runner after its clone"
	DB=ws2b/.waitloop/history.db
	expect_eq "$(sqlite3 "$DB" "SELECT count(*) FROM process_groups")" 0
	alive "$escapee" || t_fail "precondition: the escapee is already gone"
	"$WL" history --db "$DB" >h2b.txt 2>h2b.err
	expect_contains h2b.txt CRASHED
	gone_soon "$member" || t_fail "group member $member survived the watchdog"
	gone_soon "$escapee" || t_fail "escapee $escapee survived the watchdog"
fi
t_end

# 3. A recorded group whose pid now belongs to another process is never
#    touched; the same pid with the recorded start time is.
t_begin watchdog_never_touches_reused_pid
DB=ws2/.waitloop/history.db
setsid sh -c 'exec sleep 300' </dev/null >/dev/null 2>&1 &
victim=$!
cleanup_pids+=("$victim")
for _ in $(seq 1 100); do [ "$(sed 's/.*) //' /proc/$victim/stat | cut -d' ' -f3)" = "$victim" ] && break; sleep 0.05; done
ticks=$(start_ticks "$victim")
sqlite3 "$DB" "INSERT INTO runs(id, status, pid, hostname) VALUES('reuse', 'CRASHED', 1, 'elsewhere');
  INSERT INTO process_groups(run_id, pgid, start_ticks) VALUES('reuse', $victim, $((ticks - 7)));"
"$WL" history --db "$DB" >/dev/null 2>h3.err
sleep 0.3
alive "$victim" || t_fail "a process with a reused pid was killed"
expect_eq "$(sqlite3 "$DB" "SELECT ended_at IS NOT NULL FROM process_groups WHERE run_id = 'reuse'")" 1
sqlite3 "$DB" "INSERT INTO process_groups(run_id, pgid, start_ticks) VALUES('reuse', $victim, $ticks);"
"$WL" history --db "$DB" >/dev/null 2>h4.err
gone_soon "$victim" || t_fail "the recorded group (same pid, same start time) was not stopped"
t_end

# 3b. A recorded group whose leader is a zombie (exited, not yet reaped)
#     and has no member left: nothing is running, so nothing is counted as
#     stopped (the count is of running processes, not of kill() calls: a
#     zombie leader made test 2 report 3 processes now and then).
t_begin watchdog_counts_running_processes_not_zombies
/usr/bin/python3 -c 'import os, sys, time
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os._exit(0)
print(pid, flush=True)
time.sleep(60)' >zombie.pid &
zparent=$!
cleanup_pids+=("$zparent")
wait_file zombie.pid || t_fail "no zombie"
zombie=$(cat zombie.pid)
for _ in $(seq 1 100); do [ "$(sed 's/.*) //' "/proc/$zombie/stat" | cut -d' ' -f1)" = Z ] && break; sleep 0.05; done
zticks=$(start_ticks "$zombie")
sqlite3 "$DB" "INSERT INTO runs(id, status, pid, hostname) VALUES('zombie', 'CRASHED', 1, 'elsewhere');
  INSERT INTO process_groups(run_id, pgid, start_ticks) VALUES('zombie', $zombie, $zticks);"
"$WL" history --db "$DB" >/dev/null 2>h5.err
expect_not_contains h5.err "left running by crashed runs"
kill "$zparent" 2>/dev/null; wait "$zparent" 2>/dev/null
t_end

# 4. A finished run closes every group it recorded.
t_begin groups_recorded_and_closed
expect_eq "$(sqlite3 ws1/.waitloop/history.db 'SELECT count(*) > 0, count(ended_at) = count(*) FROM process_groups')" "1|1"
t_end

# 5. The quick form of the fault campaign (bench/fault_campaign.sh, 100 in
#    the long form): random SIGKILLs mid-step leave 0 orphans, 0 torn JSON,
#    an intact database, the killed runs CRASHED and the earlier ones intact.
t_begin fault_campaign_quick
WAITLOOP_BIN=$WL bash "$ROOT/bench/fault_campaign.sh" 6 >fc.txt 2>&1 || { t_fail "violations:"; cat fc.txt >&2; }
expect_contains fc.txt "6 SIGKILLs"
expect_contains fc.txt ", 0 violations"
t_end
