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

json_get() { # file python-expression-on-d
	/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>&1
}

t_begin compat_resolved_json_is_meta_json
# roboppi's _resolved.json (its StepResolvedMeta) is the step's _meta.json,
# one file under two names (a hard link: one inode per step, not two;
# docs/artifacts.md): same bytes, roboppi's keys and `resolved` object.
cat >res.yaml <<'YAML'
name: res
version: "1"
timeout: 1m
steps:
  build:
    worker: CUSTOM
    timeout: 30s
    capabilities: [READ, EDIT]
    instructions: echo x >> build.count; test "$(wc -l < build.count)" -ge 2
  after:
    worker: CUSTOM
    depends_on: [build]
    instructions: "true"
YAML
mkdir ws4
# resolved_same DIR STEP -> "same" when _resolved.json is _meta.json (inode, link count, bytes)
resolved_same() {
	local m="$1/$2/_meta.json" r="$1/$2/_resolved.json"
	if [ ! -f "$m" ] || [ ! -f "$r" ]; then
		echo "missing: $(find "$1/$2" -maxdepth 1 -name '_*' | sort | tr '\n' ' ')"
	elif [ "$(stat -c '%i %h' "$m")" != "$(stat -c '%i %h' "$r")" ] || [ "$(stat -c %h "$m")" != 2 ]; then
		echo "two files"
	elif cmp -s "$m" "$r"; then
		echo same
	else
		echo differ
	fi
}
"$WL" run res.yaml -w ws4 -q --no-progress >/dev/null 2>&1
expect_eq "$?" 1   # build fails the first time; after is skipped
expect_eq "$(resolved_same ws4/context build)" same
# a skipped step never ran: _meta.json only, as roboppi writes none
[ ! -e ws4/context/after/_resolved.json ] || t_fail "a skipped step has a _resolved.json"
expect_eq "$(json_get ws4/context/build/_resolved.json 'd["status"], d["stepId"], d["workerKind"], d["attempts"]')" "FAILED build CUSTOM 1"
expect_eq "$(json_get ws4/context/build/_resolved.json \
	'sorted(k for k in ["stepId","status","startedAt","completedAt","wallTimeMs","attempts","iterations","maxIterations","workerKind","artifacts","resolved"] if k not in d)')" "[]"
expect_eq "$(json_get ws4/context/build/_resolved.json \
	'd["resolved"]["timeoutMs"], d["resolved"]["workerKind"], d["resolved"]["capabilities"], d["resolved"]["workspaceRef"] == d["workspace"]')" \
	"30000 CUSTOM ['READ', 'EDIT'] True"
expect_schema_valid meta ws4/context/build/_resolved.json
# the same context directory again: both names replaced together (no
# stale _resolved.json of the first run), still one file, and no temporary
# names left behind
"$WL" run res.yaml -w ws4 -q --no-progress >/dev/null 2>&1
expect_eq "$?" 0
expect_eq "$(resolved_same ws4/context build)" same
expect_eq "$(resolved_same ws4/context after)" same
expect_eq "$(json_get ws4/context/build/_resolved.json 'd["status"], d["run_id"] == json.load(open("ws4/context/_workflow.json"))["run_id"]')" "SUCCEEDED True"
expect_eq "$(find ws4/context -name '*.tmp.*' | wc -l)" 0
t_end

t_begin compat_resolved_json_failure_keeps_meta_json
# _resolved.json cannot be written (a directory is in its place): the
# step's _meta.json is written all the same, the lost file is reported, and
# the run does not pass (a lost artifact never does; docs/execution.md)
cat >one.yaml <<'YAML'
name: one
version: "1"
timeout: 1m
steps:
  a:
    worker: CUSTOM
    instructions: "true"
YAML
mkdir -p ws5/context/a/_resolved.json/x
"$WL" run one.yaml -w ws5 -q --no-progress >out5.txt 2>err5.txt
expect_eq "$?" 1
expect_eq "$(json_get ws5/context/a/_meta.json 'd["status"], d["exit_code"]')" "SUCCEEDED 0"
expect_contains err5.txt "cannot write '$PWD/ws5/context/a/_resolved.json'"
[ -d ws5/context/a/_resolved.json/x ] || t_fail "the directory in the way was touched"
expect_eq "$(find ws5/context -name '*.tmp.*' | wc -l)" 0
t_end
