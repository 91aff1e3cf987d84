# End-to-end: `waitloop wait` — the wait_policy engine on real processes, with
# a fake kubectl and probe replaying scripted answers (fixtures/replay).
# timeout: 400
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

REPLAY=$ROOT/tests/e2e/fixtures/replay
mkdir -p "$T/bin"
ln -s "$REPLAY" "$T/bin/kubectl"
export PATH="$T/bin:$PATH"
export REPLAY_DIR="$T/replay"
PROBE="$REPLAY probe"
CRD=k0smotrondockerclusters.cluster.appthrust.io
NOTFOUND="Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io \"$CRD\" not found"

reset() { rm -rf "$REPLAY_DIR" out; mkdir -p "$REPLAY_DIR/kubectl" "$REPLAY_DIR/probe"; }
# answer NAME STEP RC STREAM < text   — what call STEP.. of NAME prints (STREAM out|err)
answer() { cat > "$REPLAY_DIR/$1/$2.$4"; echo "$3" > "$REPLAY_DIR/$1/$2.rc"; }
dep_probe() { # status reason [resourceVersion]
	printf '{"target":{"kind":"CustomResourceDefinition","name":"%s","status":"NotFound"},"dependencies":[{"kind":"HelmRelease","name":"capi-operator","namespace":"flux-system","status":"%s","reason":"%s","message":"%s","resourceVersion":"%s"}]}\n' \
		"$CRD" "$1" "$2" "${4:-x}" "${3:-1}"
}
jq_() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
now_ms() { date +%s%3N; }
lines() { if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }
calls() { cat "$REPLAY_DIR/$1/count" 2>/dev/null || echo 0; }
# gone PATTERN: no process matches PATTERN within 10 s (a killed process may
# take a moment to leave the process table).
gone() { for _ in $(seq 100); do pgrep -f "$1" >/dev/null || return 0; sleep 0.1; done; return 1; }
K8S=(--builtin kubernetes --target "crd/$CRD" --fingerprint-prefix kest/control --out out)

# 1. The seed: the CRD never appears because its HelmRelease failed.
t_begin wait_seed_probe_aware_aborts_early
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
dep_probe Progressing Progressing 1 | answer probe 1 0 out
dep_probe Progressing Progressing 2 | answer probe 2 0 out
dep_probe Failed InstallFailed 3 "chart not found" | answer probe 3 0 out
"$WL" wait --probe "$PROBE" "${K8S[@]}" --interval 200ms --max-wait 60s -- kubectl get crd "$CRD" 2>err.txt
expect_eq "$?" 1
expect_schema_valid wait-failure out/wait-failure.json
expect_eq "$(jq_ out/wait-failure.json 'd["reason"]')" terminal_fail
expect_contains out/wait-failure.json '"kest/control/crd-missing/k0smotrondockerclusters"'
expect_contains out/wait-failure.json '"kest/control/helmrelease-failed/capi-operator"'
expect_eq "$(jq_ out/wait-failure.json 'd["observations"]')" 3
expect_eq "$(lines out/wait-probe.log)" 3
expect_contains err.txt "waitloop wait [crd-k0smotrondockerclusters.cluster.appthrust.io]: terminal_fail after 3 observations"
expect_contains err.txt "kest/control/helmrelease-failed/capi-operator"
/usr/bin/python3 - out/wait-probe.log <<'PY' || t_fail "wait-probe.log lines malformed"
import json, sys, re
for i, line in enumerate(open(sys.argv[1]), 1):
    o = json.loads(line)
    for k in ("ts", "seq", "elapsed_s", "started_s", "condition_exit", "class", "digest", "changed", "no_progress", "fingerprints", "summary"):
        assert k in o, k
    assert o["seq"] == i and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["ts"])
    assert len(o["summary"]) <= 4096
    assert 0 <= o["started_s"] <= o["elapsed_s"]
assert o["class"] == "terminal_fail"
PY
t_end

# 2. The same wait, time-driven: burns all of max_wait.
t_begin wait_seed_timeout_only_burns_max_wait
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
dep_probe Failed InstallFailed 1 | answer probe 1 0 out
start=$(now_ms)
"$WL" wait --mode timeout_only --probe "$PROBE" "${K8S[@]}" --interval 200ms --max-wait 2s -- kubectl get crd "$CRD" 2>err.txt
rc=$?; took=$(( $(now_ms) - start ))
expect_eq "$rc" 124
[ "$took" -ge 2000 ] || t_fail "ended after ${took}ms, before max_wait"
expect_schema_valid wait-failure out/wait-failure.json
expect_eq "$(jq_ out/wait-failure.json 'd["reason"]')" timeout
expect_contains out/wait-failure.json '"kest/control/timeout"'
expect_eq "$(calls probe)" 0
t_end

# 3. Slow but healthy: never cut short while the probe shows progress.
t_begin wait_slow_but_progressing_succeeds
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
echo "customresourcedefinition.apiextensions.k8s.io/$CRD" | answer kubectl 15 0 out
for k in 1 3 5 8 10 12 14; do dep_probe Progressing Progressing "$k" | answer probe "$k" 0 out; done
"$WL" wait --probe "$PROBE" "${K8S[@]}" --interval 100ms --max-wait 60s --stall-threshold 3 -- kubectl get crd "$CRD" 2>err.txt
expect_eq "$?" 0
[ ! -f out/wait-failure.json ] || t_fail "wait-failure.json written for a met wait"
expect_eq "$(lines out/wait-probe.log)" 15
expect_contains err.txt "waitloop wait [crd-k0smotrondockerclusters.cluster.appthrust.io]: met after 15 observations"
t_end

# 4. Stalled: nothing changes and no rule fires.
t_begin wait_no_progress_stalls
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
printf '{"dependencies":[{"kind":"HelmRelease","name":"x","status":"Ready"}],"ts":"%s"}\n' ignored | answer probe 1 0 out
"$WL" wait --probe "$PROBE" "${K8S[@]}" --interval 100ms --max-wait 60s --stall-threshold 4 -- kubectl get crd "$CRD" 2>err.txt
expect_eq "$?" 3
expect_eq "$(jq_ out/wait-failure.json 'd["reason"]')" stalled
expect_eq "$(jq_ out/wait-failure.json 'd["observations"]')" 4
expect_contains out/wait-failure.json '"kest/control/stalled/no-progress"'
expect_schema_valid wait-failure out/wait-failure.json
t_end

t_begin wait_ignore_fields_hide_noise
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
for k in 1 2 3 4 5 6; do printf '{"status":{"phase":"Pending","lastHeartbeatTime":"t%s"}}\n' "$k" | answer probe "$k" 0 out; done
"$WL" wait --probe "$PROBE" --out out --interval 100ms --max-wait 60s --stall-threshold 3 \
	--ignore-field status.lastHeartbeatTime -- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 3
t_end

# 5. Forbidden / Unauthorized: terminal at the first observation.
for who in Forbidden Unauthorized; do
	t_begin "wait_auth_$who"
	reset
	echo "Error from server ($who): customresourcedefinitions.apiextensions.k8s.io is forbidden" | answer kubectl 1 1 err
	dep_probe Progressing Progressing | answer probe 1 0 out
	"$WL" wait --probe "$PROBE" "${K8S[@]}" --interval 100ms --max-wait 60s -- kubectl get crd "$CRD" 2>/dev/null
	expect_eq "$?" 1
	expect_eq "$(jq_ out/wait-failure.json 'd["observations"]')" 1
	lc=$(echo "$who" | tr 'A-Z' 'a-z')
	expect_contains out/wait-failure.json "\"kest/control/auth/$lc\""
	t_end
done

# 6. Webhook / TLS: retryable 5 times in a row, then stalled; a blip that clears is fine.
TLS='Error from server (InternalError): Internal error occurred: failed calling webhook "v.example.io": tls: failed to verify certificate: x509: certificate signed by unknown authority'
t_begin wait_webhook_tls_stalls_after_five
reset
echo "$TLS" | answer kubectl 1 1 err
"$WL" wait --builtin kubernetes --target "crd/$CRD" --out out --interval 100ms --max-wait 60s --stall-threshold 50 \
	-- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 3
expect_eq "$(jq_ out/wait-failure.json 'd["observations"]')" 6
expect_eq "$(jq_ out/wait-failure.json 'd["fingerprints"]')" "['webhook-tls']"
t_end

t_begin wait_webhook_tls_blip_clears
reset
echo "$TLS" | answer kubectl 1 1 err
echo "ok" | answer kubectl 4 0 out
"$WL" wait --builtin kubernetes --out out --interval 100ms --max-wait 60s -- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 0
t_end

# 7. terminal_patterns, rules from a file, external classifiers.
t_begin wait_terminal_pattern_on_condition_output
reset
echo "Error: INSTALLATION FAILED: chart not found" | answer kubectl 1 1 err
"$WL" wait --terminal-pattern '(?i)chart not found' --terminal-pattern 'ownership metadata' --out out \
	--interval 100ms --max-wait 60s -- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 1
expect_contains out/wait-failure.json '"terminal/chart-not-found"'
expect_eq "$(jq_ out/wait-failure.json 'd["rule"]')" "terminal_patterns[0]"
t_end

t_begin wait_rules_file_field_equals_and_templates
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
printf '{"dependencies":[{"kind":"Kustomization","name":"ok","status":"Ready"},{"kind":"HelmRelease","name":"cert-manager","status":"Failed","reason":"UpgradeFailed"}]}\n' | answer probe 1 0 out
cat > rules.yaml <<'EOF'
rules:
  - match: 'Error from server \((Forbidden|Unauthorized)\)'
    class: terminal_fail
    fingerprint: 'auth/{1}'
  - field: 'dependencies[*].status'
    equals: Failed
    class: terminal_fail
    fingerprint: 'dep-failed/{dependencies[*].name}/{dependencies[*].reason}'
    hint: check the chart version
EOF
"$WL" wait --probe "$PROBE" --rules rules.yaml --fingerprint-prefix p --out out --interval 100ms --max-wait 60s \
	-- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 1
expect_eq "$(jq_ out/wait-failure.json 'd["fingerprints"]')" "['p/dep-failed/cert-manager/UpgradeFailed']"
expect_eq "$(jq_ out/wait-failure.json 'd["hints"]')" "['check the chart version']"
expect_eq "$(jq_ out/wait-failure.json 'd["rule"]')" "rules[1]"
t_end

t_begin wait_rules_file_errors_are_usage_errors
printf 'rules:\n  - mach: x\n    class: retryable\n' > bad.yaml
"$WL" wait --rules bad.yaml --condition true 2>err.txt
expect_eq "$?" 2
expect_contains err.txt "bad.yaml:2:5: unknown key 'mach' in rule 1 of the rules file (did you mean 'match'?)"
t_end

# a rules file is read by the workflow's rule reader: the same checks as a wait_policy
t_begin wait_rules_file_checked_like_a_workflow
printf 'rules:\n  - match: x\n    equals: y\n    class: retryable\n' > bad2.yaml
"$WL" wait --rules bad2.yaml --condition true 2>err.txt
expect_eq "$?" 2
expect_contains err.txt "bad2.yaml:3:5: 'equals' needs 'field' (rule 1 of the rules file)"
t_end

# a pattern is compiled once, when the options are read: a bad one is a
# usage error before anything runs
t_begin wait_bad_terminal_pattern_is_a_usage_error
"$WL" wait --terminal-pattern 'ok' --terminal-pattern '([' --out badre -- sh -c 'touch ran' 2>err.txt
expect_eq "$?" 2
expect_contains err.txt "terminal_patterns[1]: invalid regular expression '(['"
expect_contains err.txt "(--terminal-pattern)"
[ ! -e ran ] || t_fail "the condition ran"
t_end

# --terminal-pattern and a rules file's terminal_patterns add up, in order,
# each compiled once (the rules file's by its reader)
t_begin wait_terminal_patterns_from_options_and_rules_file
reset
echo "Error: INSTALLATION FAILED: chart not found" | answer kubectl 1 1 err
printf 'terminal_patterns: ["(?i)chart not found"]\n' > tp.yaml
"$WL" wait --terminal-pattern 'never printed' --rules tp.yaml --out out --interval 100ms --max-wait 60s \
	-- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 1
expect_eq "$(jq_ out/wait-failure.json 'd["rule"]')" "terminal_patterns[1]"
expect_contains out/wait-failure.json '"terminal/chart-not-found"'
t_end

t_begin wait_external_classify_json_and_word
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
cat > cls.sh <<'EOF'
input=$(cat)
case "$input" in *'"observation":2'*) echo '{"class":"terminal_fail","fingerprints":["db/locked"],"reason":"lock held by job 7"}' ;; *) echo retryable ;; esac
EOF
"$WL" wait --classify 'bash cls.sh' --out out --interval 100ms --max-wait 60s -- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 1
expect_eq "$(jq_ out/wait-failure.json 'd["fingerprints"]')" "['db/locked']"
expect_eq "$(jq_ out/wait-failure.json 'd["observations"]')" 2
expect_contains out/wait-failure.json "lock held by job 7"
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
"$WL" wait --classify 'echo stalled' --out out --interval 100ms --max-wait 60s -- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 3
t_end

t_begin wait_broken_classifier_is_an_error_observation
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
echo ok | answer kubectl 3 0 out
"$WL" wait --classify 'echo "{not json"' --out out --interval 100ms --max-wait 60s --stall-threshold 50 \
	-- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 0
expect_contains out/wait-probe.log '"classify_error":"classifier output is not one JSON object"'
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
echo ok | answer kubectl 3 0 out
"$WL" wait --classify 'exit 7' --out out --interval 100ms --max-wait 60s -- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 0
expect_contains out/wait-probe.log '"classify_error":"classifier exited 7"'
t_end

# 8. Probe garbage: recorded, bounded, never fatal.
# probe-timeout: 0.5 s only for the probe that hangs; the others get 120 s,
# so that a loaded machine (10 MB through a pipe takes a while) does not
# turn their error into a timeout.
probe_garbage_case() { # name probe-command expected-error [probe-timeout]
	t_begin "wait_probe_garbage_$1"
	reset
	echo "$NOTFOUND" | answer kubectl 1 1 err
	echo ok | answer kubectl 3 0 out
	"$WL" wait --probe "$2" --out out --interval 100ms --probe-timeout "${4:-120s}" --max-wait 600s \
		--stall-threshold 50 -- kubectl get crd "$CRD" 2>/dev/null
	expect_eq "$?" 0
	expect_eq "$(grep -c "\"probe_error\":\"$3" out/wait-probe.log)" 2
	sz=$(wc -c < out/wait-probe.log)
	[ "$sz" -lt 20000 ] || t_fail "wait-probe.log is $sz bytes"
	t_end
}
probe_garbage_case not_json 'echo hello world' "probe output is not JSON"
probe_garbage_case two_objects "echo '{\"a\":1}{\"b\":2}'" "probe printed more than one JSON value"
probe_garbage_case not_object "echo '[1,2]'" "probe output is not a JSON object"
probe_garbage_case huge "head -c 10000000 /dev/zero | tr '\\\\0' x" "probe output larger than 64 KiB"
probe_garbage_case hangs 'sleep 600' "probe timed out after 0.5s" 500ms
probe_garbage_case fails 'echo nope >&2; exit 3' "probe exited 3: nope"

# A probe failing N times in a row is stalled, saying so (probe-failed/<why>),
# never "no progress" (issue 12: it used to end as stalled/no-progress).
t_begin wait_failing_probe_stalls_as_probe_failed
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
"$WL" wait --probe 'exit 1' --out out --interval 100ms --max-wait 60s --stall-threshold 3 -- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 3
expect_eq "$(jq_ out/wait-failure.json '" ".join(d["fingerprints"] + [d["rule"], str(d["observations"])])')" "probe-failed/nonzero-exit probe-failed 3"
t_end

# 11. Secrets never reach a file.
t_begin wait_secrets_never_written
reset
cat <<'EOF' | answer kubectl 1 1 err
Authorization: Bearer abc.def.bearersecret
token: yamltokensecret99
EOF
cat <<'EOF' | answer probe 1 0 out
{"dependencies":[{"kind":"Secret","name":"db","status":"Progressing","message":"password=probepass777 apiKey: probeapikey31337"}],
 "kubeconfig":"apiVersion: v1\nusers:\n- name: a\n  user:\n    client-key-data: S0VZREFUQXNlY3JldA==\n    token: kubeconfigtoken4242\n",
 "token":"jsontokenvalue55","errors":["export API_TOKEN=envsecretvalue4242 && AKIAIOSFODNN7EXAMPLE eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpM"]}
EOF
API_TOKEN=envsecretvalue4242 "$WL" wait --probe "$PROBE" --out out --interval 100ms --max-wait 60s --stall-threshold 3 \
	--condition 'kubectl get crd x; echo "using $API_TOKEN"; exit 1' 2>err.txt
expect_eq "$?" 3
for s in bearersecret yamltokensecret99 probepass777 probeapikey31337 S0VZREFUQXNlY3JldA kubeconfigtoken4242 \
	jsontokenvalue55 envsecretvalue4242 AKIAIOSFODNN7EXAMPLE SflKxwRJSMeKKF2QT4fwpM; do
	# the condition's own output passes through raw (a script may read it); waitloop's lines never carry a secret
	grep '^waitloop' err.txt > own.txt
	if grep -rq -- "$s" out own.txt; then t_fail "secret '$s' written: $(grep -rl -- "$s" out own.txt)"; fi
done
expect_contains out/wait-failure.json "[REDACTED]"
expect_schema_valid wait-failure out/wait-failure.json
t_end

# Usage errors and defaults.
t_begin wait_usage_errors
"$WL" wait 2>err.txt; expect_eq "$?" 2
expect_contains err.txt "no condition"
"$WL" wait --interval 10x --condition true 2>err.txt; expect_eq "$?" 2
expect_contains err.txt "invalid duration '10x' for --interval"
"$WL" wait --mode fast --condition true 2>err.txt; expect_eq "$?" 2
"$WL" wait --frob x --condition true 2>err.txt; expect_eq "$?" 2
expect_contains err.txt "unknown option '--frob'"
"$WL" wait --help | grep -q "Exit codes: 0 met" || t_fail "--help"
t_end

t_begin wait_default_out_dir_and_env_ids
rm -rf .waitloop
WAITLOOP_CHECK_ID=chk-1 WAITLOOP_RUN_ID=run-9 WAITLOOP_ITERATION=2 \
	"$WL" wait --target svc/web --interval 100ms --max-wait 300ms --condition false 2>/dev/null
expect_eq "$?" 124
f=.waitloop/wait/svc-web/wait-failure.json
expect_eq "$(jq_ "$f" '" ".join(map(str, (d["check_id"], d["run_id"], d["iteration"])))')" "chk-1 run-9 2"
mkdir -p stepdir
WAITLOOP_STEP_DIR=$T/stepdir "$WL" wait --interval 100ms --max-wait 300ms --condition false 2>/dev/null
[ -f stepdir/waits/false/wait-failure.json ] || t_fail "WAITLOOP_STEP_DIR not used"
t_end

# A condition that would run for 10 minutes: stopped at max_wait (were it
# not, the file's timeout would fail this case), nothing left running.
t_begin wait_hanging_condition_is_stopped
"$WL" wait --out out --interval 100ms --max-wait 1s --condition 'sleep 601; echo hanging-cond' 2>/dev/null
expect_eq "$?" 124
expect_contains out/wait-failure.json '"terminated":	true'
gone 'sleep 601; echo hanging-cond' || t_fail "condition outlived the wait"
t_end

t_begin wait_sigterm_stops_children
"$WL" wait --out out --interval 100ms --max-wait 600s --condition 'sleep 602; exit 1' 2>/dev/null &
pid=$!
# SIGTERM once the condition runs (polled, 60 s at most)
for _ in $(seq 600); do pgrep -f 'sleep 602; exit 1' >/dev/null && break; sleep 0.1; done
pgrep -f 'sleep 602; exit 1' >/dev/null || t_fail "the condition never started"
kill -TERM "$pid"
wait "$pid"
expect_eq "$?" 143
gone 'sleep 602; exit 1' || t_fail "condition outlived waitloop"
t_end

# 12. The shell helper, from a bash script.
t_begin wait_retry_sh_shellcheck_clean
if command -v shellcheck >/dev/null; then
	shellcheck "$ROOT/share/waitloop/retry.sh" || t_fail "shellcheck"
else
	t_fail "shellcheck not installed"
fi
t_end

t_begin wait_retry_until_success
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
echo ok | answer kubectl 3 0 out
cat > verify.sh <<SCRIPT
. "$ROOT/share/waitloop/retry.sh"
retry_until_success 30 1 kubectl get crd "$CRD" 2>/dev/null || exit \$?
echo "after wait"
retry_until_success 1 200ms false 2>/dev/null
echo "rc=\$?"
SCRIPT
out=$(WAITLOOP_BIN="$WL" bash verify.sh)
expect_eq "$(calls kubectl)" 3
expect_contains "$out" "after wait"
expect_contains "$out" "rc=124"
WAITLOOP_BIN="$WL" bash -c ". '$ROOT/share/waitloop/retry.sh'; retry_until_success 5" 2>err.txt
expect_eq "$?" 2
expect_contains err.txt "usage: retry_until_success MAX_WAIT INTERVAL CMD"
t_end

t_begin wait_retry_with_probe
reset
echo "$NOTFOUND" | answer kubectl 1 1 err
dep_probe Failed InstallFailed 1 "chart not found" | answer probe 1 0 out
cat > verify.sh <<SCRIPT
. "$ROOT/share/waitloop/retry.sh"
retry_with_probe --probe "$PROBE" --builtin kubernetes --target "crd/$CRD" --max-wait 600 --interval 200ms \\
	--fingerprint-prefix kest/control --out out -- kubectl get crd "$CRD"
echo "rc=\$?"
SCRIPT
start=$(now_ms)
out=$(WAITLOOP_BIN="$WL" bash verify.sh 2>err.txt)
took=$(( $(now_ms) - start ))
expect_contains "$out" "rc=1"
[ "$took" -lt 15000 ] || t_fail "took ${took}ms"
expect_contains out/wait-failure.json '"kest/control/helmrelease-failed/capi-operator"'
expect_contains err.txt "]: terminal_fail after 1 observation"
WAITLOOP_BIN="$WL" bash -c ". '$ROOT/share/waitloop/retry.sh'; retry_with_probe --bogus x -- true" 2>err.txt
expect_eq "$?" 2
expect_contains err.txt "unknown option '--bogus'"
t_end

# workflows/probes/k8s-probe.sh against a fake kubectl answering by object kind.
fake_cluster() { # a kubectl printing objects the way the real one does (-o json, 4-space indent)
	mkdir -p "$T/kbin"
	cat > "$T/kbin/kubectl" <<'SCRIPT'
#!/usr/bin/env bash
pretty() { /usr/bin/python3 -m json.tool --indent 4; }
case " $* " in
*" events "*) exit 0 ;;
*" crd "*) echo "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io \"$3\" not found" >&2; exit 1 ;;
*" helmrelease "*) pretty <<'J' ;;
{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
 "metadata": {"name": "capi-operator", "namespace": "flux-system", "generation": 1, "resourceVersion": "7",
              "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{\"values\":{\"password\":\"hrvaluesecret\"}}}"}},
 "spec": {"interval": "10m", "timeout": "5m", "values": {"adminPassword": "hrvaluesecret"}},
 "status": {"observedGeneration": 1, "conditions": [
   {"type": "Ready", "status": "False", "reason": "InstallFailed", "lastTransitionTime": "2026-11-30T10:00:00Z",
    "message": "Helm install failed for release capi-operator: chart not found; token=hrsecret123"}]}}
J
*" clustersummary "*) pretty <<'J' ;;
{"apiVersion": "config.projectsveltos.io/v1beta1", "kind": "ClusterSummary", "metadata": {"name": "cs1", "namespace": "projectsveltos"},
 "status": {"featureSummaries": [{"featureID": "Helm", "status": "Provisioning"}, {"featureID": "Resources", "status": "Provisioned"}]}}
J
*" deployment "*) pretty <<'J' ;;
{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
 "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "env": [{"name": "DB_PASSWORD", "value": "envsecret77"}]}]}}},
 "status": {"replicas": 2, "updatedReplicas": 1, "conditions": [
   {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "m"},
   {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."}]}}
J
*" pods "*" -o json "*) pretty <<'J' ;;
{"apiVersion": "v1", "kind": "List", "items": [
 {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "default"},
  "status": {"phase": "Running", "containerStatuses": [{"name": "web", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}},
 {"kind": "Pod", "metadata": {"name": "web-2", "namespace": "default"},
  "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}]}
J
*" pods "*) printf 'web-1\nweb-2\n' ;;
*) echo "unexpected: $*" >&2; exit 3 ;;
esac
SCRIPT
	chmod +x "$T/kbin/kubectl"
}

# The probe emits the objects as the API server returns them (filtered); the
# C rules (kstatus.c) compute their status — the probe maps nothing itself.
t_begin wait_k8s_probe_emits_filtered_raw_objects
fake_cluster
KPROBE=$ROOT/workflows/probes/k8s-probe.sh
shellcheck "$KPROBE" || t_fail "shellcheck k8s-probe.sh"
PATH="$T/kbin:$PATH" bash "$KPROBE" --target "crd/$CRD" --helmrelease flux-system/capi-operator \
	--clustersummary projectsveltos/cs1 --deployment default/web --pods default/app=web > probe.json
expect_schema_valid probe probe.json
expect_eq "$(jq_ probe.json 'd["target"]["status"]')" NotFound
expect_eq "$(jq_ probe.json '[x["kind"] for x in d["dependencies"]]')" "['HelmRelease', 'ClusterSummary', 'Deployment', 'List']"
expect_eq "$(jq_ probe.json 'd["dependencies"][0]["status"]["conditions"][0]["reason"], d["dependencies"][0]["spec"]')" \
	"('InstallFailed', {'interval': '10m', 'timeout': '5m'})"
for s in hrsecret123 hrvaluesecret envsecret77; do expect_not_contains probe.json "$s"; done
t_end

t_begin wait_k8s_probe_seed_end_to_end
fake_cluster
PATH="$T/kbin:$PATH" "$WL" wait --probe "bash $ROOT/workflows/probes/k8s-probe.sh --target crd/$CRD --helmrelease flux-system/capi-operator" \
	"${K8S[@]}" --interval 200ms --max-wait 60s -- kubectl get crd "$CRD" 2>/dev/null
expect_eq "$?" 1
expect_eq "$(jq_ out/wait-failure.json 'd["fingerprints"]')" \
	"['kest/control/crd-missing/k0smotrondockerclusters', 'kest/control/helmrelease-failed/capi-operator']"
t_end

# backoff {factor, max_interval}: each observation starts no earlier than
# the interval after the previous one's start, and the interval grows
# 200 -> 400 -> 800 ms. Checked on the started_s offsets in wait-probe.log as
# lower bounds only (a loaded machine can only make gaps longer): so at
# most 6 observations fit in 3.5 s (0, .2, .6, 1.4, 2.2, 3.0) where a fixed
# 200 ms interval would allow 18. That the interval stops at the cap is the
# unit test's job (tests/unit/test_wait.c, a fake clock).
t_begin wait_backoff_grows_interval_to_cap
rm -rf out
"$WL" wait --mode timeout_only --interval 200ms --backoff-factor 2 --max-interval 800ms \
	--max-wait 3500ms --out out -- false 2>/dev/null
expect_eq "$?" 124
/usr/bin/python3 - out/wait-probe.log <<'PY' || t_fail "backoff schedule wrong"
import json, sys
t = [json.loads(l)["started_s"] for l in open(sys.argv[1])]
# the last try runs at max_wait whatever the interval (as the classic loop's try after its last sleep)
gaps = [round(b - a, 3) for a, b in zip(t, t[1:-1])]
want = [min(0.2 * 2 ** i, 0.8) for i in range(len(gaps))]
print("  backoff: %d observations, gaps %s, at least %s" % (len(t), gaps, want), file=sys.stderr)
ok = 1 <= len(t) <= 7 and t[0] < 0.2 and all(g >= w - 0.002 for g, w in zip(gaps, want))
sys.exit(0 if ok else 1)
PY
t_end

# The progress line of a running wait step shows "no progress N/threshold"
# (docs/cli.md): the observation events carry the wait's stall_threshold.
# Seen on the keepalive line (nothing printed for 1 s between two
# observations), which describes each running step as the live TTY line does (issue 17: the events never carried it, so "/50" was missing).
t_begin run_progress_line_shows_threshold
mkdir -p ws-np
cat >np.yaml <<'YAML'
name: np
version: "1"
timeout: 1m
steps:
  settle:
    wait:
      condition: "false"
    wait_policy:
      mode: probe_aware
      probe: "echo '{\"phase\":\"Pending\"}'"
      stall_threshold: 50
      interval: 4s
      max_wait: 6s
YAML
WAITLOOP_KEEPALIVE_S=1 "$WL" run np.yaml -w ws-np --no-progress >np.out 2>np.err; rc=$?
expect_eq "$rc" 1
grep -qE 'still running: settle .*no progress [0-9]+/50' np.err || t_fail "no 'no progress N/50': $(grep 'still running' np.err | head -3)"
t_end
