# End-to-end: the operational safeguards wired into `waitloop run` —
# preflight, notifications (every delivery reason), metrics, alerts, history
# database selection and errors, workflows/crd-wait.yaml against a fake kubectl.
# timeout: 240
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

FX=$ROOT/tests/fixtures/ops
export WAITLOOP_KEEPALIVE_S=30
unset WAITLOOP_DB

jq_() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
now_ms() { date +%s%3N; }
sql() { # db query -> single value
	/usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$@"
}
# metric FILE NAME LABELS -> value ("" when absent); LABELS: k=v,k=v in any order
metric() {
	/usr/bin/python3 - "$@" <<'PY'
import re, sys
f, name, want = sys.argv[1], sys.argv[2], sys.argv[3]
want = dict(kv.split("=", 1) for kv in want.split(",")) if want else {}
for line in open(f):
    m = re.match(r'^([a-z_]+)(\{(.*)\})? (\S+)$', line.strip())
    if not m or m.group(1) != name:
        continue
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
    if labels == want:
        print(m.group(4))
        break
PY
}
events_valid() { # events.jsonl or inbox file: every line valid against event.schema.json
	/usr/bin/python3 - "$1" "$ROOT/schema/event.schema.json" <<'PY' || t_fail "invalid events in $1"
import json, sys
from jsonschema import Draft202012Validator
v = Draft202012Validator(json.load(open(sys.argv[2])))
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no events"
bad = 0
for l in lines:
    for e in v.iter_errors(json.loads(l)):
        print("   ", l[:120], e.message, file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
PY
}
count_lines() { grep -c -- "$2" "$1" 2>/dev/null || true; }

# A fake kubectl: the ConfigMap exists but has no data (jsonpath {.data} prints nothing).
mkdir -p kbin
cat > kbin/kubectl <<'SCRIPT'
#!/bin/sh
case "$*" in
*"get configmap"*) [ -n "${FAKE_CM_DATA:-}" ] && printf '%s' "$FAKE_CM_DATA"; exit 0 ;;
esac
echo "unexpected: $*" >&2; exit 3
SCRIPT
chmod +x kbin/kubectl

cat > preflight.yaml <<'YAML'
name: preflight-e2e
version: "1"
timeout: 1m
env:
  API_TOKEN: "tok-PREFLIGHT-8d7c6b5a4f"
preflight:
  - require_commands: [kubectl, helm-not-installed]
  - require_env: [KUBECONFIG_FOR_TEST]
  - require_files: [request.md]
  - name: agent-templates-present
    command: kubectl get configmap controller-agent-templates -o jsonpath='{.data}' | grep -q .
    timeout: 20s
    fingerprint: preflight/configmap-missing
  - name: leaky
    command: 'echo "auth token=$API_TOKEN"; exit 1'
steps:
  work:
    worker: CUSTOM
    instructions: touch ran.txt; sleep 30
YAML

t_begin ops_preflight_fails_fast_listing_every_failure
mkdir -p ws-pf
t0=$(now_ms)
PATH="$T/kbin:$PATH" "$WL" run preflight.yaml -w ws-pf --db pf.db --no-progress -v >pf.out 2>pf.err
rc=$?
ms=$(( $(now_ms) - t0 ))
echo "  preflight failure: exit $rc after ${ms} ms"
expect_eq "$rc" 2
[ -e ws-pf/ran.txt ] && t_fail "a step ran after a failed preflight"
for l in \
	"waitloop: error: preflight failed: helm-not-installed: command 'helm-not-installed' not found in PATH [preflight/command-missing/helm-not-installed]" \
	"waitloop: error: preflight failed: KUBECONFIG_FOR_TEST: environment variable 'KUBECONFIG_FOR_TEST' is not set [preflight/env-missing/KUBECONFIG_FOR_TEST]" \
	"waitloop: error: preflight failed: request.md: file 'request.md' not found [preflight/file-missing/request.md]" \
	"waitloop: error: preflight failed: agent-templates-present: check 'agent-templates-present' failed (exit 1) [preflight/configmap-missing]" \
	"[preflight/check-failed/leaky]"; do
	expect_contains pf.err "$l"
done
expect_eq "$(grep -c '^waitloop: error: preflight failed: ' pf.err)" 5
expect_not_contains pf.err "preflight failed: kubectl"
expect_contains pf.err "auth token=[REDACTED]"
grep -rq "tok-PREFLIGHT" pf.err pf.out ws-pf pf.db* && t_fail "secret leaked"
EV=ws-pf/context/_workflow/events.jsonl
events_valid "$EV"
expect_eq "$(count_lines "$EV" '"type":"preflight"')" 6
expect_eq "$(count_lines "$EV" '"type":"preflight".*"ok":true')" 1
expect_contains "$EV" '"type":"run_finished"'
expect_contains "$EV" '"exit_code":2'
expect_eq "$(jq_ ws-pf/context/_workflow.json 'd["status"], d["exit_code"]')" "('FAILED', 2)"
expect_eq "$(sql pf.db "SELECT status || '|' || exit_code || '|' || status_reason FROM runs")" \
	"FAILED|2|preflight failed (5 of 6 checks)"
expect_eq "$(sql pf.db "SELECT count(*) FROM preflight WHERE ok")" 1
expect_eq "$(sql pf.db "SELECT count(*) FROM preflight WHERE NOT ok")" 5
"$WL" show --db pf.db "$(sql pf.db 'SELECT id FROM runs')" >show.txt
expect_contains show.txt "FAIL  agent-templates-present  [preflight/configmap-missing]"
expect_contains show.txt "preflight failed (5 of 6 checks)"
t_end

t_begin ops_preflight_passes_and_is_recorded
mkdir -p ws-pf2
echo req > ws-pf2/request.md
sed -e '/name: leaky/,+1d' preflight.yaml | sed -e 's/helm-not-installed/sh/' -e 's/sleep 30/true/' >preflight-ok.yaml
PATH="$T/kbin:$PATH" FAKE_CM_DATA='{"implement.md":"x"}' KUBECONFIG_FOR_TEST=/dev/null \
	"$WL" run preflight-ok.yaml -w ws-pf2 --db pf2.db -q >pf2.out 2>pf2.err
expect_eq "$?" 0
[ -e ws-pf2/ran.txt ] || t_fail "the step did not run"
expect_eq "$(sql pf2.db "SELECT count(*) FROM preflight WHERE ok")" 5
expect_eq "$(sql pf2.db "SELECT status FROM runs")" SUCCEEDED
t_end

# Notifications: every delivery reason through the real binary.
setup_hooks() { # dir
	mkdir -p "$1/inbox" "$1/hooks"
	printf '#!/bin/sh\ncat >> received.jsonl\n' >"$1/hooks/ok.sh"
	printf '#!/bin/sh\nexit 0\n' >"$1/hooks/noexec.sh"
	printf '#!/bin/sh\ncat > /dev/null\nexit 3\n' >"$1/hooks/fail.sh"
	printf '#!/bin/sh\necho $$ >> hang.pids\nexec sleep 600\n' >"$1/hooks/hang.sh"
	chmod +x "$1/hooks/ok.sh" "$1/hooks/fail.sh" "$1/hooks/hang.sh"
}

t_begin ops_notify_every_reason
setup_hooks ws-nt
t0=$(now_ms)
"$WL" run "$FX/notify.yaml" -w ws-nt --db nt.db --metrics nt.prom --no-progress >nt.out 2>nt.err
rc=$?
ms=$(( $(now_ms) - t0 ))
echo "  notify run: exit $rc in ${ms} ms (hanging target timeout 1s)"
expect_eq "$rc" 1
[ "$ms" -lt 60000 ] || t_fail "a hanging notify target (10 min) delayed the run: ${ms} ms"
EV=ws-nt/context/_workflow/events.jsonl
events_valid "$EV"
for want in inbox:delivered okcmd:delivered nodir:target_missing noexec:not_reachable \
	failing:send_failed hanging:timed_out; do
	tg=${want%%:*} reason=${want#*:}
	# early_abort (first attempt), alert, run_finished
	expect_eq "$(count_lines "$EV" "\"target\":\"$tg\",\"event\":\"[a-z_]*\",\"reason\":\"$reason\"")" 3
	# the second attempt's early_abort: same (run, event, step, iteration, target)
	expect_eq "$(count_lines "$EV" "\"target\":\"$tg\",\"event\":\"early_abort\",\"reason\":\"duplicate_suppressed\"")" 1
	expect_eq "$(metric nt.prom waitloop_notifications_total "target=$tg,reason=$reason")" 3
	expect_eq "$(metric nt.prom waitloop_notifications_total "target=$tg,reason=duplicate_suppressed")" 1
done
# history: one row per (event, step, iteration, target), suppressed counted
expect_eq "$(sql nt.db "SELECT count(*) FROM notifications")" 18
expect_eq "$(sql nt.db "SELECT sum(suppressed) FROM notifications")" 6
"$WL" show --db nt.db "$(sql nt.db 'SELECT id FROM runs')" >nt-show.txt
expect_contains nt-show.txt "early_abort doomed -> hanging: timed_out (1 duplicate suppressed) — no answer within 1s; stopped"
expect_contains nt-show.txt "run_finished -> nodir: target_missing"
# payloads: the file target's lines and the command's stdin are valid events
expect_eq "$(wc -l <ws-nt/inbox/events.jsonl)" 3
events_valid ws-nt/inbox/events.jsonl
events_valid ws-nt/received.jsonl
expect_eq "$(/usr/bin/python3 -c 'import json,sys; print([json.loads(l)["type"] for l in open(sys.argv[1])])' ws-nt/inbox/events.jsonl)" \
	"['early_abort', 'alert', 'run_finished']"
expect_contains ws-nt/inbox/events.jsonl '"schema":"waitloop.event.v1"'
# warnings: bounded lines; target_missing only at debug level (-v)
awk 'length > 200 { bad = 1 } END { exit bad }' nt.err || t_fail "a stderr line is longer than 200 characters"
expect_contains nt.err "waitloop: warning: notify: timed_out: target 'hanging'"
expect_not_contains nt.err "target_missing: target"
# no secret anywhere (API_TOKEN in env, a GitHub token in the condition output)
# (a step's stdout.log / stderr.log are raw, the user's data — SPEC §7; a wait step's hold its condition's output)
grep -rl "tok-PLANTED\|ghp_abcdefghij" nt.out nt.err nt.prom nt.db* ws-nt | grep -vE '/(stdout|stderr)\.log$' && t_fail "secret leaked"
grep -q REDACTED ws-nt/context/doomed/wait-failure.json || t_fail "the planted secrets never reached an artifact (test is vacuous)"
# the hanging peer was stopped, not left behind
sleep 0.2
while read -r p; do
	kill -0 "$p" 2>/dev/null && [ "$(awk '/^State:/ {print $2}' "/proc/$p/status")" != Z ] && t_fail "hook $p still running"
done <ws-nt/hang.pids
t_end

# A crash and re-run of the recording: the same events replayed by another
# process through the real notifier against the same history database.
t_begin ops_notify_at_most_once_across_processes
"$TOOLS/notify_replay" nt.db "$FX/notify.yaml" "$T/ws-nt" <ws-nt/context/_workflow/events.jsonl >replay.txt 2>replay.err ||
	t_fail "notify_replay failed: $(cat replay.err)"
expect_eq "$(wc -l <replay.txt)" 24
expect_eq "$(grep -vc ' duplicate_suppressed$' replay.txt)" 0
expect_eq "$(wc -l <ws-nt/inbox/events.jsonl)" 3
expect_eq "$(wc -l <ws-nt/received.jsonl)" 3
expect_eq "$(sql nt.db "SELECT sum(suppressed) FROM notifications")" 30
# control: with a fresh database the same replay delivers (once per key)
"$TOOLS/notify_replay" fresh.db "$FX/notify.yaml" "$T/ws-nt" <ws-nt/context/_workflow/events.jsonl >replay2.txt 2>&1
expect_eq "$(grep -c '^[a-z_]* inbox delivered$' replay2.txt)" 3
expect_eq "$(wc -l <ws-nt/inbox/events.jsonl)" 6
t_end

t_begin ops_notify_debug_lines_with_verbose
setup_hooks ws-ntv
"$WL" run "$FX/notify.yaml" -w ws-ntv --db ntv.db -v --no-progress >ntv.out 2>ntv.err
expect_contains ntv.err "waitloop: debug: notify: target_missing: target 'nodir'"
awk 'length > 200 { bad = 1 } END { exit bad }' ntv.err || t_fail "a notify line is longer than 200 characters"
t_end

t_begin ops_readonly_commands_never_notify
setup_hooks ws-ro
(
	cd ws-ro || exit 1
	"$WL" validate "$FX/notify.yaml" >/dev/null 2>&1
	"$WL" validate --json "$FX/notify.yaml" >/dev/null 2>&1
	"$WL" history --db "$T/nt.db" >/dev/null 2>&1
	"$WL" show --db "$T/nt.db" "$(sql "$T/nt.db" 'SELECT id FROM runs')" >/dev/null 2>&1
	"$WL" schema event >/dev/null 2>&1
	"$WL" schema workflow >/dev/null 2>&1
)
[ -e ws-ro/inbox/events.jsonl ] && t_fail "a read-only command wrote to the inbox"
[ -e ws-ro/received.jsonl ] && t_fail "a read-only command ran a notify command"
[ -e ws-ro/hang.pids ] && t_fail "a read-only command ran the hanging hook"
t_end

t_begin ops_metrics_alerts_end_to_end
mkdir -p ws-mx
"$WL" run "$FX/metrics.yaml" -w ws-mx --db mx.db --metrics mx.prom -q >mx.out 2>mx.err
expect_eq "$?" 1
promtool check metrics <mx.prom >promtool.txt 2>&1 || { t_fail "promtool rejects the file:"; cat promtool.txt >&2; }
expect_eq "$(metric mx.prom waitloop_waits_total step=doomed,outcome=terminal_fail)" 1
expect_eq "$(metric mx.prom waitloop_early_aborts_total step=doomed,reason=terminal_fail)" 1
expect_eq "$(metric mx.prom waitloop_iterations_total step=loop)" 2
expect_eq "$(metric mx.prom waitloop_alerts_total step=flaky)" 1
expect_eq "$(metric mx.prom waitloop_alerts_total step=doomed)" 0
expect_eq "$(metric mx.prom waitloop_consecutive_failures step=flaky)" 0
expect_eq "$(metric mx.prom waitloop_notifications_total target=inbox,reason=delivered)" 5
[ -n "$(metric mx.prom waitloop_last_run_timestamp_seconds status=FAILED)" ] || t_fail "no last_run_timestamp_seconds{status=FAILED}"
[ -z "$(metric mx.prom waitloop_last_run_timestamp_seconds status=RUNNING)" ] || t_fail "RUNNING left after the run"
# the alert: exactly one per streak, everywhere; the run went on (flaky succeeded)
EV=ws-mx/context/_workflow/events.jsonl
expect_eq "$(count_lines "$EV" '"type":"alert"')" 1
expect_contains "$EV" '"type":"alert","ts":'
expect_contains mx.out "PASS  flaky"
expect_eq "$(sql mx.db "SELECT count(*) FROM alerts WHERE step = 'flaky'")" 1
expect_eq "$(count_lines ws-mx/inbox.jsonl '"type":"alert"')" 1
events_valid ws-mx/inbox.jsonl
# history from run: iterations and early aborts
"$WL" history --db mx.db --json >mx-hist.json
expect_eq "$(jq_ mx-hist.json 'd[0]["status"], d[0]["iterations"], d[0]["early_aborts"]')" "('FAILED', 2, 1)"
# metrics.file in the workflow (relative to the workspace)
mkdir -p ws-mf/out
"$WL" run "$FX/metrics-file.yaml" -w ws-mf --db mf.db -q >/dev/null 2>mf.err
promtool check metrics <ws-mf/out/ops.prom >/dev/null 2>&1 || t_fail "promtool rejects metrics.file output"
expect_eq "$(metric ws-mf/out/ops.prom waitloop_alerts_total step=flaky)" 1
t_end

cat > quick.yaml <<'YAML'
name: quick
version: "1"
timeout: 1m
steps:
  one: {worker: CUSTOM, instructions: 'true'}
YAML
sed 's/^timeout: 1m/timeout: 1m\nhistory: {db: wf-hist.db}/' quick.yaml >quick-db.yaml
runs_in() { if [ -f "$1" ]; then sql "$1" "SELECT count(*) FROM runs"; else echo 0; fi; }

t_begin ops_history_db_precedence
mkdir -p ws-h
"$WL" run quick.yaml -w ws-h -q >/dev/null 2>&1 || t_fail "default run failed"
expect_eq "$(runs_in ws-h/.waitloop/history.db)" 1
"$WL" run quick-db.yaml -w ws-h -q >/dev/null 2>&1 || t_fail "history.db run failed"
expect_eq "$(runs_in ws-h/wf-hist.db)" 1
WAITLOOP_DB="$T/env.db" "$WL" run quick-db.yaml -w ws-h -q >/dev/null 2>&1 || t_fail "WAITLOOP_DB run failed"
expect_eq "$(runs_in env.db)" 1
WAITLOOP_DB="$T/env.db" "$WL" run quick-db.yaml -w ws-h --db flag.db -q >/dev/null 2>&1 || t_fail "--db run failed"
expect_eq "$(runs_in flag.db)" 1
expect_eq "$(runs_in env.db)" 1
expect_eq "$(runs_in ws-h/wf-hist.db)" 1
expect_eq "$(runs_in ws-h/.waitloop/history.db)" 1
(cd ws-h && "$WL" history) >h.txt
expect_contains h.txt "quick"
t_end

t_begin ops_history_marks_killed_run_crashed
mkdir -p ws-c
cat > long.yaml <<'YAML'
name: long
version: "1"
timeout: 1m
steps:
  sleeper: {worker: CUSTOM, instructions: 'echo $$ > sleeper.pid; exec sleep 30'}
YAML
"$WL" run long.yaml -w ws-c --db c.db -q >/dev/null 2>&1 &
wpid=$!
for _ in $(seq 100); do [ -s ws-c/sleeper.pid ] && break; sleep 0.1; done
{ kill -KILL "$wpid"; wait "$wpid"; } 2>/dev/null
kill -KILL "$(cat ws-c/sleeper.pid)" 2>/dev/null
expect_eq "$(sql c.db "SELECT status FROM runs")" RUNNING
"$WL" run quick.yaml -w ws-c --db c.db -q >/dev/null 2>&1 || t_fail "second run failed"
expect_eq "$(sql c.db "SELECT group_concat(workflow || ':' || status, ',') FROM (SELECT * FROM runs ORDER BY started_at)")" \
	"long:CRASHED,quick:SUCCEEDED"
"$WL" history --db c.db >c.txt
expect_contains c.txt CRASHED
t_end

# The same, killed in the narrowest place: right after the runner started the
# step's process, before it committed that turn. strace holds the runner 1 s
# after each clone (the child runs on meanwhile and writes its pid): the run
# must already be on record, its start committed before any process of the
# run started (docs/history.md "Durability").
t_begin ops_run_on_record_before_its_first_process
if can_strace; then
	mkdir -p ws-k
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -o k.strace \
		-e trace=clone,clone3,vfork -e inject=clone,clone3,vfork:delay_exit=1000000 \
		"$WL" run long.yaml -w ws-k --db k.db -q >/dev/null 2>&1 &
	spid=$!
	rpid=
	for _ in $(seq 100); do
		rpid=$(cat "/proc/$spid/task/$spid/children" 2>/dev/null)
		rpid=${rpid%% *}
		[ -n "$rpid" ] && [ -s ws-k/sleeper.pid ] && break
		sleep 0.1
	done
	[ -s ws-k/sleeper.pid ] || t_fail "the step never started"
	[ -n "$rpid" ] && kill -KILL "$rpid" 2>/dev/null
	wait "$spid" 2>/dev/null
	kill -KILL "$(cat ws-k/sleeper.pid 2>/dev/null)" 2>/dev/null
	grep -q 'DELAYED' k.strace || t_fail "strace did not hold the runner after its clone: $(head -c 300 k.strace)"
	expect_eq "$(sql k.db "SELECT count(*) || ':' || group_concat(status) FROM runs")" "1:RUNNING"
	"$WL" history --db k.db >k.txt 2>&1
	expect_contains k.txt CRASHED
fi
t_end

t_begin ops_history_db_errors_exit_2
mkdir -p ws-e dbdir
"$WL" run quick.yaml -w ws-e --db /dev/null/x.db >e1.out 2>e1.err
expect_eq "$?" 2
expect_contains e1.err "waitloop: error: history database '/dev/null/x.db': '/dev/null' exists and is not a directory"
"$WL" run quick.yaml -w ws-e --db dbdir >e2.out 2>e2.err
expect_eq "$?" 2
expect_contains e2.err "waitloop: error: history database '$T/dbdir': unable to open database file"
[ -e ws-e/context ] && t_fail "the run started although its history database is unusable"
"$WL" run quick.yaml -w "$T/no-such-ws" >e3.out 2>e3.err
expect_eq "$?" 2
expect_contains e3.err "waitloop: error: workspace '$T/no-such-ws' is not a directory"
[ -e no-such-ws ] && t_fail "the missing workspace was created"
t_end

# workflows/crd-wait.yaml as CI runs it (from the repository root), against a fake cluster.
mkdir -p repo/workflows/probes cbin
cp "$ROOT/workflows/crd-wait.yaml" repo/workflows/
cp "$ROOT/workflows/probes/k8s-probe.sh" repo/workflows/probes/
cat > cbin/kubectl <<'SCRIPT'
#!/usr/bin/env bash
case " $* " in
*" crd "*)
	if [ -n "${CRD_PRESENT:-}" ]; then echo "customresourcedefinition.apiextensions.k8s.io/$3"; exit 0; fi
	echo "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io \"$3\" not found" >&2; exit 1 ;;
*" events "*) exit 0 ;;
*" helmrelease "*) /usr/bin/python3 -m json.tool --indent 4 <<'J' ;;
{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
 "metadata": {"name": "capi-operator", "namespace": "flux-system", "generation": 1, "resourceVersion": "7"},
 "spec": {"interval": "10m", "values": {"token": "hrsecret123"}},
 "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False", "reason": "InstallFailed",
   "message": "Helm install failed for release capi-operator: chart not found; token=hrsecret123"}]}}
J
*) echo "unexpected: $*" >&2; exit 3 ;;
esac
SCRIPT
chmod +x cbin/kubectl

t_begin ops_crd_wait_workflow
"$WL" validate repo/workflows/crd-wait.yaml >v.txt 2>&1 || { t_fail "crd-wait.yaml invalid"; cat v.txt >&2; }
t0=$(now_ms)
(cd repo && PATH="$T/cbin:$PATH" "$WL" run workflows/crd-wait.yaml --metrics "$T/crd.prom" --json >"$T/crd.json" 2>"$T/crd.err")
rc=$?
ms=$(( $(now_ms) - t0 ))
echo "  crd-wait (HelmRelease failed): exit $rc in ${ms} ms (max_wait 10m)"
expect_eq "$rc" 1
[ "$ms" -lt 30000 ] || t_fail "no early abort: ${ms} ms"
expect_eq "$(jq_ repo/context/crd-ready/wait-failure.json 'd["fingerprints"]')" \
	"['kest/control/crd-missing/k0smotrondockerclusters', 'kest/control/helmrelease-failed/capi-operator']"
expect_eq "$(jq_ crd.json 'd["status"]')" FAILED
expect_eq "$(metric crd.prom waitloop_early_aborts_total step=crd-ready,reason=terminal_fail)" 1
expect_eq "$(/usr/bin/python3 -c 'import json,sys; print([json.loads(l)["type"] for l in open(sys.argv[1])])' repo/.waitloop/inbox.jsonl)" \
	"['early_abort', 'alert', 'run_finished']"
events_valid repo/.waitloop/inbox.jsonl
grep -rl hrsecret123 repo/.waitloop repo/context crd.json crd.err && t_fail "secret leaked"
expect_eq "$(cd repo && "$WL" history --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["early_aborts"])')" 1
# the CRD is there: the wait is met
(cd repo && PATH="$T/cbin:$PATH" CRD_PRESENT=1 "$WL" run workflows/crd-wait.yaml -q >/dev/null 2>"$T/crd2.err")
expect_eq "$?" 0
t_end

# The preflight example of docs/operations.md, run as written (its output is quoted there).
t_begin ops_docs_preflight_example
/usr/bin/python3 - "$ROOT/docs/operations.md" >doc-pf.yaml <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sec = text.split("\n## Preflight\n", 1)[1]
block = re.search(r"```yaml\n(.*?)```", sec, re.S).group(1)
print('name: doc-preflight\nversion: "1"\ntimeout: 1m\n' + block +
      'steps:\n  s: {worker: CUSTOM, instructions: touch ran.txt}')
PY
mkdir -p ws-doc pbin
ln -sf "$T/kbin/kubectl" pbin/kubectl
for c in bash sh grep; do ln -sf "$(command -v "$c")" "pbin/$c"; done
(cd ws-doc && env -u KUBECONFIG PATH="$T/pbin" "$WL" run ../doc-pf.yaml --db ../doc.db -q >../doc.out 2>../doc.err)
expect_eq "$?" 2
[ -e ws-doc/ran.txt ] && t_fail "the step ran"
/usr/bin/python3 - "$ROOT/docs/operations.md" doc.err <<'PY' || t_fail "docs/operations.md quotes other preflight lines than the run prints"
import sys
doc = open(sys.argv[1]).read()
got = [l for l in open(sys.argv[2]).read().splitlines() if l.startswith("waitloop: error: preflight failed")]
assert len(got) == 4, got
for l in got:
    assert l in doc, l
PY
expect_eq "$(sql doc.db "SELECT status_reason FROM runs")" "preflight failed (4 of 5 checks)"
t_end
