# roboppi defaults that decide step outcomes (SPEC §4.1): `on_failure:
# retry` retries max_retries times, and max_retries defaults to 0 as in
# roboppi (executor.ts: `max_retries ?? 0`; docs/guide/workflow.md).
# Also: real _workflow.json / _meta.json against schema/run and schema/meta.
# timeout: 60
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

cat >retry.yaml <<'YAML'
name: retry-defaults
version: "1"
timeout: 1m
steps:
  bare:
    worker: CUSTOM
    on_failure: retry
    instructions: echo x >> bare.attempts; exit 3
YAML
cat >counted.yaml <<'YAML'
name: retry-counted
version: "1"
timeout: 1m
steps:
  counted:
    worker: CUSTOM
    on_failure: retry
    max_retries: 1
    instructions: echo x >> counted.attempts; exit 3
YAML

t_begin compat_on_failure_retry_default_max_retries_0
mkdir ws
"$WL" run retry.yaml -w ws --no-progress >out.txt 2>err.txt
expect_eq "$?" 1
"$WL" run counted.yaml -w ws --no-progress >out2.txt 2>err2.txt
expect_eq "$?" 1
expect_eq "$(wc -l <ws/bare.attempts)" 1
expect_eq "$(wc -l <ws/counted.attempts)" 2
expect_contains out.txt "FAIL  bare — exit code 3"
expect_contains out2.txt "FAIL  counted — exit code 3"
expect_eq "$(/usr/bin/python3 -c 'import json; print(json.load(open("ws/context/counted/_meta.json"))["attempts"])')" 2
t_end

t_begin compat_workflow_json_and_meta_json_schema_valid
# real _workflow.json / _meta.json of FAILED, CANCELLED and SUCCEEDED steps
cat >mixed.yaml <<'YAML'
name: mixed
version: "1"
timeout: 1m
steps:
  ok:
    worker: CUSTOM
    instructions: "true"
  bad:
    worker: CUSTOM
    depends_on: [ok]
    instructions: exit 2
  never:
    worker: CUSTOM
    depends_on: [bad]
    instructions: "true"
YAML
mkdir ws2
"$WL" run mixed.yaml -w ws2 --no-progress --set A=b >/dev/null 2>&1
expect_schema_valid run ws2/context/_workflow.json
for s in ok bad never; do
	[ -f "ws2/context/$s/_meta.json" ] || { t_fail "no _meta.json for $s"; continue; }
	expect_schema_valid meta "ws2/context/$s/_meta.json"
done
expect_schema_valid meta ws/context/counted/_meta.json
t_end

t_begin compat_preflight_failure_artifacts_schema_valid
cat >pf.yaml <<'YAML'
name: pf
version: "1"
timeout: 1m
preflight:
  - require_commands: [waitloop-test-no-such-command]
steps:
  a:
    worker: CUSTOM
    instructions: "true"
YAML
mkdir ws3
"$WL" run pf.yaml -w ws3 -q >/dev/null 2>&1
expect_eq "$?" 2
expect_schema_valid run ws3/context/_workflow.json
expect_schema_valid meta ws3/context/a/_meta.json
t_end
