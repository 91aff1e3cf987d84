# End-to-end: share/waitloop/retry.sh is a drop-in for the classic
# `retry_until_success` bash function (SPEC §5, issue 14). A seed-style
# kest-env.sh / verify.sh pair, written for this test, runs every case twice:
# once with the classic function and once after the one-line switch
# (`. share/waitloop/retry.sh`). What a script observes — stdout, exit status,
# the condition's stderr — must be the same; the drop-in may only ADD lines on
# stderr (evidence, all starting "waitloop wait") and end earlier where that is
# the point (a typo, a probe showing a terminal state).
# timeout: 600
# shellcheck shell=bash disable=SC2012,SC2016
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

export FAKE="$T/fake"
mkdir -p "$T/bin" "$T/classic" "$T/dropin" "$FAKE"

# A fake kubectl: `kubectl get crd NAME` answers from $FAKE/NAME.*:
#   .ready_at N   succeed from the Nth call on (absent: never)
#   .sleep S      take S seconds per call
#   .chatty       print "NAME not ready yet" on stdout when failing
cat > "$T/bin/kubectl" <<'EOF'
#!/bin/bash
[ "$1" = get ] || { echo "kubectl $*: done"; exit 0; }
name=${3:-none}
n=$(( $(cat "$FAKE/$name.count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$FAKE/$name.count"
[ -f "$FAKE/$name.sleep" ] && sleep "$(cat "$FAKE/$name.sleep")"
if [ -f "$FAKE/$name.ready_at" ] && [ "$n" -ge "$(cat "$FAKE/$name.ready_at")" ]; then
	echo "customresourcedefinition.apiextensions.k8s.io/$name"
	exit 0
fi
[ -f "$FAKE/$name.chatty" ] && echo "$name not ready yet"
echo "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io \"$name\" not found" >&2
exit 1
EOF
chmod +x "$T/bin/kubectl"
export PATH="$T/bin:$PATH"
PROBE_JSON='{"target":{"kind":"CustomResourceDefinition","name":"x","status":"NotFound"},"dependencies":[{"kind":"HelmRelease","name":"capi-operator","namespace":"flux-system","status":"Failed","reason":"InstallFailed","message":"chart not found"}]}'
printf 'echo %q\n' "$PROBE_JSON" > "$T/probe.sh"
export PROBE="bash $T/probe.sh"

# The classic kest-env.sh: loop until success or MAX_WAIT, sleeping INTERVAL,
# the command's output printed as it comes. retry_with_probe is the shim a user
# of the classic function would have: the same loop, probe options ignored.
cat > "$T/classic/kest-env.sh" <<'EOF'
retry_until_success() {
	local max_wait=$1 interval=$2
	shift 2
	local start=$SECONDS
	until "$@"; do
		if [ $((SECONDS - start)) -ge "$max_wait" ]; then
			return 124
		fi
		sleep "$interval"
	done
}
retry_with_probe() {
	local max_wait=600 interval=10
	while [ "$1" != "--" ]; do
		case $1 in
		--max-wait) max_wait=$2 ;;
		--interval) interval=$2 ;;
		esac
		shift 2
	done
	shift
	retry_until_success "$max_wait" "$interval" "$@"
}
EOF
# The switch: one line.
echo ". \"$ROOT/share/waitloop/retry.sh\"" > "$T/dropin/kest-env.sh"

# The seed's verify.sh pattern, one case per argument; identical in both directories.
cat > "$T/verify.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
. "$(dirname "$0")/kest-env.sh"

case $1 in
met_first_try)
	retry_until_success 600 1 kubectl get crd ready-now
	echo "verify: ok"
	;;
slow_condition)   # each try takes 3 s, the interval is 2 s
	retry_until_success 15 2 kubectl get crd slow
	echo "verify: ok"
	;;
captured_output)
	out=$(retry_until_success 5 1 kubectl get crd captured)
	echo "captured=[$out]"
	;;
met_after_retries)
	retry_until_success 30 1 kubectl get crd third-time
	echo "verify: ok"
	;;
condition_stderr)   # NotFound on stderr twice, then created
	retry_until_success 30 0.5 kubectl get crd noisy
	echo "verify: ok"
	;;
timeout)
	rc=0
	retry_until_success 2 1 kubectl get crd never || rc=$?
	echo "verify: wait failed with $rc"
	exit 1
	;;
timeout_set_e)   # set -e ends the script with the wait's status
	retry_until_success 1 1 kubectl get crd never
	echo "not reached"
	;;
typo)
	rc=0
	retry_until_success 4 1 kubctl get crd x || rc=$?
	echo "verify: wait failed with $rc"
	;;
quoted_command)
	rc=0
	retry_until_success 4 1 "kubectl get crd x" || rc=$?
	echo "verify: wait failed with $rc"
	;;
zero_budget_met)
	retry_until_success 0 1 kubectl get crd ready-now
	echo "verify: ok"
	;;
zero_budget_fails)
	rc=0
	retry_until_success 0 1 kubectl get crd never || rc=$?
	echo "verify: wait failed with $rc"
	;;
met_on_last_try)   # budget 2 s, interval 4 s: the second (last) try succeeds
	retry_until_success 2 4 kubectl get crd last-try
	echo "verify: ok"
	;;
three_waits)
	retry_until_success 30 0.5 kubectl get crd ready-now
	retry_until_success 30 0.5 kubectl get crd third-time
	retry_until_success 1 0.5 kubectl get crd never
	echo "not reached"
	;;
same_wait_twice)
	retry_until_success 30 0.5 kubectl get crd ready-now
	retry_until_success 30 0.5 kubectl get crd ready-now
	echo "verify: ok"
	;;
sigterm)
	retry_until_success 120 0.5 kubectl get crd ticking
	;;
probe_terminal)
	rc=0
	retry_with_probe --probe "$PROBE" --builtin kubernetes --target crd/x --max-wait 4 --interval 1 \
		-- kubectl get crd x || rc=$?
	echo "verify: wait failed with $rc"
	;;
esac
EOF
cp "$T/verify.sh" "$T/classic/verify.sh"
cp "$T/verify.sh" "$T/dropin/verify.sh"

now_ms() { date +%s%3N; }
setup() { # case: the fake cluster's state for it
	rm -rf "$FAKE" && mkdir -p "$FAKE"
	echo 1 > "$FAKE/ready-now.ready_at"
	echo 1 > "$FAKE/slow.ready_at"; echo 3 > "$FAKE/slow.sleep"
	echo 1 > "$FAKE/captured.ready_at"
	echo 3 > "$FAKE/third-time.ready_at"; touch "$FAKE/third-time.chatty"
	echo 3 > "$FAKE/noisy.ready_at"
	echo 2 > "$FAKE/last-try.ready_at"
	touch "$FAKE/never.chatty" "$FAKE/ticking.chatty"
}
# run VARIANT CASE: VARIANT.out / .err / .rc / .ms, and VARIANT.calls-NAME
run() {
	setup
	local t0
	t0=$(now_ms)
	( cd "$T/$1" && WAITLOOP_BIN="$WL" bash ./verify.sh "$2" >"$T/$1.out" 2>"$T/$1.err" )
	echo $? > "$T/$1.rc"
	echo $(( $(now_ms) - t0 )) > "$T/$1.ms"
	for f in "$FAKE"/*.count; do
		[ -f "$f" ] && cp "$f" "$T/$1.calls-$(basename "$f" .count)"
	done
}
calls() { cat "$T/$1.calls-$2" 2>/dev/null || echo 0; }
# The drop-in's stderr without its evidence lines must be the classic's stderr.
stderr_same() {
	grep -v '^waitloop wait' "$T/dropin.err" > "$T/dropin.err.cond" || true
	if ! cmp -s "$T/classic.err" "$T/dropin.err.cond"; then
		t_fail "condition stderr differs"
		diff "$T/classic.err" "$T/dropin.err.cond" | head -20 | sed 's/^/      /' >&2
	fi
}
same() { # the drop-in and the classic agree exactly on stdout, status and the condition's stderr
	expect_eq "$(cat "$T/dropin.rc")" "$(cat "$T/classic.rc")"
	if ! cmp -s "$T/classic.out" "$T/dropin.out"; then
		t_fail "stdout differs"
		diff "$T/classic.out" "$T/dropin.out" | head -20 | sed 's/^/      /' >&2
	fi
	stderr_same
}
both() { run classic "$1"; run dropin "$1"; }

t_begin dropin_met_first_try_is_silent
both met_first_try
same
expect_eq "$(cat "$T/dropin.out")" "customresourcedefinition.apiextensions.k8s.io/ready-now
verify: ok"
expect_eq "$(cat "$T/dropin.err")" ""   # no "met after" noise
t_end

t_begin dropin_slow_condition_is_not_killed_at_interval
both slow_condition
same
expect_eq "$(cat "$T/dropin.rc")" 0
expect_eq "$(calls dropin slow)" 1
t_end

t_begin dropin_output_captured_with_command_substitution
both captured_output
same
expect_eq "$(cat "$T/dropin.out")" "captured=[customresourcedefinition.apiextensions.k8s.io/captured]"
t_end

t_begin dropin_met_after_retries_prints_each_try
both met_after_retries
same
expect_eq "$(grep -c 'not ready yet' "$T/dropin.out")" 2
expect_eq "$(calls dropin third-time)" 3
# evidence: one progress line per failed try, no summary on success
expect_eq "$(grep -c '^waitloop wait \[kubectl-get-crd-third-time\]: #[12] retryable (condition exit 1)' "$T/dropin.err")" 2
expect_not_contains "$T/dropin.err" "met after"
t_end

t_begin dropin_condition_stderr_passes_through
both condition_stderr
same
expect_eq "$(grep -c 'Error from server (NotFound)' "$T/dropin.err")" 2
t_end

t_begin dropin_timeout_status_124
both timeout
expect_eq "$(cat "$T/classic.rc")" 1
expect_eq "$(cat "$T/dropin.rc")" 1
expect_eq "$(tail -n 1 "$T/classic.out")" "verify: wait failed with 124"
expect_eq "$(tail -n 1 "$T/dropin.out")" "verify: wait failed with 124"
# the number of tries depends on the machine's speed: compare what was printed, not how often
expect_eq "$(sort -u "$T/dropin.out")" "$(sort -u "$T/classic.out")"
[ "$(calls dropin never)" -ge 2 ] || t_fail "drop-in tried $(calls dropin never) times in 2 s at interval 1 s"
expect_contains "$T/dropin.err" "waitloop wait [kubectl-get-crd-never]: timeout after"
t_end

t_begin dropin_timeout_under_set_e
both timeout_set_e
expect_eq "$(cat "$T/classic.rc")" 124
expect_eq "$(cat "$T/dropin.rc")" 124
expect_eq "$(sort -u "$T/dropin.out")" "$(sort -u "$T/classic.out")"
expect_not_contains "$T/dropin.out" "not reached"
t_end

t_begin dropin_typo_ends_at_once_with_status_2
both typo
# the classic burns the whole budget and calls it a time-out; the drop-in says why, at once
expect_eq "$(cat "$T/classic.out")" "verify: wait failed with 124"
expect_eq "$(cat "$T/dropin.out")" "verify: wait failed with 2"
expect_contains "$T/dropin.err" "command not found: kubctl"
# (bash's SECONDS counts whole seconds: a 4 s budget can end after 3.0 s)
[ "$(cat "$T/classic.ms")" -ge 2900 ] || t_fail "classic ended after $(cat "$T/classic.ms") ms"
[ "$(cat "$T/dropin.ms")" -lt 3000 ] || t_fail "typo cost $(cat "$T/dropin.ms") ms"
t_end

t_begin dropin_whole_command_quoted_as_one_word
both quoted_command
expect_eq "$(cat "$T/classic.out")" "verify: wait failed with 124"
expect_eq "$(cat "$T/dropin.out")" "verify: wait failed with 2"
expect_contains "$T/dropin.err" "command not found: kubectl get crd x (the whole command is one word"
[ "$(cat "$T/dropin.ms")" -lt 3000 ] || t_fail "took $(cat "$T/dropin.ms") ms"
t_end

t_begin dropin_zero_second_budget_tries_once
both zero_budget_met
same
expect_eq "$(cat "$T/dropin.rc")" 0
both zero_budget_fails
same
expect_eq "$(tail -n 1 "$T/dropin.out")" "verify: wait failed with 124"
expect_eq "$(calls dropin never)" 1
expect_eq "$(calls classic never)" 1
t_end

t_begin dropin_met_on_the_last_try
both met_on_last_try
same
expect_eq "$(cat "$T/dropin.rc")" 0
expect_eq "$(calls classic last-try)" 2
expect_eq "$(calls dropin last-try)" 2
t_end

t_begin dropin_three_waits_in_one_check
both three_waits
# the last wait times out: how many tries fit in 1 s depends on the machine, what they print does not
expect_eq "$(cat "$T/classic.rc")" 124
expect_eq "$(cat "$T/dropin.rc")" 124
expect_eq "$(sort -u "$T/dropin.out")" "$(sort -u "$T/classic.out")"
grep -v '^waitloop wait' "$T/dropin.err" | sort -u > "$T/dropin.err.u"
sort -u "$T/classic.err" > "$T/classic.err.u"
cmp -s "$T/classic.err.u" "$T/dropin.err.u" || t_fail "condition stderr differs"
expect_eq "$(grep -c '^waitloop wait \[kubectl-get-crd-never\]: timeout after' "$T/dropin.err")" 1
# under waitloop run: each wait its own directory, only the failed one with wait-failure.json
setup
mkdir -p "$T/step"
( cd "$T/dropin" && WAITLOOP_BIN="$WL" WAITLOOP_STEP_DIR="$T/step" WAITLOOP_RUN_ID=r1 WAITLOOP_ITERATION=2 \
	bash ./verify.sh three_waits >/dev/null 2>&1 )
expect_eq "$(cd "$T/step/waits" && ls | tr '\n' ' ')" "kubectl-get-crd-never kubectl-get-crd-ready-now kubectl-get-crd-third-time "
[ ! -f "$T/step/wait-failure.json" ] || t_fail "an in-script wait wrote the step's own wait-failure.json"
[ ! -f "$T/step/waits/kubectl-get-crd-ready-now/wait-failure.json" ] || t_fail "met wait left wait-failure.json"
expect_eq "$(wc -l < "$T/step/waits/kubectl-get-crd-third-time/wait-probe.log")" 3
wf="$T/step/waits/kubectl-get-crd-never/wait-failure.json"
expect_schema_valid wait-failure "$wf"
/usr/bin/python3 - "$wf" <<'PY' || t_fail "wait-failure.json fields"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["name"] == "kubectl-get-crd-never", d["name"]
assert d["condition"] == "kubectl get crd never", d["condition"]
assert d["probe"] is None
assert d["run_id"] == "r1" and d["iteration"] == 2, d
log = open(d["pointers"]["probe_log"]).read().splitlines()
assert d["observations"] == len(log), (d["observations"], len(log))
assert [json.loads(l)["seq"] for l in log] == list(range(1, len(log) + 1))
PY
t_end

t_begin dropin_same_wait_twice_gets_two_names
setup
rm -rf "$T/step" && mkdir -p "$T/step"
( cd "$T/dropin" && WAITLOOP_BIN="$WL" WAITLOOP_STEP_DIR="$T/step" bash ./verify.sh same_wait_twice >/dev/null 2>&1 )
expect_eq "$(cd "$T/step/waits" && ls | tr '\n' ' ')" "kubectl-get-crd-ready-now kubectl-get-crd-ready-now-2 "
t_end

t_begin dropin_sigterm_to_the_script
for v in classic dropin; do
	setup
	( cd "$T/$v" && WAITLOOP_BIN="$WL" exec bash ./verify.sh sigterm >"$T/$v.out" 2>"$T/$v.err" ) &
	pid=$!
	for _ in $(seq 200); do [ "$(cat "$FAKE/ticking.count" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.1; done
	kill -TERM "$pid"
	wait "$pid"
	echo $? > "$T/$v.rc"
	sleep 1.5   # a try already under way may still end
	c1=$(cat "$FAKE/ticking.count")
	sleep 2
	c2=$(cat "$FAKE/ticking.count")
	[ "$c1" = "$c2" ] || t_fail "$v: tries went on after the script was killed ($c1 -> $c2)"
done
expect_eq "$(cat "$T/classic.rc")" 143
expect_eq "$(cat "$T/dropin.rc")" 143
expect_eq "$(sort -u "$T/dropin.out")" "$(sort -u "$T/classic.out")"
t_end

t_begin dropin_probe_shows_terminal_state_earlier_abort
both probe_terminal
expect_eq "$(cat "$T/classic.out")" "verify: wait failed with 124"
expect_eq "$(cat "$T/dropin.out")" "verify: wait failed with 1"
expect_eq "$(calls dropin x)" 1
[ "$(calls classic x)" -ge 3 ] || t_fail "classic tried $(calls classic x) times"
expect_contains "$T/dropin.err" "terminal_fail after 1 observation"
t_end

# --- the waitloop wait CLI behind the drop-in ------------------------------

t_begin dropin_interval_zero
setup
( WAITLOOP_BIN="$WL" bash -c '. "$1"; retry_until_success 30 0 kubectl get crd third-time' _ "$ROOT/share/waitloop/retry.sh" ) >out.txt 2>/dev/null
expect_eq "$?" 0
expect_eq "$(grep -c 'not ready yet' out.txt)" 2
t_end

t_begin wait_cli_bare_seconds_and_decimal
expect_rc 0 "$WL" wait -q --max-wait 600 --interval 0.5 -- true
"$WL" wait --max-wait 10x -- true 2>err.txt
expect_eq $? 2
expect_contains err.txt "invalid duration '10x' for --max-wait (e.g. 200ms, 10s, 5m, or bare seconds)"
t_end

t_begin wait_cli_did_you_mean_option
"$WL" wait --max-wiat 5 -- true 2>err.txt
expect_eq $? 2
expect_eq "$(head -n 1 err.txt)" "waitloop: error: unknown option '--max-wiat' (did you mean '--max-wait'?)"
t_end

t_begin wait_cli_probe_aware_needs_something_to_observe
"$WL" wait --mode probe_aware -- true 2>err.txt
expect_eq $? 2
expect_contains err.txt "--mode probe_aware has nothing to observe"
t_end

# (a probe that cannot be executed is "probe-broken", the stall/classification side: test_stall_evidence.sh)
t_begin wait_cli_classifier_not_executable_exits_2
setup
"$WL" wait --classify 'no-such-classifier' --out o --interval 100ms --max-wait 30 -- kubectl get crd never >/dev/null 2>err.txt
expect_eq $? 2
expect_contains err.txt "classify: command not found: no-such-classifier"
expect_eq "$(/usr/bin/python3 -c 'import json; print(json.load(open("o/wait-failure.json"))["reason"])')" error
expect_schema_valid wait-failure o/wait-failure.json
t_end

t_begin wait_cli_condition_timeout
"$WL" wait --condition-timeout 300ms --max-wait 1 --interval 200ms --out o -- sleep 5 2>err.txt
expect_eq $? 124
expect_contains o/wait-probe.log "condition timeout"
t_end

t_begin wait_cli_quiet_json_verbose
setup
"$WL" wait -q --max-wait 1 --interval 200ms --out o -- kubectl get crd never >out.txt 2>err.txt
expect_eq $? 124
expect_not_contains err.txt "waitloop wait"
"$WL" wait --json --max-wait 0 --out o -- kubectl get crd ready-now >out.txt 2>err.txt
expect_eq $? 0
/usr/bin/python3 -c 'import json,sys; d=json.load(open("out.txt")); assert d["outcome"]=="met" and d["exit_code"]==0 and d["name"]=="kubectl-get-crd-ready-now", d' \
	|| t_fail "--json: $(cat out.txt)"
expect_contains err.txt "customresourcedefinition.apiextensions.k8s.io/ready-now"   # the condition's stdout moved aside
"$WL" wait -v --probe "$PROBE" --max-wait 30 --interval 100ms --stall-threshold 50 --out o \
	--terminal-pattern 'never-matches' -- kubectl get crd never >/dev/null 2>err.txt &
pid=$!
for _ in $(seq 100); do grep -q '#2' err.txt && break; sleep 0.1; done
kill -TERM $pid; wait $pid
expect_contains err.txt "no progress 1/50"
# -v: the summary of what was seen
grep -qE 'no progress [0-9]+/50, [0-9.]+s/30s: Error from server \(NotFound\)' err.txt || t_fail "-v: $(cat err.txt)"
t_end

t_begin wait_cli_keepalive_while_a_try_runs
WAITLOOP_KEEPALIVE_S=1 "$WL" wait --max-wait 30 -- sleep 2.5 2>err.txt
expect_eq $? 0
expect_contains err.txt "waitloop wait [sleep-2.5]: still waiting, observation #1"
t_end

t_begin wait_cli_live_line_on_a_terminal
setup
script -qec "$WL wait --max-wait 1 --interval 300ms -- kubectl get crd never" /dev/null > tty.txt 2>&1
grep -q $'\r\033\[K' tty.txt || t_fail "no redrawn line on a terminal: $(head -c 300 tty.txt | od -c | head -5)"
expect_contains tty.txt "timeout after"
t_end

# --- under waitloop run: every wait named, its own files, the cause first ----

mkdir -p "$T/ws"
cat > "$T/ws/wf.yaml" <<'EOF2'
name: dropin-loop
version: "1"
timeout: 5m
steps:
  impl:
    worker: CUSTOM
    instructions: |
      n=$(cat .iter 2>/dev/null || echo 0); echo $((n + 1)) > .iter
      echo "implementer iteration $((n + 1))"
      if [ "$n" -ge 1 ]; then echo 1 > "$FAKE/never.ready_at"; fi   # the fix, in iteration 2
    max_iterations: 3
    completion_check:
      worker: CUSTOM
      instructions: |
        set -euo pipefail
        . "$WAITLOOP_ROOT/share/waitloop/retry.sh"
        retry_until_success 30 0.2 kubectl get crd ready-now
        retry_until_success 1 0.2 kubectl get crd slowpoke || echo "slowpoke is late, going on"
        retry_until_success 1 0.2 kubectl get crd never
        echo "check passed"
  gate:
    depends_on: [impl]
    wait: {condition: "kubectl get crd ready-now", target: crd/ready-now}
    wait_policy: {max_wait: 10s, interval: 200ms}
EOF2
runwf() { # N: run number
	( cd "$T/ws" && "$WL" run wf.yaml --no-progress >"$T/run$1.out" 2>"$T/run$1.err" )
	echo $? > "$T/run$1.rc"
}

t_begin run_in_script_waits_named_and_first
setup
runwf 1
expect_eq "$(cat "$T/run1.rc")" 0
expect_contains "$T/run1.out" "PASS  impl (2 iterations)"
D=$T/ws/context/impl
expect_schema_valid verdict "$D/iterations/1/review.verdict"
/usr/bin/python3 - "$D" <<'PY' || t_fail "verdict / archive of iteration 1"
import json, os, sys
D = sys.argv[1]
v = json.load(open(f"{D}/iterations/1/review.verdict"))
assert v["decision"] == "incomplete", v
m = v["message"]
assert m.startswith("wait `kubectl-get-crd-never` (kubectl get crd never): timeout after"), m
r = v["reasons"]
assert r[0] == m, r
assert any(x.startswith("wait `kubectl-get-crd-slowpoke` (kubectl get crd slowpoke): timeout after") for x in r), r
st = [i for i, x in enumerate(r) if x.startswith("the completion check exited with status 124")]
assert st and st[0] > 1, r      # the check's exit status comes after the waits
# each wait its own directory, archived; pointers at the archived copies and the check's output
w = f"{D}/iterations/1/waits"
assert sorted(os.listdir(w)) == ["kubectl-get-crd-never", "kubectl-get-crd-ready-now", "kubectl-get-crd-slowpoke"], os.listdir(w)
f = json.load(open(f"{w}/kubectl-get-crd-never/wait-failure.json"))
assert f["name"] == "kubectl-get-crd-never" and f["condition"] == "kubectl get crd never", f
assert f["iteration"] == 1 and f["run_id"], f
assert f["pointers"]["probe_log"] == f"{w}/kubectl-get-crd-never/wait-probe.log", f["pointers"]
assert f["pointers"]["stdout"] == f"{D}/iterations/1/check.stdout.log", f["pointers"]
log = open(f["pointers"]["probe_log"]).read().splitlines()
assert f["observations"] == len(log) and [json.loads(l)["seq"] for l in log] == list(range(1, len(log) + 1))
out = open(f"{D}/iterations/1/check.stdout.log").read()
assert "slowpoke is late" in out and "check passed" not in out, out
assert "implementer iteration" not in out, out
# the live waits/ is iteration 2's: "never" was met there
assert not os.path.exists(f"{D}/waits/kubectl-get-crd-never/wait-failure.json")
assert os.path.exists(f"{D}/waits/kubectl-get-crd-slowpoke/wait-failure.json")
PY
expect_schema_valid wait-failure "$D/iterations/1/waits/kubectl-get-crd-never/wait-failure.json"
F1=$D/iterations/1/fix.md
expect_contains "$F1" '**wait `kubectl-get-crd-never` (kubectl get crd never): timeout after'
expect_contains "$F1" '### wait `kubectl-get-crd-slowpoke`'
expect_contains "$F1" "iterations/1/check.stdout.log"
# the check's output tail keeps each wait's summary line, not its per-observation lines (the timeline has those)
expect_contains "$F1" "waitloop wait [kubectl-get-crd-slowpoke]: timeout after"
expect_not_contains "$F1" "waitloop wait [kubectl-get-crd-slowpoke]: #"
expect_contains "$F1" 'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "slowpoke" not found'
# the wait step: named after the step, its condition's output in its own stdout.log
expect_contains "$T/ws/context/gate/stdout.log" "customresourcedefinition.apiextensions.k8s.io/ready-now"
# history: every in-script wait is a wait of its step (script = 1, its name),
# apart from the runner's own; observations as in its wait-probe.log
H=$T/ws/.waitloop/history.db
expect_eq "$(sqlite3 "$H" "SELECT group_concat(name || '/' || outcome, ' ') FROM (SELECT name, outcome FROM waits
	WHERE step = 'impl' AND script = 1 AND iteration = 1 ORDER BY name)")" \
	"kubectl-get-crd-never/timeout kubectl-get-crd-ready-now/met kubectl-get-crd-slowpoke/timeout"
for n in kubectl-get-crd-never kubectl-get-crd-slowpoke; do
	expect_eq "$(sqlite3 "$H" "SELECT count(*) FROM observations o JOIN waits w ON o.wait_id = w.id
		WHERE w.step = 'impl' AND w.iteration = 1 AND w.script = 1 AND w.name = '$n'")" \
		"$(wc -l <"$D/iterations/1/waits/$n/wait-probe.log")"
done
expect_eq "$(sqlite3 "$H" "SELECT count(*) FROM waits WHERE step = 'gate' AND script = 0")" 1
expect_eq "$(sqlite3 "$H" "PRAGMA integrity_check")" ok
t_end

t_begin run_second_run_starts_clean
setup
rm -f "$T/ws/.iter"
runwf 2
expect_eq "$(cat "$T/run2.rc")" 0
D=$T/ws/context/impl
expect_eq "$(grep -c 'implementer iteration' "$D/stdout.log")" 2   # this run's two iterations, not four
expect_eq "$(grep -c 'ready-now' "$T/ws/context/gate/stdout.log")" 1
# history: the gate's observations agree with its wait-probe.log
id=$(sed -n 's/^Run: //p' "$T/run2.out")
"$WL" show "$id" --db "$T/ws/.waitloop/history.db" --json > show.json 2>/dev/null || t_fail "show"
/usr/bin/python3 - show.json "$T/ws/context/gate/wait-probe.log" <<'PY' || t_fail "observation counts"
import json, sys
d = json.load(open(sys.argv[1]))
gate = [s for s in d["steps"] if s["step"] == "gate"][0]
waits = gate.get("waits") or [w for it in gate.get("iterations", []) for w in it.get("waits", [])]
n = len(open(sys.argv[2]).read().splitlines())
assert waits and waits[-1]["observation_count"] == n, (waits, n)
PY
t_end

t_begin run_guard_and_in_script_wait_never_share_a_file
setup
mkdir -p "$T/wsg"
cat > "$T/wsg/wf.yaml" <<EOF2
name: guard-and-inner
version: "1"
timeout: 5m
steps:
  guarded:
    worker: CUSTOM
    instructions: echo implementing
    max_iterations: 2
    on_iterations_exhausted: continue
    completion_check:
      worker: CUSTOM
      instructions: |
        . "\$WAITLOOP_ROOT/share/waitloop/retry.sh"
        retry_until_success 30 0.2 kubectl get crd third-time
        retry_until_success 120 1 kubectl get crd x
      wait_policy:
        mode: probe_aware
        interval: 2s
        max_wait: 120s
        target: crd/x
        probe: bash $T/probe.sh
        builtin: kubernetes
        grace: 1s
EOF2
( cd "$T/wsg" && "$WL" run wf.yaml --no-progress >"$T/g.out" 2>"$T/g.err" )
expect_eq "$?" 0
expect_contains "$T/g.out" "INCOMPLETE  guarded (2 iterations)"
D=$T/wsg/context/guarded
id=$(sed -n 's/^Run: //p' "$T/g.out")
"$WL" show "$id" --db "$T/wsg/.waitloop/history.db" --json > show.json 2>/dev/null || t_fail "show"
/usr/bin/python3 - "$D" show.json <<'PY' || t_fail "guard and in-script wait evidence"
import json, os, sys
D = sys.argv[1]
I = f"{D}/iterations/1"
v = json.load(open(f"{I}/review.verdict"))
assert v["source"] == "wait_policy", v
assert v["message"].startswith("wait `crd-x` (probe: bash ") and "terminal_fail after" in v["message"], v["message"]
assert v["reasons"][0] == v["message"], v["reasons"]
assert v["reasons"][-1].startswith("the wait_policy stopped the completion check early"), v["reasons"]
g = json.load(open(f"{I}/wait-failure.json"))
assert g["name"] == "crd-x" and g["condition"] is None and g["probe"].startswith("bash "), g
assert g["pointers"]["probe_log"] == f"{I}/wait-probe.log", g["pointers"]
assert g["pointers"]["stdout"] == f"{I}/check.stdout.log", g["pointers"]
glog = [json.loads(l) for l in open(f"{I}/wait-probe.log")]
assert [o["seq"] for o in glog] == list(range(1, len(glog) + 1)), glog
assert all(o["phase"] == "completion_check" for o in glog), glog
assert g["observations"] == len(glog), (g["observations"], len(glog))
ilog = [json.loads(l) for l in open(f"{I}/waits/kubectl-get-crd-third-time/wait-probe.log")]
assert [o["seq"] for o in ilog] == [1, 2, 3] and all(o["phase"] == "completion_check" for o in ilog), ilog
fix = open(f"{I}/fix.md").read()
assert "### the step's own wait (wait_policy)" in fix and "### wait `kubectl-get-crd-third-time`" in fix, fix
# history: the guard's recorded observations are what its log holds
d = json.load(open(sys.argv[2]))
st = [s for s in d["steps"] if s["step"] == "guarded"][0]
waits = [w for it in st.get("iterations", []) for w in it.get("waits", [])] or st.get("waits", [])
guard = [w for w in waits if not w["script"] and w["iteration"] == 1]
assert len(guard) == 1 and guard[0]["observation_count"] == len(glog), (guard, len(glog))
# the check's own wait is recorded beside the guard, as a script wait with its name
inner = [w for w in waits if w["script"] and w["iteration"] == 1]
# (the second was still waiting when the guard stopped the check: cancelled)
assert [(w["name"], w["outcome"]) for w in inner] == [("kubectl-get-crd-third-time", "met"),
                                                    ("kubectl-get-crd-x", "cancelled")], inner
assert inner[0]["observation_count"] == len(ilog), (inner, len(ilog))
PY
t_end

t_begin run_example_workflow_verify_dropin
setup
echo 1 > "$FAKE/k0smotrondockerclusters.cluster.appthrust.io.ready_at"
echo 2 > "$FAKE/clusters.cluster.x-k8s.io.ready_at"
mkdir -p "$T/wse"
( cd "$T/wse" && "$WL" run "$ROOT/workflows/verify-dropin.yaml" --set RETRY_SH="$ROOT/share/waitloop/retry.sh" \
	--no-progress >"$T/e.out" 2>"$T/e.err" )
expect_eq "$?" 0
expect_contains "$T/e.out" "PASS  deploy"
expect_contains "$T/wse/context/deploy/check.stdout.log" "installed: customresourcedefinition.apiextensions.k8s.io/clusters.cluster.x-k8s.io"
expect_eq "$(cat "$FAKE/clusters.cluster.x-k8s.io.count")" 2
t_end
