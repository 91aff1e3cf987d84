# End-to-end: `waitloop run` — outcomes, exit codes, process hygiene,
# signals, timeouts, DAG, concurrency, environment, context directory.
# timeout: 300
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

FX=$ROOT/tests/fixtures/run
WF=$ROOT/workflows
export WLH=$TOOLS/wl-helper
export WAITLOOP_KEEPALIVE_S=30

# run NAME FIXTURE [args...] — run in a fresh workspace ws-NAME; sets rc.
run() {
	local name=$1 fx=$2
	shift 2
	mkdir -p "ws-$name"
	"$WL" run "$fx" -w "ws-$name" --no-progress "$@" >"$name.out" 2>"$name.err"
	rc=$?
}
json_get() { # file python-expression-on-d
	/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}
# 0 when no process of the pid file(s) is alive (zombies count as gone).
pids_gone() {
	local f pid st
	for f in "$@"; do
		[ -f "$f" ] || { echo "missing pid file $f" >&2; return 1; }
		pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null; then
			st=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
			[ "$st" = "Z" ] || { echo "pid $pid ($f) still alive" >&2; return 1; }
		fi
	done
	return 0
}
wait_for_files() { # seconds file...
	local limit=$1 i=0 f ok
	shift
	while [ "$i" -lt $((limit * 10)) ]; do
		ok=1
		for f in "$@"; do [ -s "$f" ] || ok=0; done
		[ "$ok" -eq 1 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
events_valid() { # events.jsonl
	/usr/bin/python3 - "$1" "$ROOT/schema/event.schema.json" <<'PY' || t_fail "invalid events in $1"
import json, os, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no events"
evs = [json.loads(l) for l in lines]
for e in evs:
    assert "type" in e and "ts" in e and "run_id" in e, e
if os.path.exists(sys.argv[2]):
    from jsonschema import Draft202012Validator
    v = Draft202012Validator(json.load(open(sys.argv[2])))
    for e in evs:
        errs = list(v.iter_errors(e))
        assert not errs, (e, errs[0].message)
assert evs[0]["type"] == "run_started" and evs[-1]["type"] == "run_finished", "first/last event"
PY
}

t_begin run_hello
run hello "$WF/hello.yaml"
expect_eq "$rc" 0
expect_contains hello.out "PASS  greet"
expect_contains hello.out "PASS  show"
expect_contains hello.out "Workflow: SUCCEEDED ("
expect_contains hello.out "Context: $T/ws-hello/context"
id=$(sed -n 's/^Run: //p' hello.out)
echo "$id" | grep -Eq '^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$' || t_fail "run id '$id'"
expect_contains ws-hello/context/show/stdout.log "Hello from waitloop!"
expect_contains ws-hello/context/greet/greeting/hello.txt "Hello from waitloop!"
expect_eq "$(json_get ws-hello/context/_workflow.json 'd["status"]')" SUCCEEDED
expect_eq "$(json_get ws-hello/context/_workflow.json 'd["run_id"]')" "$id"
expect_eq "$(json_get ws-hello/context/greet/_meta.json 'd["status"], d["attempts"], d["exit_code"]')" "SUCCEEDED 1 0"
events_valid ws-hello/context/_workflow/events.jsonl
expect_contains hello.err "[greet] SUCCEEDED"
t_end

t_begin run_json_summary
mkdir -p ws-json
"$WL" run "$WF/hello.yaml" -w ws-json --json -q >json.out 2>json.err; rc=$?
expect_eq "$rc" 0
expect_eq "$(json_get json.out 'd["status"], d["exit_code"], d["steps"][0]["id"], d["steps"][0]["status"]')" \
	"SUCCEEDED 0 greet SUCCEEDED"
expect_not_contains json.out "Workflow:"
[ -s json.err ] && t_fail "quiet run wrote to stderr: $(cat json.err)"
t_end

t_begin run_workflow_alias_and_set
mkdir -p ws-alias
"$WL" workflow "$WF/hello.yaml" -w ws-alias -q >alias.out 2>&1; rc=$?
expect_eq "$rc" 0
t_end

t_begin run_build_test_report_artifacts
run btr "$WF/build-test-report.yaml"
expect_eq "$rc" 0
for s in build test-unit test-lint report; do expect_contains btr.out "PASS  $s"; done
expect_contains ws-btr/context/report/report/report.txt "unit: 3 passed"
expect_contains ws-btr/context/report/report/report.txt "lint: clean"
[ -f ws-btr/context/build/binaries/add.c ] || t_fail "output dir not copied"
[ -f ws-btr/unit/bin/add.c ] || t_fail "input not copied into the step workspace"
t_end

t_begin run_todo_loop_iterations
run todo "$WF/todo-loop.yaml"
expect_eq "$rc" 0
expect_contains todo.out "PASS  implement (3 iterations)"
expect_eq "$(wc -l < ws-todo/done.txt)" 3
expect_eq "$(grep -c '"type":"iteration_finished"' ws-todo/context/_workflow/events.jsonl)" 3
expect_eq "$(json_get ws-todo/context/implement/_meta.json 'd["iterations"]')" 3
grep '"type":"iteration_finished"' ws-todo/context/_workflow/events.jsonl | tail -n 1 | grep -q '"decision":"complete"' ||
	t_fail "last iteration not complete"
t_end

t_begin run_failure_recovery
run fr "$WF/failure-recovery.yaml"
expect_eq "$rc" 1
expect_contains fr.out "PASS  flaky-fetch"
expect_contains fr.out "FAIL  optional-lint — exit code 1"
expect_contains fr.out "PASS  package"
expect_contains fr.out "Workflow: FAILED"
expect_eq "$(cat ws-fr/fetch.attempts)" 3
expect_eq "$(cat ws-fr/package.attempts)" 2
expect_eq "$(json_get ws-fr/context/flaky-fetch/_meta.json 'd["attempts"]')" 3
t_end

t_begin run_timeout_stubborn_group_gone
run stubborn "$FX/stubborn.yaml"
expect_eq "$rc" 1
# timeout 1s + SIGINT, grace 1s, SIGTERM, grace 1s, SIGKILL (the step ignores
# the first two; without the escalation the 2m workflow timeout would end it)
expect_contains stubborn.out "FAIL  stubborn — timeout (1s)"
pids_gone ws-stubborn/main.pid ws-stubborn/child.pid || t_fail "a process of the stopped group survived"
grep '"type":"attempt_finished"' ws-stubborn/context/_workflow/events.jsonl | grep -q '"signals_sent":\["SIGINT","SIGTERM","SIGKILL"\]' ||
	t_fail "signals_sent not recorded"
grep -q '"type":"kill"' ws-stubborn/context/_workflow/events.jsonl || t_fail "no kill event"
t_end

t_begin run_timeout_grace_zero_is_at_once
# grace: 0s is SIGINT, SIGTERM and SIGKILL at once, not proc's 5 s default
# for each step (11 s here before the fix; the bound is generous)
mkdir -p ws-g0
cat >g0.yaml <<'EOF2'
name: g0
version: "1"
timeout: "2m"
wait_policy:
  grace: 0s
steps:
  stubborn:
    worker: CUSTOM
    instructions: "trap '' INT TERM; echo $$ >main.pid; sleep 60"
    timeout: 1s
EOF2
t0=$(date +%s)
"$WL" run g0.yaml -w ws-g0 --no-progress >g0.out 2>&1
rc=$?
took=$(($(date +%s) - t0))
expect_eq "$rc" 1
expect_contains g0.out "FAIL  stubborn — timeout (1s)"
[ "$took" -lt 7 ] || t_fail "grace 0s took ${took}s: the 5 s default grace was used"
grep '"type":"attempt_finished"' ws-g0/context/_workflow/events.jsonl | grep -q '"signals_sent":\["SIGINT","SIGTERM","SIGKILL"\]' ||
	t_fail "signals_sent not recorded"
pids_gone ws-g0/main.pid || t_fail "the stubborn step survived"
t_end

t_begin run_pipes_do_not_hang
run pipes "$FX/pipes.yaml"
expect_eq "$rc" 0
# a hang would end in the steps' 90 s timeout: FAIL, not PASS
expect_contains pipes.out "PASS  holder"
expect_contains pipes.out "PASS  stdin"
sed -n 's/^grandchild //p' ws-pipes/context/holder/stdout.log >gc.pid
pids_gone gc.pid || t_fail "the grandchild holding stdout survived"
t_end

signal_case() { # NAME SIGNAL want_rc
	local name=$1 sig=$2 want=$3
	mkdir -p "ws-$name"
	"$WL" run "$FX/long.yaml" -w "ws-$name" --no-progress >"$name.out" 2>"$name.err" &
	local pid=$!
	wait_for_files 60 "ws-$name/a.pid" "ws-$name/b.pid" "ws-$name/a-child.pid" || t_fail "steps did not start"
	kill "-$sig" "$pid"
	wait "$pid"
	rc=$?
	expect_eq "$rc" "$want"
	pids_gone "ws-$name/a.pid" "ws-$name/b.pid" "ws-$name/a-child.pid" || t_fail "a child outlived the runner"
	expect_eq "$(json_get "ws-$name/context/_workflow.json" 'd["status"]')" CANCELLED
	expect_contains "$name.out" "CANCELLED  a"
	expect_contains "$name.out" "SKIP       later"
	expect_contains "$name.out" "Workflow: CANCELLED"
	expect_eq "$(json_get "ws-$name/context/later/_meta.json" 'd["status"]')" SKIPPED
	events_valid "ws-$name/context/_workflow/events.jsonl"
}

t_begin run_sigterm_cancels
signal_case sigterm TERM 143
t_end

t_begin run_sigint_cancels
signal_case sigint INT 130
t_end

t_begin run_workflow_timeout
run wft "$FX/wf-timeout.yaml"
expect_eq "$rc" 3
expect_contains wft.out "Workflow: TIMED_OUT"
expect_contains wft.out "CANCELLED  slow — workflow timeout (2s)"
expect_contains wft.out "SKIP       after — workflow timeout (2s)"
pids_gone ws-wft/slow.pid || t_fail "slow step survived"
expect_eq "$(json_get ws-wft/context/_workflow.json 'd["status"], d["exit_code"]')" "TIMED_OUT 3"
t_end

t_begin run_abort_skips_transitively
run skip "$FX/skip.yaml"
expect_eq "$rc" 1
expect_contains skip.out "FAIL  a — exit code 4"
expect_contains skip.out "SKIP  b — dependency 'a' failed"
expect_contains skip.out "SKIP  c — dependency 'b' skipped"
expect_contains skip.out "PASS  sleeper"
[ -f ws-skip/sleeper.done ] || t_fail "abort cancelled the independent running step"
[ ! -e ws-skip/context/b/stdout.log ] || t_fail "a dependent of the failed step ran"
t_end

t_begin run_continue_runs_dependents
run cont "$FX/continue.yaml"
expect_eq "$rc" 1
expect_contains cont.out "FAIL  a — exit code 1"
expect_contains cont.out "PASS  b"
[ -f ws-cont/b.ran ] || t_fail "dependent of a continue step did not run"
t_end

t_begin run_concurrency_respected
run conc "$FX/concurrency.yaml"
expect_eq "$rc" 0
maxpar=$(/usr/bin/python3 - ws-conc <<'PY'
import glob, os, sys
ev = []
for f in glob.glob(os.path.join(sys.argv[1], "s*.start")):
    s = float(open(f).read()); e = float(open(f[:-6] + ".end").read())
    ev += [(s, 1), (e, -1)]
cur = best = 0
for _, d in sorted(ev, key=lambda x: (x[0], x[1])):
    cur += d; best = max(best, cur)
print(best)
PY
)
expect_eq "$maxpar" 2
t_end

t_begin run_environment
mkdir -p ws-env
"$WL" run "$FX/env.yaml" -w ws-env -q --set OVERRIDE_ME=cli --set EXTRA=x=y >env.out 2>env.err; rc=$?
expect_eq "$rc" 0
id=$(sed -n 's/^Run: //p' env.out)
e=ws-env/env.out
expect_contains $e "WAITLOOP_RUN_ID=$id"
expect_contains $e "WAITLOOP_WORKFLOW=env-test"
expect_contains $e "WAITLOOP_STEP=show"
expect_contains $e "WAITLOOP_ITERATION=1"
expect_contains $e "WAITLOOP_PHASE=step"
expect_contains $e "WAITLOOP_WORKSPACE=$T/ws-env"
expect_contains $e "WAITLOOP_CONTEXT_DIR=$T/ws-env/context"
expect_contains $e "WAITLOOP_STEP_DIR=$T/ws-env/context/show"
expect_contains $e "WAITLOOP_FIX_FILE=$T/ws-env/context/show/fix.md"
expect_contains $e "WAITLOOP_DECISION_FILE=$T/ws-env/context/show/review.verdict"
expect_contains $e "WAITLOOP_WAIT_FAILURE_FILE=$T/ws-env/context/show/wait-failure.json"
bin=$(sed -n 's/^WAITLOOP_BIN=//p' $e)
if ! [ -x "$bin" ] || [ "$(readlink -f "$bin")" != "$(readlink -f "$WL")" ]; then t_fail "WAITLOOP_BIN='$bin'"; fi
expect_contains $e "LEVEL=step"
expect_contains $e "FROM_WF=wf"
expect_contains $e "OVERRIDE_ME=cli"
expect_eq "$(cat ws-env/pwd.out)" "$T/ws-env"
expect_contains ws-env/check.out "PHASE=completion_check CHECK=$id:show:1 ROBOPPI=$id:show:1 INLINE=$id:show:1"
t_end

t_begin run_completion_check_outcomes
run checks "$FX/checks.yaml"
expect_eq "$rc" 1
expect_contains checks.out "FAIL        never-done (2 iterations) — max_iterations (2) reached without completion"
expect_contains checks.out "INCOMPLETE  good-enough (3 iterations) — max_iterations (3) reached, still incomplete"
expect_contains checks.out "FAIL        broken-check (1 iteration) — the completion check failed: exit status 2 (0 = complete, 1 = incomplete)"
expect_contains checks.out "PASS        templated"
expect_contains ws-checks/templated.out "step=templated iteration=1/1 wf=checks keep={{.metadata.name}}"
t_end

t_begin run_incomplete_continue_is_success
cat >inc.yaml <<'EOF'
name: inc
version: "1"
timeout: 1m
steps:
  s:
    worker: CUSTOM
    instructions: "true"
    completion_check: {worker: CUSTOM, instructions: exit 1}
    max_iterations: 2
    on_iterations_exhausted: continue
EOF
run inc inc.yaml
expect_eq "$rc" 0
expect_contains inc.out "INCOMPLETE  s (2 iterations)"
expect_contains inc.out "Workflow: SUCCEEDED"
t_end

t_begin run_agent_worker_missing_cli
mkdir -p ws-agent
if PATH=/usr/bin:/bin command -v claude >/dev/null; then
	t_skip "claude is installed in /usr/bin or /bin: no PATH without it"
else
	PATH=/usr/bin:/bin "$WL" run "$FX/agent.yaml" -w ws-agent --no-progress >agent.out 2>agent.err
	expect_eq "$?" 1
	expect_contains agent.out "FAIL  think — worker CLAUDE_CODE needs 'claude', which is not on PATH"
fi
t_end

t_begin run_invalid_workflow_exit_2
"$WL" run "$FX/invalid.yaml" >inv.out 2>inv.err; rc=$?
expect_eq "$rc" 2
expect_contains inv.err "invalid.yaml:3:"
expect_contains inv.err "invalid.yaml:8:"
[ -d context ] && t_fail "an invalid workflow created a context directory"
t_end

t_begin run_usage_errors
expect_rc 2 "$WL" run 2>u1.err
expect_contains u1.err "waitloop: error: no workflow file given"
expect_rc 2 "$WL" run "$WF/hello.yaml" --set NOEQUALS 2>u2.err
expect_contains u2.err "--set expects KEY=VALUE"
expect_rc 2 "$WL" run "$WF/hello.yaml" --bogus 2>u3.err
expect_contains u3.err "waitloop: error: unknown option '--bogus'"
expect_rc 2 "$WL" run "$WF/hello.yaml" -w /nonexistent/dir 2>u4.err
expect_contains u4.err "waitloop: error: workspace '/nonexistent/dir' is not a directory"
"$WL" run --help >help.out; expect_contains help.out "usage: waitloop run WORKFLOW.yaml"
t_end

t_begin run_keepalive_line
mkdir -p ws-ka
cat >ka.yaml <<'EOF'
name: ka
version: "1"
timeout: 1m
steps:
  quiet:
    worker: CUSTOM
    instructions: sleep 3
EOF
WAITLOOP_KEEPALIVE_S=1 "$WL" run ka.yaml -w ws-ka --no-progress >ka.out 2>ka.err; rc=$?
expect_eq "$rc" 0
expect_contains ka.err "waitloop: still running: quiet"
t_end

t_begin run_verbose_streams_output
mkdir -p ws-v
"$WL" run "$WF/hello.yaml" -w ws-v -v >v.out 2>v.err; rc=$?
expect_eq "$rc" 0
expect_contains v.err "[show] Hello from waitloop!"
t_end

t_begin run_history_and_metrics
mkdir -p ws-hm
"$WL" run "$WF/hello.yaml" -w ws-hm -q --db hm.db --metrics hm.prom >hm.out 2>hm.err; rc=$?
expect_eq "$rc" 0
id=$(sed -n 's/^Run: //p' hm.out)
"$WL" history --db hm.db --json >hist.json || t_fail "history failed"
expect_eq "$(json_get hist.json 'd[0]["id"], d[0]["status"]')" "$id SUCCEEDED"
expect_contains hm.prom 'waitloop_last_run_timestamp_seconds{status="SUCCEEDED"}'
expect_contains hm.prom 'waitloop_step_duration_seconds{step="greet"}'
[ -f ws-hm/.waitloop/history.db ] && t_fail "--db ignored: default database created"
t_end

# 1000 steps of the plain binary run to the end, one _meta.json each. (Its
# peak RSS, flat from 100 to 1000 steps, is a benchmark: bench/run.sh.)
t_begin run_1000_steps
/usr/bin/python3 - 1000 >big1000.yaml <<'PY'
import sys
n = int(sys.argv[1])
print('name: big\nversion: "1"\ntimeout: 10m\nconcurrency: 8\nsteps:')
for i in range(n):
    print(f'  s{i}:\n    worker: CUSTOM\n    instructions: "true"')
    if i >= 8:
        print(f'    depends_on: [s{i-8}]')
PY
PLAIN=${WAITLOOP_PLAIN_BIN:-$ROOT/build/waitloop}
mkdir -p ws-big1000
"$PLAIN" run big1000.yaml -w ws-big1000 -q --db big1000.db >big1000.out 2>big1000.err
expect_eq "$?" 0
expect_contains big1000.out "PASS  s999"
expect_eq "$(grep -c '^PASS ' big1000.out)" 1000
expect_eq "$(find ws-big1000/context -name _meta.json | wc -l)" 1000
t_end

# Wait steps and guards need the wait engine (src/wait.c, `waitloop wait`).
t_begin run_wait_steps_and_guard
expect_rc 0 "$WL" wait --help >/dev/null
run waits "$FX/waits.yaml"
expect_eq "$rc" 1
expect_contains waits.out "PASS  ready-on-third"
expect_eq "$(cat ws-waits/cond.count)" 3
expect_contains waits.out "FAIL  never-ready — wait: timeout after"
expect_contains waits.out "FAIL  doomed — wait: terminal_fail after 1 observation"
expect_contains waits.out "PASS  guarded (2 iterations)"
expect_schema_valid wait-failure ws-waits/context/doomed/wait-failure.json
expect_schema_valid wait-failure ws-waits/context/never-ready/wait-failure.json
grep '"type":"iteration_finished"' ws-waits/context/_workflow/events.jsonl | head -n 1 |
	grep -q '"decision":"incomplete","source":"wait_policy"' || t_fail "guard did not make iteration 1 incomplete"
grep -q '"fingerprints":\["guard/terminal/chart-not-found"\]' ws-waits/context/_workflow/events.jsonl ||
	t_fail "guard fingerprint missing from the iteration"
events_valid ws-waits/context/_workflow/events.jsonl
t_end

t_begin run_tty_live_progress
if ! command -v script >/dev/null; then
	t_skip "script(1) (util-linux) not installed: no terminal to run on"
else
	mkdir -p ws-tty
	cat >tty.yaml <<'EOF2'
name: tty
version: "1"
timeout: 1m
steps:
  slow: {worker: CUSTOM, instructions: sleep 1.5}
  fast: {worker: CUSTOM, instructions: sleep 0.3}
EOF2
	NO_COLOR=1 script -qfec "$WL run tty.yaml -w ws-tty" tty.log >/dev/null 2>&1; rc=$?
	expect_eq "$rc" 0
	expect_contains tty.log "… slow  step  "
	expect_contains tty.log "PASS fast ("
	grep -q $'\033\\[1A' tty.log || t_fail "no live redraw on a terminal"
	grep -q $'\033\\[3[0-9]m' tty.log && t_fail "colour despite NO_COLOR"
	expect_contains tty.log "Workflow: SUCCEEDED"
fi
t_end
