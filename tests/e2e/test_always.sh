# Always-run cleanup steps (`always: true`, docs/workflow.md): they run after
# a failure, the workflow timeout and a cancel (SIGTERM), are not stopped by
# them, and are bounded by their own timeout.
# timeout: 120
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

# wf NAME VERIFY-SCRIPT [TEARDOWN-EXTRA-YAML] [TIMEOUT]
wf() {
	cat >"$1.yaml" <<EOF
name: $1
version: "1"
timeout: ${4:-1m}
steps:
  setup:
    worker: CUSTOM
    instructions: echo created > resource
  verify:
    worker: CUSTOM
    depends_on: [setup]
    instructions: $2
  after-verify:
    worker: CUSTOM
    depends_on: [verify]
    instructions: echo ran > after-verify.txt
  teardown:
    worker: CUSTOM
    always: true
    depends_on: [verify]
    ${3:-timeout: 20s}
    instructions: |
      echo "saw \$(cat resource)" > teardown.txt
      rm resource
EOF
}
status_of() { sed -n "s/^\([A-Z]*\) *$1\( .*\)\{0,1\}\$/\1/p" "$2"; }

t_begin always_runs_after_success
mkdir ok && wf ok '"true"'
expect_rc 0 "$WL" run ok.yaml -w ok -q >out.txt 2>err.txt
expect_eq "$(status_of teardown out.txt)" "PASS"
expect_eq "$(cat ok/teardown.txt)" "saw created"
[ ! -e ok/resource ] || t_fail "teardown did not remove the resource"
t_end

t_begin always_runs_after_failure
mkdir fail && wf fail '"exit 4"'
expect_rc 1 "$WL" run fail.yaml -w fail -q >out.txt 2>err.txt
expect_eq "$(status_of verify out.txt)" "FAIL"
expect_eq "$(status_of after-verify out.txt)" "SKIP"
expect_eq "$(status_of teardown out.txt)" "PASS"
expect_eq "$(cat fail/teardown.txt)" "saw created"
[ ! -e fail/after-verify.txt ] || t_fail "a normal dependent of a failed step ran"
t_end

t_begin always_runs_after_workflow_timeout
mkdir tmo && wf tmo '"sleep 60"' "timeout: 20s" 2s
start=$(date +%s)
expect_rc 3 "$WL" run tmo.yaml -w tmo -q >out.txt 2>err.txt
took=$(( $(date +%s) - start ))
[ "$took" -lt 40 ] || t_fail "took ${took}s"
expect_eq "$(status_of verify out.txt)" "CANCELLED"
expect_eq "$(status_of teardown out.txt)" "PASS"
expect_eq "$(cat tmo/teardown.txt)" "saw created"
expect_contains out.txt "Workflow: TIMED_OUT"
t_end

t_begin always_runs_after_cancel
mkdir cnl && wf cnl '"touch started; sleep 60"'
"$WL" run cnl.yaml -w cnl -q >out.txt 2>err.txt &
pid=$!
for _ in $(seq 1 200); do [ -e cnl/started ] && break; sleep 0.1; done
[ -e cnl/started ] || t_fail "verify never started"
kill -TERM "$pid"
wait "$pid"
expect_eq "$?" 143
expect_eq "$(status_of verify out.txt)" "CANCELLED"
expect_eq "$(status_of teardown out.txt)" "PASS"
expect_eq "$(cat cnl/teardown.txt)" "saw created"
expect_eq "$(sqlite3 cnl/.waitloop/history.db "SELECT status FROM steps WHERE step = 'teardown'")" "SUCCEEDED"
expect_eq "$(sqlite3 cnl/.waitloop/history.db "SELECT status FROM runs")" "CANCELLED"
t_end

t_begin always_has_its_own_timeout
# the workflow's deadline has passed; the cleanup step hangs: its own timeout ends it
mkdir own && wf own '"exit 1"' "timeout: 1s" 1m
sed -i 's/      rm resource/      rm resource; sleep 60/' own.yaml
start=$(date +%s)
expect_rc 1 "$WL" run own.yaml -w own -q >out.txt 2>err.txt
took=$(( $(date +%s) - start ))
[ "$took" -lt 40 ] || t_fail "took ${took}s: the cleanup's own timeout did not end it"
expect_eq "$(status_of teardown out.txt)" "FAIL"
expect_contains "$(grep teardown out.txt)" "timeout (1s)"
t_end

t_begin always_without_depends_on_runs_last
mkdir last
cat >last.yaml <<'EOF'
name: last
version: "1"
timeout: 1m
steps:
  cleanup:
    worker: CUSTOM
    always: true
    instructions: 'ls > seen.txt'
  a:
    worker: CUSTOM
    instructions: 'sleep 0.3; touch a.done'
  b:
    worker: CUSTOM
    depends_on: [a]
    instructions: 'touch b.done'
EOF
expect_rc 0 "$WL" run last.yaml -w last -q >out.txt 2>err.txt
expect_contains last/seen.txt "a.done"
expect_contains last/seen.txt "b.done"
t_end

t_begin always_validation
cat >bad.yaml <<'EOF'
name: bad
version: "1"
timeout: 1m
steps:
  c:
    worker: CUSTOM
    always: "sometimes"
    instructions: "true"
EOF
expect_rc 2 "$WL" validate bad.yaml >out.txt 2>err.txt
expect_contains err.txt "bad.yaml:7:13: error: 'always' must be true or false"
expect_rc 0 "$WL" validate "$ROOT/workflows/cleanup.yaml" >/dev/null
/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert "always" in json.dumps(s)' "$ROOT/schema/workflow.schema.json" || t_fail "schema lacks always"
t_end

t_begin always_example_workflow
# workflows/cleanup.yaml, as documented: teardown runs after success and after failure
mkdir ex
expect_rc 0 "$WL" run "$ROOT/workflows/cleanup.yaml" -w ex -q >out.txt 2>err.txt
expect_contains out.txt "PASS  teardown"
expect_rc 1 "$WL" run "$ROOT/workflows/cleanup.yaml" -w ex -q --set FAIL=1 >out.txt 2>err.txt
expect_contains out.txt "FAIL  verify"
expect_contains out.txt "PASS  teardown"
[ ! -e ex/.scratch ] || t_fail "teardown left .scratch behind"
t_end
