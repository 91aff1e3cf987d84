# End-to-end: the loop under stress — SIGKILLed runners and a shared history
# database, guard mode in workflows, secrets, and workflows/agent-loop.yaml
# with a fake `claude` and a fake cluster behind `kubectl`.
# timeout: 400
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

. "$ROOT/tests/fixtures/loop/setup.sh"
py() { /usr/bin/python3 - "$@"; }
wait_file() { # seconds file
	local i=0
	while [ "$i" -lt $(($1 * 10)) ]; do
		[ -s "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
db_status() { sqlite3 "$DB" "SELECT status FROM runs WHERE id = '$1'"; }

# ---------------------------------------------------------------------------
# e. SIGKILL the runner mid-iteration, five times.
t_begin loop_sigkill_runner_mid_iteration
mkrepo wsk
DB=$T/wsk/history.db
export CRASH_PID_FILE=$T/check.pid
ids=()
for i in 1 2 3 4 5; do
	rm -f "$CRASH_PID_FILE"
	"$WL" run "$FX/crash.yaml" -w wsk --db "$DB" --context "ctx$i" --no-progress >"k$i.out" 2>"k$i.err" &
	runner=$!
	if ! wait_file 60 "$CRASH_PID_FILE"; then
		t_fail "run $i: iteration 2 never started"
		kill -KILL "$runner" 2>/dev/null
		wait "$runner" 2>/dev/null
		continue
	fi
	kill -KILL "$runner"
	wait "$runner" 2>/dev/null
	kill -KILL -- "-$(cat "$CRASH_PID_FILE")" 2>/dev/null   # the orphaned check's group
	id=$(py "ctx$i/_workflow.json" <<<'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])')
	ids+=("$id")
	expect_eq "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok
	expect_eq "$(db_status "$id")" RUNNING
	if [ $((i % 2)) -eq 1 ]; then
		"$WL" history --db "$DB" >/dev/null 2>&1 || t_fail "history after kill $i"
	else
		"$WL" run "$FX/quick.yaml" -w wsk --db "$DB" --context "q$i" --no-progress >/dev/null 2>&1 ||
			t_fail "run after kill $i"
	fi
	expect_eq "$(db_status "$id")" CRASHED
	# nothing recorded before the kill is lost: iteration 1 decided, iteration 2 started
	"$WL" show "$id" --db "$DB" --json >"show$i.json" || t_fail "show $id"
	py "show$i.json" <<'PY' || t_fail "run $i lost records"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "CRASHED", d["status"]
its = d["steps"][0]["iterations"]
assert its[0]["decision"] == "incomplete" and its[0]["fingerprints"] == ["crash/first"], its[0]
assert its[0]["git"]["files"][0]["path"] == "work.txt", its[0]["git"]
assert len(its) == 2 and its[1]["decision"] is None, its
PY
done
expect_eq "${#ids[@]}" 5
expect_eq "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok
expect_eq "$(sqlite3 "$DB" "SELECT count(*) FROM runs WHERE status = 'CRASHED'")" 5
t_end

t_begin loop_two_runners_one_database
mkrepo wsj
DB=$T/shared.db
"$WL" run "$FX/quick.yaml" -w wsj --db "$DB" --context c1 --no-progress >j1.out 2>j1.err &
p1=$!
"$WL" run "$FX/quick.yaml" -w wsj --db "$DB" --context c2 --no-progress >j2.out 2>j2.err &
p2=$!
wait "$p1"
rc1=$?
wait "$p2"
rc2=$?
expect_eq "$rc1 $rc2" "0 0"
expect_contains j1.out "PASS  loop (2 iterations)"
expect_contains j2.out "PASS  loop (2 iterations)"
expect_eq "$(sqlite3 "$DB" "SELECT count(*) FROM runs WHERE status = 'SUCCEEDED'")" 2
expect_eq "$(sqlite3 "$DB" "SELECT count(*) FROM iterations WHERE decision IS NOT NULL")" 4
expect_eq "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok
t_end

# ---------------------------------------------------------------------------
# f. Guard mode in a workflow.
t_begin loop_guard_modes
mkdir -p wsg
start=$(date +%s)
"$WL" run "$FX/guard.yaml" -w wsg --no-progress >g.out 2>g.err
rc=$?
elapsed=$(($(date +%s) - start))
expect_eq "$rc" 1
echo "  guard run: ${elapsed}s" >&2   # early: checked below by the no-output fingerprint, not by the clock
expect_contains g.out "silent (2 iterations)"
expect_contains g.out "chatty"
expect_not_contains g.out "chatty (2 iterations)"
expect_contains g.out "hung-worker — wait_policy:"
expect_contains g.out "after-hung"
py wsg/context/_workflow/events.jsonl <<'PY' || t_fail "guard events"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
its = [e for e in evs if e["type"] == "iteration_finished"]
silent = [e for e in its if e["step"] == "silent"]
assert silent[0]["decision"] == "incomplete" and silent[0]["source"] == "wait_policy", silent[0]
assert any("no-output" in f or "no_output" in f for f in silent[0]["fingerprints"]), silent[0]
assert silent[1]["decision"] == "complete", silent[1]
chatty = [e for e in its if e["step"] == "chatty"]
assert [e["decision"] for e in chatty] == ["complete"], chatty
st = {e["step"]: e for e in evs if e["type"] == "step_state" and e["status"] in ("SUCCEEDED", "FAILED")}
assert st["hung-worker"]["status"] == "FAILED", st["hung-worker"]
assert st["after-hung"]["status"] == "SUCCEEDED", st["after-hung"]
assert st["silent"]["status"] == "SUCCEEDED" and st["chatty"]["status"] == "SUCCEEDED", st
PY
expect_schema_valid verdict wsg/context/silent/iterations/1/review.verdict
expect_schema_valid wait-failure wsg/context/silent/iterations/1/wait-failure.json
expect_contains wsg/context/silent/iterations/1/fix.md "connecting"
t_end

# ---------------------------------------------------------------------------
# g. Secrets never reach verdicts, fix.md, events, _meta.json, wait
#    artifacts or the history database.
t_begin loop_secrets_never_written
mkrepo wss
SECRET=tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0
KEYDATA=Q0xJRU5US0VZREFUQVNFQ1JFVDEyMzQ1Njc4OTBhYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg
cat >wss/kubeconfig.yaml <<EOF
apiVersion: v1
kind: Config
users:
- name: admin
  user:
    client-certificate-data: $KEYDATA-cert
    client-key-data: $KEYDATA
EOF
API_TOKEN=$SECRET "$WL" run "$FX/secrets.yaml" -w wss --no-progress >s.out 2>s.err
expect_contains s.out "PASS  leak (2 iterations)"
# the check's raw logs are the user's data (SPEC §7); everything else is checked
leaks=$(grep -rlF -e "$SECRET" -e "$KEYDATA" wss/context wss/.waitloop s.out s.err 2>/dev/null |
	grep -vE '/(stdout|stderr|check\.stdout|check\.stderr)\.log$' || true)
[ -z "$leaks" ] || t_fail "secret written to: $leaks"
grep -qF "$SECRET" wss/context/leak/check.stdout.log || t_fail "the check never printed the secret (test is void)"
[ -f wss/context/leak/iterations/1/wait-failure.json ] || t_fail "no inner wait-failure.json archived"
expect_contains wss/context/leak/iterations/1/fix.md "[REDACTED"
sqlite3 wss/.waitloop/history.db .dump >dump.sql
grep -qF -e "$SECRET" -e "$KEYDATA" dump.sql && t_fail "secret in the history database"
grep -q "auth/" dump.sql || t_fail "the verdict fingerprints are not in the database (test is void)"
t_end

# ---------------------------------------------------------------------------
# 6. workflows/agent-loop.yaml with the fake claude and the fake cluster.
t_begin loop_agent_loop_workflow
mkdir -p wsw/deploy wsw/workflows/probes
cp "$ROOT/workflows/probes/k8s-probe.sh" wsw/workflows/probes/
cat >wsw/deploy/helmrelease.yaml <<'EOF'
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: widgets, namespace: flux-system}
spec:
  chart:
    spec:
      chart: widgets
      version: 9.9.9
EOF
printf 'resources: [helmrelease.yaml]\n' >wsw/deploy/kustomization.yaml
mkrepo wsw
: >"$FAKE_AGENT_LOG"
start=$(date +%s)
"$WL" run "$ROOT/workflows/agent-loop.yaml" -w wsw --no-progress >w.out 2>w.err
rc=$?
elapsed=$(($(date +%s) - start))
expect_eq "$rc" 0
expect_contains w.out "PASS  implement (2 iterations)"
echo "  agent-loop: ${elapsed}s" >&2   # early: checked below (source wait_policy), not by the clock
V=wsw/context/implement/iterations/1/review.verdict
expect_schema_valid verdict "$V"
py "$V" <<'PY' || t_fail "agent-loop verdict"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["source"] == "wait_policy", v
assert "agent-loop/helmrelease-failed/widgets" in v["fingerprints"], v["fingerprints"]
assert "agent-loop/crd-missing/widgets" in v["fingerprints"], v["fingerprints"]
PY
expect_contains wsw/context/implement/iterations/1/fix.md "chart not found"
expect_contains "$FAKE_AGENT_LOG" "capabilities=READ,EDIT,RUN_TESTS"
grep -q 'version: 0.3.1' wsw/deploy/helmrelease.yaml || t_fail "the agent did not fix the HelmRelease"
t_end
