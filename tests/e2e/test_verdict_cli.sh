# End-to-end: `waitloop verdict write` (SPEC §3, §4.5) — outputs validated
# against schema/verdict.schema.json, default locations, wait-failure merge,
# usage errors, secrets.
# timeout: 60
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2
unset WAITLOOP_DECISION_FILE WAITLOOP_STEP_DIR WAITLOOP_CHECK_ID WAITLOOP_ITERATION WAITLOOP_STEP WAITLOOP_RUN_ID

jget() { /usr/bin/python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); exec("print(json.dumps(" + sys.argv[2] + "))")' "$1" "$2"; }

t_begin verdict_write_incomplete
expect_rc 0 "$WL" verdict write --decision incomplete --reason "  unit tests fail  " --reason "unit tests fail" \
	--reason "lint: 3 warnings" --fingerprint tests/unit --fingerprint a/lint --fingerprint tests/unit \
	--hint "run make test" --check-id chk-1 -o out.verdict 2>err.txt
expect_schema_valid verdict out.verdict
expect_eq "$(jget out.verdict 'v["decision"]')" '"incomplete"'
expect_eq "$(jget out.verdict 'v["check_id"]')" '"chk-1"'
expect_eq "$(jget out.verdict 'v["reasons"]')" '["unit tests fail", "lint: 3 warnings"]'
expect_eq "$(jget out.verdict 'v["fingerprints"]')" '["a/lint", "tests/unit"]'
expect_eq "$(jget out.verdict 'v["hints"]')" '["run make test"]'
expect_eq "$(jget out.verdict 'v["schema"]')" '"waitloop.verdict.v1"'
expect_contains err.txt "waitloop: verdict incomplete (2 reasons, 2 fingerprints) written to out.verdict"
expect_eq "$(ls -A | grep -c 'out.verdict')" 1   # no temporary files left behind
t_end

t_begin verdict_default_locations
mkdir -p step ctx
WAITLOOP_STEP_DIR=$PWD/step WAITLOOP_CHECK_ID=env-check WAITLOOP_ITERATION=3 WAITLOOP_STEP=build WAITLOOP_RUN_ID=r1 \
	"$WL" verdict write --decision pass 2>/dev/null
expect_schema_valid verdict step/review.verdict
expect_eq "$(jget step/review.verdict 'v["decision"]')" '"complete"'
expect_eq "$(jget step/review.verdict '[v["check_id"], v["iteration"], v["step"], v["run_id"]]')" '["env-check", 3, "build", "r1"]'
WAITLOOP_DECISION_FILE=$PWD/ctx/decision.json WAITLOOP_STEP_DIR=$PWD/step "$WL" verdict write --decision fail 2>/dev/null
expect_eq "$(jget ctx/decision.json 'v["decision"]')" '"incomplete"'
(cd ctx && "$WL" verdict write --decision complete 2>/dev/null)
expect_schema_valid verdict ctx/review.verdict
t_end

t_begin verdict_from_wait_failure
cat >wait-failure.json <<'JSON'
{"schema":"waitloop.wait-failure.v1","check_id":"chk-2","phase":"standalone","target":"crd/widgets.example.io",
 "reason":"terminal_fail","fingerprints":["kest/control/crd-missing/widgets","kest/control/helmrelease-failed/capi"],
 "elapsed_s":12.5,"message":"HelmRelease capi failed: InstallFailed","hints":["check the chart version"]}
JSON
expect_rc 0 "$WL" verdict write --decision incomplete --reason "deploy check failed" --fingerprint deploy/crd \
	--from-wait-failure wait-failure.json -o wf.verdict 2>/dev/null
expect_schema_valid verdict wf.verdict
expect_eq "$(jget wf.verdict 'v["reasons"]')" '["deploy check failed", "HelmRelease capi failed: InstallFailed"]'
expect_eq "$(jget wf.verdict 'v["fingerprints"]')" '["deploy/crd", "kest/control/crd-missing/widgets", "kest/control/helmrelease-failed/capi"]'
expect_eq "$(jget wf.verdict 'v["hints"]')" '["check the chart version"]'
expect_rc 0 "$WL" verdict write --decision incomplete --from-wait-failure nope.json -o n.verdict 2>err.txt
expect_contains err.txt "waitloop: no wait failure at 'nope.json'; nothing merged"
expect_eq "$(jget n.verdict 'v["fingerprints"]')" '[]'
echo '{"schema":"other"}' >bad.json
expect_rc 1 "$WL" verdict write --decision incomplete --from-wait-failure bad.json -o x.verdict 2>err.txt
expect_contains err.txt "waitloop: error: 'bad.json' is not a wait-failure.json (schema waitloop.wait-failure.v1)"
[ ! -e x.verdict ] || t_fail "a verdict was written despite the error"
t_end

t_begin verdict_bounds
args=()
for i in $(seq 1 60); do args+=(--reason "reason $i"); done
long=$(printf 'x%.0s' $(seq 1 700))
"$WL" verdict write --decision incomplete "${args[@]}" --fingerprint "$long" -o b.verdict 2>/dev/null
expect_schema_valid verdict b.verdict
expect_eq "$(jget b.verdict 'len(v["reasons"])')" 50
expect_eq "$(jget b.verdict 'len(v["fingerprints"][0].encode())')" 500
t_end

t_begin verdict_usage_errors
expect_rc 2 "$WL" verdict write 2>err.txt
expect_contains err.txt "waitloop: error: --decision complete|incomplete is required"
expect_contains err.txt "Try 'waitloop verdict --help'."
expect_rc 2 "$WL" verdict write --decision maybe 2>err.txt
expect_contains err.txt "waitloop: error: unknown decision 'maybe' (want complete or incomplete)"
expect_rc 2 "$WL" verdict write --decision complete --bogus 2>err.txt
expect_contains err.txt "waitloop: error: unknown option '--bogus'"
expect_rc 2 "$WL" verdict write --decision complete --reason 2>err.txt
expect_contains err.txt "waitloop: error: option '--reason' needs a value"
expect_rc 2 "$WL" verdict write --decision complete extra 2>err.txt
expect_contains err.txt "waitloop: error: unexpected argument 'extra'"
expect_rc 2 "$WL" verdict read 2>err.txt
expect_contains err.txt "waitloop: error: unknown subcommand 'read' (want: write)"
expect_rc 2 "$WL" verdict 2>err.txt
expect_contains err.txt "usage: waitloop verdict write"
out=$("$WL" verdict --help); expect_contains "$out" "--from-wait-failure FILE"
out=$("$WL" verdict write --help); expect_contains "$out" "Exit codes: 0 written"
[ ! -e review.verdict ] || t_fail "usage errors must not write a verdict"
t_end

# Secrets planted in reasons never reach the file.
t_begin verdict_redacts_secrets
API_TOKEN=s3cr3t-value-from-env "$WL" verdict write --decision incomplete \
	--reason "login failed with password=hunter2hunter2" \
	--reason "used token ghp_abcdefghijklmnopqrstuvwxyz0123456789 and s3cr3t-value-from-env" \
	--reason "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl" -o s.verdict 2>/dev/null
expect_schema_valid verdict s.verdict
expect_not_contains s.verdict "hunter2hunter2"
expect_not_contains s.verdict "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
expect_not_contains s.verdict "s3cr3t-value-from-env"
expect_not_contains s.verdict "eyJhbGciOiJIUzI1NiJ9"
expect_contains s.verdict "[REDACTED]"
t_end
