# CI reports of a real run (docs/ci.md): `run --junit FILE` validated
# against a JUnit XSD with xmllint, GitHub Actions annotations and step
# summary (GITHUB_ACTIONS=true), the enriched `run --json`, WAITLOOP_*
# environment defaults, did-you-mean for unknown options of every command.
# timeout: 180
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

FX=$ROOT/tests/fixtures/ci
XSD=$ROOT/tests/fixtures/junit/junit.xsd
PY=/usr/bin/python3

# One real run of tests/fixtures/ci/report.yaml with every report on.
mkdir ws
GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY=$T/step-summary.md GITHUB_SERVER_URL=https://github.com \
	GITHUB_REPOSITORY=acme/app GITHUB_RUN_ID=4242 \
	"$WL" run "$FX/report.yaml" -w ws --junit "$T/junit.xml" --json --no-progress >summary.json 2>run.err
rc=$?

t_begin ci_run_outcome
expect_eq "$rc" 1
[ -s junit.xml ] || t_fail "no junit.xml written"
t_end

t_begin junit_validates_against_xsd
if command -v xmllint >/dev/null; then
	xmllint --noout --schema "$XSD" junit.xml 2>xmllint.err || { t_fail "junit.xml does not validate:"; cat xmllint.err >&2; }
	# the check has teeth: a report without the required counts is rejected
	sed 's/ failures="[0-9]*"//' junit.xml >broken.xml
	if xmllint --noout --schema "$XSD" broken.xml 2>/dev/null; then t_fail "the XSD accepted a testsuite without failures="; fi
	t_end
else
	echo "SKIP junit_validates_against_xsd: xmllint not installed (Debian libxml2-utils)"
fi

t_begin junit_testcases_and_messages
"$PY" - junit.xml >junit.check 2>&1 <<'PY' || { t_fail "junit content:"; cat junit.check >&2; }
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1 and suites[0].get("name") == "ci-report", suites
s = suites[0]
cases = [(c.get("name"), c) for c in s.findall("testcase")]
names = [n for n, _ in cases]
# one testcase per step, one per iteration's check, in workflow order
assert names == ["loop", "loop check #1", "loop check #2", "doomed", "broken", "after-broken"], names
assert all(c.get("classname") == "ci-report" for _, c in cases)
by = dict(cases)
def kind(c):
    kids = [k.tag for k in c]
    return kids[0] if kids else "pass"
assert [kind(by[n]) for n in names] == ["pass", "failure", "pass", "failure", "failure", "skipped"], [kind(by[n]) for n in names]
# counts agree with the cases
assert (s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped")) == ("6", "3", "0", "1"), s.attrib
assert (root.get("tests"), root.get("failures")) == ("6", "3"), root.attrib
# failure message: the verdict's first reason (redacted), then the fingerprints
f = by["loop check #1"].find("failure")
msg = f.get("message")
assert msg == 'expected <ok> & got "100% broken" | token=[REDACTED] [lint/unused-import, test/a<b>]', msg
assert f.get("type") == "incomplete", f.attrib
assert "reason: second reason" in f.text and "verdict: " in f.text and "/iterations/1/review.verdict" in f.text, f.text
# the early-aborted wait step: its reason, fingerprints and wait-failure path
f = by["doomed"].find("failure")
assert f.get("type") == "FAILED"
assert f.get("message").startswith("wait: terminal_fail after 1 observation"), f.get("message")
assert f.get("message").endswith("[ci/terminal/chart-not-found]"), f.get("message")
assert "wait-failure: " in f.text and f.text.rstrip().endswith("doomed/wait-failure.json"), f.text
assert by["broken"].find("failure").get("message") == "exit code 7"
assert by["after-broken"].find("skipped").get("message") == "dependency 'broken' failed"
props = {p.get("name"): p.get("value") for p in s.find("properties")}
assert props["status"] == "FAILED" and props["exit_code"] == "1" and props["run_id"], props
PY
t_end

t_begin junit_escapes_and_redacts
# the raw text: specials escaped, the secret never written
expect_contains junit.xml 'message="expected &lt;ok&gt; &amp; got &quot;100% broken&quot;'
expect_not_contains junit.xml "s3cr3t-Value-123"
expect_not_contains summary.json "s3cr3t-Value-123"
expect_not_contains step-summary.md "s3cr3t-Value-123"
t_end

t_begin github_annotations
grep '^::' run.err >ann.txt
# one warning per early abort, one error per failed step; nothing for the rest
expect_eq "$(grep -c '^::warning ' ann.txt)" 1
expect_eq "$(grep -c '^::error ' ann.txt)" 2
expect_contains ann.txt "::error title=waitloop%3A ci-report%3A step broken FAILED::exit code 7"
w=$(grep '^::warning ' ann.txt)
# property escaping (':' and ','), message escaping ('%' and the newline before the evidence path)
expect_contains "$w" "::warning title=waitloop%3A doomed%3A early abort (terminal_fail)::wait helmrelease/doomed,100%25: terminal_fail"
expect_contains "$w" "[ci/terminal/chart-not-found]%0Aevidence: $T/ws/context/doomed/wait-failure.json"
expect_not_contains ann.txt "3A loop"
t_end

t_begin github_step_summary
expect_contains step-summary.md "### ❌ waitloop: ci-report — FAILED"
expect_contains step-summary.md "| step | status | iterations | duration | reason | fingerprints |"
expect_contains step-summary.md "| loop | ✅ SUCCEEDED | 2 |"
expect_contains step-summary.md "| broken | ❌ FAILED | 0 |"
expect_contains step-summary.md "| after-broken | ⏭️ SKIPPED | 0 |"
expect_contains step-summary.md '**terminal_fail** (early abort)'
expect_contains step-summary.md "- doomed wait failure: \`$T/ws/context/doomed/wait-failure.json\`"
expect_contains step-summary.md "- loop verdict: \`$T/ws/context/loop/iterations/2/review.verdict\`"
expect_contains step-summary.md "- uploaded artifacts of this job: [workflow run](https://github.com/acme/app/actions/runs/4242#artifacts)"
# a table cell never breaks the table: the '|' of a reason is escaped
grep -q '^| loop |' step-summary.md || t_fail "no loop row"
# appended, not overwritten: a second run adds a second summary
GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY=$T/step-summary.md "$WL" run "$ROOT/workflows/hello.yaml" -w ws -q >/dev/null 2>hello.err
expect_eq "$(grep -c '^### ' step-summary.md)" 2
expect_eq "$(grep -c '^::' hello.err)" 0
t_end

t_begin github_off_without_env
GITHUB_ACTIONS=false GITHUB_STEP_SUMMARY=$T/off.md "$WL" run "$FX/report.yaml" -w ws -q >/dev/null 2>off.err
expect_eq "$(grep -c '^::' off.err)" 0
[ ! -e off.md ] || t_fail "step summary written without GITHUB_ACTIONS=true"
t_end

t_begin run_json_has_fingerprints_and_paths
expect_schema_valid summary summary.json
"$PY" - summary.json "$T/ws/context" >json.check 2>&1 <<'PY' || { t_fail "run --json content:"; cat json.check >&2; }
import json, os, sys
d = json.load(open(sys.argv[1])); ctx = sys.argv[2]
steps = {s["id"]: s for s in d["steps"]}
assert d["early_aborts"] == 1, d["early_aborts"]
loop = steps["loop"]
assert loop["fingerprints"] == ["lint/unused-import", "test/a<b>"], loop["fingerprints"]
assert loop["verdict_file"] == ctx + "/loop/iterations/2/review.verdict", loop["verdict_file"]
assert [c["decision"] for c in loop["checks"]] == ["incomplete", "complete"], loop["checks"]
assert loop["checks"][0]["verdict_file"] == ctx + "/loop/iterations/1/review.verdict"
for c in loop["checks"]:
    assert os.path.isfile(c["verdict_file"]), c["verdict_file"]
doomed = steps["doomed"]
assert doomed["wait_failures"] == [ctx + "/doomed/wait-failure.json"], doomed["wait_failures"]
assert os.path.isfile(doomed["wait_failures"][0])
w = doomed["waits"][0]
assert (w["phase"], w["outcome"], w["early_abort"]) == ("wait", "terminal_fail", True), w
assert w["fingerprints"] == ["ci/terminal/chart-not-found"], w
assert steps["broken"]["fingerprints"] == [] and steps["broken"]["wait_failures"] == []
PY
t_end

t_begin guarded_check_wait_failure_paths
# A completion check's guard: the wait-failure.json of each iteration is its archived copy.
cat >guard.yaml <<'EOF'
name: guard-paths
version: "1"
timeout: 1m
steps:
  g:
    worker: CUSTOM
    instructions: "true"
    max_iterations: 2
    on_iterations_exhausted: continue
    completion_check:
      worker: CUSTOM
      instructions: 'echo "Error: chart not found"; exec sleep 30'
      wait_policy:
        mode: probe_aware
        interval: 200ms
        probe: echo '{"status":"Failed"}'
        terminal_patterns: ['chart not found']
        grace: 1s
EOF
"$WL" run guard.yaml -w ws --json --junit g.xml -q >g.json 2>g.err
expect_schema_valid summary g.json
"$PY" - g.json "$T/ws/context" >g.check 2>&1 <<'PY' || { t_fail "guard paths:"; cat g.check >&2; }
import json, sys
d = json.load(open(sys.argv[1])); ctx = sys.argv[2]
g = d["steps"][0]
assert g["status"] == "INCOMPLETE", g["status"]
want = [ctx + "/g/iterations/%d/wait-failure.json" % i for i in (1, 2)]
assert g["wait_failures"] == want, g["wait_failures"]
assert [c["wait_failure_file"] for c in g["checks"]] == want
assert d["early_aborts"] == 2
PY
expect_contains g.xml '<failure type="INCOMPLETE"'
t_end

t_begin env_defaults_junit_metrics
# WAITLOOP_JUNIT / WAITLOOP_METRICS stand for --junit / --metrics, and are
# not passed on to steps (a nested run must not overwrite the outer report).
cat >env.yaml <<'EOF'
name: env-defaults
version: "1"
timeout: 1m
steps:
  probe-env:
    worker: CUSTOM
    instructions: 'echo "junit=${WAITLOOP_JUNIT:-unset} metrics=${WAITLOOP_METRICS:-unset}" > seen.txt'
EOF
WAITLOOP_JUNIT=$T/env.xml WAITLOOP_METRICS=$T/env.prom "$WL" run env.yaml -w ws -q >/dev/null 2>env.err
expect_contains env.xml '<testcase classname="env-defaults" name="probe-env"'
expect_contains env.prom "waitloop_run_duration_seconds"
expect_eq "$(cat ws/seen.txt)" "junit=unset metrics=unset"
# the command line wins
WAITLOOP_JUNIT=$T/env2.xml "$WL" run env.yaml -w ws -q --junit "$T/cli.xml" >/dev/null 2>&1
[ -f cli.xml ] && [ ! -e env2.xml ] || t_fail "--junit did not override WAITLOOP_JUNIT"
# verbosity and progress
out=$(WAITLOOP_VERBOSITY=quiet WAITLOOP_PROGRESS=0 "$WL" run env.yaml -w ws 2>&1 >/dev/null)
expect_eq "$out" ""
expect_rc 2 env WAITLOOP_VERBOSITY=loud "$WL" run env.yaml -w ws 2>bad.err
expect_contains bad.err "waitloop: error: invalid WAITLOOP_VERBOSITY 'loud' (quiet, normal or verbose)"
expect_rc 2 env WAITLOOP_PROGRESS=yes "$WL" run env.yaml -w ws 2>bad.err
expect_contains bad.err "waitloop: error: invalid WAITLOOP_PROGRESS 'yes' (0 or 1)"
t_end

t_begin junit_write_error_is_a_warning
"$WL" run env.yaml -w ws -q --junit "$T/no/such/dir/j.xml" >/dev/null 2>jerr.txt
rc=$?
expect_eq "$rc" 0
expect_contains jerr.txt "waitloop: warning: junit report: "
t_end

t_begin unknown_options_did_you_mean
check_dym() { # expected-line cmd...
	local want=$1; shift
	"$WL" "$@" >/dev/null 2>dym.err
	local rc=$?
	[ "$rc" -eq 2 ] || t_fail "exit $rc (want 2): waitloop $*"
	expect_eq "$(head -n 1 dym.err)" "$want"
}
check_dym "waitloop: error: unknown option '--jsno' (did you mean '--json'?)" run "$FX/report.yaml" --jsno
check_dym "waitloop: error: unknown option '--junti' (did you mean '--junit'?)" run "$FX/report.yaml" --junti=x.xml
check_dym "waitloop: error: unknown option '--jsn' (did you mean '--json'?)" validate --jsn "$FX/report.yaml"
check_dym "waitloop: error: unknown option '--limt' (did you mean '--limit'?)" history --limt 3
check_dym "waitloop: error: unknown option '--stauts' (did you mean '--status'?)" history --stauts FAILED
check_dym "waitloop: error: unknown option '--alll' (did you mean '--all'?)" show latest --alll
check_dym "waitloop: error: unknown option '--decison' (did you mean '--decision'?)" verdict write --decison complete
check_dym "waitloop: error: unknown option '--hepl' (did you mean '--help'?)" schema --hepl
check_dym "waitloop: error: unknown option '--hlep' (did you mean '--help'?)" completion --hlep bash
check_dym "waitloop: error: unknown option '--verison' (did you mean '--version'?)" --verison
# nothing close: no suggestion
check_dym "waitloop: error: unknown option '--zzzzzz'" run "$FX/report.yaml" --zzzzzz
t_end

t_begin ci_reports_of_a_preflight_failure
cat >pre.yaml <<'EOF2'
name: pre
version: "1"
timeout: 1m
preflight:
  - require_commands: [no-such-command-i20]
steps:
  a:
    worker: CUSTOM
    instructions: "true"
EOF2
GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY=$T/pre.md "$WL" run pre.yaml -w ws --junit "$T/pre.xml" --json >pre.json 2>pre.err
expect_eq "$?" 2
if command -v xmllint >/dev/null; then
	xmllint --noout --schema "$XSD" pre.xml 2>/dev/null || t_fail "pre.xml does not validate"
fi
expect_contains pre.xml '<testcase classname="pre" name="(run)" time="0.000">'
expect_contains pre.xml '<error type="FAILED" message="preflight failed (1 of 1 checks)"/>'
expect_contains pre.xml '<skipped message="preflight failed (1 of 1 checks)"/>'
expect_eq "$(grep '^::' pre.err)" "::error title=waitloop%3A pre FAILED::preflight failed (1 of 1 checks)"
expect_schema_valid summary pre.json
expect_contains pre.md "Run \`"
t_end
