# End-to-end: waitloop validate / waitloop schema, the invalid-workflow corpus
# (tests/fixtures/invalid: one mistake class per file, each with its expected
# first diagnostic) checked against both the loader and the JSON Schema.
# timeout: 240
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

FIX=$ROOT/tests/fixtures
SCHEMA=$ROOT/schema/workflow.schema.json

# schema_check MODE FILE...: MODE=reject -> print files the schema accepts;
# MODE=accept -> print files the schema rejects (with the reasons on stderr).
schema_check() {
	/usr/bin/python3 - "$SCHEMA" "$@" <<'PY'
import json, sys, yaml
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
mode = sys.argv[2]
for f in sys.argv[3:]:
    errs = list(v.iter_errors(yaml.safe_load(open(f))))
    if mode == "reject" and not errs:
        print(f)
    if mode == "accept" and errs:
        print(f)
        for e in errs:
            print("   ", f, list(e.path), e.message, file=sys.stderr)
PY
}

t_begin validate_invalid_corpus_positioned
n=0
both=()
for f in "$FIX"/invalid/*.yaml; do
	n=$((n + 1))
	name=$(basename "$f")
	expect=$(sed -n 's/^# expect: //p' "$f" | head -n 1)
	check=$(sed -n 's/^# check: //p' "$f" | head -n 1)
	[ -n "$expect" ] || t_fail "$name has no '# expect:' line"
	[ "$check" = both ] && both+=("$f")
	cp "$f" "$name"
	"$WL" validate "$name" >out.txt 2>err.txt; rc=$?
	[ "$rc" -eq 2 ] || t_fail "$name: expected exit 2, got $rc"
	grep -qxF -- "$name:$expect" err.txt || { t_fail "$name: missing '$name:$expect'"; sed 's/^/      /' err.txt >&2; }
	grep -qE "^$name: [0-9]+ errors?" out.txt || t_fail "$name: no summary line"
done
[ "$n" -ge 60 ] || t_fail "corpus too small: $n files"
[ "${#both[@]}" -ge 40 ] || t_fail "too few schema-checked files: ${#both[@]}"
t_end

t_begin schema_rejects_invalid_corpus
accepted=$(schema_check reject "${both[@]}")
[ -z "$accepted" ] || t_fail "the JSON Schema accepts: $accepted"
t_end

t_begin workflows_and_valid_fixtures_pass_both
for f in "$ROOT"/workflows/*.yaml "$FIX"/valid/*.yaml; do
	expect_rc 0 "$WL" validate "$f" >out.txt 2>err.txt
	grep -q ': error: ' err.txt && t_fail "errors for $f: $(cat err.txt)"
	expect_contains out.txt "$f: ok"
done
rejected=$(schema_check accept "$ROOT"/workflows/*.yaml "$FIX"/valid/*.yaml)
[ -z "$rejected" ] || t_fail "the JSON Schema rejects: $rejected"
t_end

t_begin ten_mistakes_ten_errors
cat >ten.yaml <<'Y'
name: ten
version: "2"
timeout: 10x
concurrency: 0
steps:
  build:
    worker: custom
    instructions: make
    timout: 5m
    on_failure: abrt
  test:
    worker: CUSTOM
    instructions: make test
    depends_on: [biuld]
  bad/id:
    worker: CUSTOM
    instructions: 'true'
    wait_policy:
      rules:
        - {match: 'a(b', class: retryable}
      stall_threshold: 0
Y
expect_rc 2 "$WL" validate ten.yaml >out.txt 2>err.txt
count=$(grep -cE '^ten\.yaml:[0-9]+:[0-9]+: error: ' err.txt)
expect_eq "$count" 10
expect_contains out.txt "ten.yaml: 10 errors"
expect_contains err.txt "ten.yaml:2:10: error: unsupported version '2' (expected \"1\")"
expect_contains err.txt "ten.yaml:3:10: error: invalid duration '10x' for 'timeout' (expected e.g. 200ms, 10s, 1h30m)"
expect_contains err.txt "ten.yaml:9:5: error: unknown key 'timout' in step 'build' (did you mean 'timeout'?)"
expect_contains err.txt "ten.yaml:14:18: error: unknown step 'biuld' in 'depends_on' of step 'test' (did you mean 'build'?)"
# sorted by position
sort -t: -k2,2n -k3,3n -s err.txt | cmp -s - err.txt || t_fail "diagnostics not sorted by position"
t_end

t_begin json_output
"$WL" validate --json ten.yaml "$ROOT/workflows/hello.yaml" >out.json 2>err.txt; rc=$?
expect_eq "$rc" 2
[ -s err.txt ] && t_fail "--json wrote to stderr: $(cat err.txt)"
/usr/bin/python3 - out.json <<'PY' || t_fail "bad --json document"
import json, sys
d = json.load(open(sys.argv[1]))
f0, f1 = d["files"]
assert f0["file"] == "ten.yaml" and f0["valid"] is False, f0
assert len([x for x in f0["diagnostics"] if x["level"] == "error"]) == 10
for x in f0["diagnostics"]:
    assert set(x) == {"level", "line", "col", "message"}, x
    assert x["line"] >= 1 and x["col"] >= 1
assert f1["valid"] is True and f1["diagnostics"] == [], f1
PY
t_end

t_begin roboppi_keys_warn_but_pass
cat >rob.yaml <<'Y'
name: rob
version: 1
timeout: 5m
sentinel: {enabled: true}
create_branch: true
steps:
  impl:
    worker: CUSTOM
    instructions: echo hi
    model: gpt-5
    stall: {no_output_timeout: 5m}
Y
expect_rc 0 "$WL" validate rob.yaml >out.txt 2>err.txt
expect_contains err.txt "rob.yaml:10:5: warning: 'model' has no effect on a CUSTOM worker (it goes to an agent CLI); ignored"
expect_not_contains err.txt "'sentinel'"
expect_not_contains err.txt "'stall'"
expect_not_contains err.txt "'create_branch'"
expect_contains out.txt "rob.yaml: ok (1 warning)"
t_end

t_begin roboppi_sentinel_and_agent_errors
cat >sen.yaml <<'Y'
name: sen
version: "1"
timeout: 5m
sentinel: {enabled: true, defaults: {no_output_timeout: 90, interrupt: {strategy: kill}}}
steps:
  impl:
    agent: implementer
    stall:
      no_output: 5m
      probe: {command: "echo {}", interval: 1s}
      on_stall: {action: restart}
Y
expect_rc 2 "$WL" validate sen.yaml >out.txt 2>err.txt
expect_contains err.txt "sen.yaml:4:57: error: invalid duration '90' for 'no_output_timeout'"
expect_contains err.txt "error: 'strategy' must be \"cancel\""
# (the agent catalog is applied once the file has no other error: test_agent_catalog.sh)
expect_contains err.txt "sen.yaml:9:7: error: unknown key 'no_output' in stall of step 'impl'"
expect_contains err.txt "error: missing required field 'stall_threshold' in probe of stall of step 'impl'"
expect_contains err.txt "error: invalid value 'restart' for 'action' (expected interrupt, fail or ignore)"
expect_not_contains err.txt "missing required field 'worker'"
t_end

t_begin whole_file_errors
expect_rc 2 "$WL" validate nonexistent.yaml 2>err.txt >/dev/null
expect_contains err.txt "nonexistent.yaml: error: cannot open 'nonexistent.yaml'"
head -c 1100000 /dev/zero | tr '\0' '#' >big.yaml
expect_rc 2 "$WL" validate big.yaml 2>err.txt >/dev/null
expect_contains err.txt "big.yaml: error: 'big.yaml' is larger than 1 MiB"
: >empty.yaml
expect_rc 2 "$WL" validate empty.yaml 2>err.txt >/dev/null
expect_contains err.txt "empty.yaml:1:1: error: the workflow file is empty"
t_end

t_begin many_files_one_bad
expect_rc 2 "$WL" validate "$ROOT/workflows/hello.yaml" ten.yaml >out.txt 2>/dev/null
expect_contains out.txt "$ROOT/workflows/hello.yaml: ok"
expect_contains out.txt "ten.yaml: 10 errors"
t_end

t_begin large_workflow_validates
{
	printf 'name: big\nversion: "1"\ntimeout: 1h\nsteps:\n'
	for i in $(seq 1 500); do
		printf '  s%d:\n    worker: CUSTOM\n    instructions: echo %d\n' "$i" "$i"
		[ "$i" -gt 1 ] && printf '    depends_on: [s%d]\n' $((i - 1))
	done
} >big500.yaml
expect_rc 0 "$WL" validate big500.yaml >out.txt 2>&1
expect_contains out.txt "big500.yaml: ok"
t_end

t_begin validate_usage
expect_rc 0 "$WL" validate --help >out.txt
expect_contains out.txt "usage: waitloop validate WORKFLOW.yaml... [--json]"
expect_rc 2 "$WL" validate --frob x.yaml 2>err.txt
expect_contains err.txt "waitloop: error: unknown option '--frob'"
expect_rc 2 "$WL" validate 2>err.txt
expect_contains err.txt "waitloop: error: no workflow file given"
t_end

t_begin schema_command
expect_rc 0 "$WL" schema workflow >out.json
cmp -s out.json "$SCHEMA" || t_fail "'schema workflow' differs from schema/workflow.schema.json"
expect_rc 2 "$WL" schema workflw 2>err.txt
expect_contains err.txt "waitloop: error: unknown schema 'workflw' (did you mean 'workflow'?)"
for s in verdict wait-failure probe event; do
	"$WL" schema "$s" >out.json 2>err.txt; rc=$?
	if [ -f "$ROOT/schema/$s.schema.json" ]; then
		[ "$rc" -eq 0 ] && cmp -s out.json "$ROOT/schema/$s.schema.json" || t_fail "schema $s: rc $rc or content differs"
	else
		[ "$rc" -eq 1 ] || t_fail "schema $s: expected exit 1, got $rc"
		expect_contains err.txt "waitloop: error: schema '$s' is not available"
	fi
done
expect_rc 0 "$WL" schema --help >out.txt
expect_contains out.txt "usage: waitloop schema"
t_end
