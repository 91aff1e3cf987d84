# End-to-end: the implement → verify loop wired together (SPEC §4.5–§4.7,
# §6.1, §8, §9): verdicts, fix.md, the per-iteration archive, agent workers
# (fake CLIs on PATH), git tracking, convergence, decision files.
# timeout: 400
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

. "$ROOT/tests/fixtures/loop/setup.sh"
# run NAME WORKFLOW WORKSPACE [args...] — sets rc; output in NAME.out / NAME.err
run() {
	local name=$1 wf=$2 ws=$3
	shift 3
	"$WL" run "$wf" -w "$ws" --no-progress "$@" >"$name.out" 2>"$name.err"
	rc=$?
}
py() { /usr/bin/python3 - "$@"; }
show_json() { # ws run-id -> file show.json
	"$WL" show "$2" --db "$1/.waitloop/history.db" --json >show.json 2>show.err || t_fail "show failed: $(cat show.err)"
}
run_id() { sed -n 's/^Run: //p' "$1"; }
events_valid() { # events.jsonl — every event matches schema/event.schema.json
	py "$1" "$ROOT/schema/event.schema.json" <<'PY' || t_fail "invalid events in $1"
import json, sys
from jsonschema import Draft202012Validator
v = Draft202012Validator(json.load(open(sys.argv[2])))
for l in open(sys.argv[1]):
    e = json.loads(l)
    errs = list(v.iter_errors(e))
    assert not errs, (e["type"], errs[0].message)
PY
}

# ---------------------------------------------------------------------------
# a. The headline: a guarded verify aborted early → verdict + fix.md → the
#    agent fixes → iteration 2 passes, far below the script's own 600 s wait.
t_begin loop_headline_early_abort_to_fix
mkdir -p wsa/charts/capi
printf 'name: capi\nversion: 9.9.9\n' >wsa/charts/capi/Chart.yaml
cp "$FX/probe.sh" wsa/
mkrepo wsa
: >"$FAKE_AGENT_LOG"
start=$(date +%s)
run a "$FX/crd-loop.yaml" wsa
elapsed=$(($(date +%s) - start))
expect_eq "$rc" 0
expect_contains a.out "PASS  deploy (2 iterations)"
[ "$elapsed" -lt 60 ] || t_fail "took ${elapsed}s; the verify script alone would wait 600s"
D=wsa/context/deploy
expect_schema_valid verdict "$D/iterations/1/review.verdict"
expect_schema_valid verdict "$D/review.verdict"
expect_schema_valid wait-failure "$D/iterations/1/wait-failure.json"
py "$D/iterations/1/review.verdict" "$D/review.verdict" <<'PY' || t_fail "verdicts"
import json, sys
v1 = json.load(open(sys.argv[1])); v2 = json.load(open(sys.argv[2]))
assert v1["decision"] == "incomplete" and v1["source"] == "wait_policy", v1
assert v1["check_id"].endswith(":deploy:1") and v1["iteration"] == 1, v1
assert "kest/control/helmrelease-failed/capi" in v1["fingerprints"], v1["fingerprints"]
assert "kest/control/crd-missing/k0smotrondockerclusters" in v1["fingerprints"], v1["fingerprints"]
assert v2["decision"] == "complete" and v2["iteration"] == 2 and v2["check_id"].endswith(":deploy:2"), v2
PY
F1=$D/iterations/1/fix.md
expect_contains "$F1" "# Fix needed — step \`deploy\`, iteration 1 of 4"
expect_contains "$F1" "HelmRelease capi is Failed (InstallFailed): chart not found"
expect_contains "$F1" "- \`kest/control/helmrelease-failed/capi\`"
expect_contains "$F1" "HelmRelease capi must become Ready"
expect_contains "$F1" "#1 +"
expect_contains "$F1" 'Error from server (NotFound)'
expect_contains "$F1" "- \`src/feature.txt (added, +1 -0)\`"
expect_contains "$F1" "iterations/1/wait-failure.json"
[ ! -s "$D/fix.md" ] || t_fail "fix.md not emptied on complete"
[ -f "$D/iterations/2/review.verdict" ] || t_fail "iteration 2 not archived"
[ ! -e "$D/iterations/2/wait-failure.json" ] || t_fail "iteration 2 has a wait-failure.json"
[ ! -e "$D/wait-failure.json" ] || t_fail "a stale top-level wait-failure.json survived iteration 2"
grep -q '^version: 0.3.1$' wsa/charts/capi/Chart.yaml || t_fail "the fake agent did not fix the chart"
# the agent: argv prompt from prompts/implement.md (built-in copy), capabilities, fix file
expect_eq "$(grep -c '^=== claude argv: 2 args' "$FAKE_AGENT_LOG")" 2
expect_contains "$FAKE_AGENT_LOG" "capabilities=READ,EDIT"
expect_contains "$FAKE_AGENT_LOG" "If \`$T/wsa/context/deploy/fix.md\` exists"
expect_contains "$FAKE_AGENT_LOG" "fix_file=$T/wsa/context/deploy/fix.md"
id=$(run_id a.out)
show_json wsa "$id"
py show.json <<'PY' || t_fail "show --json"
import json, sys
d = json.load(open(sys.argv[1]))
st = [s for s in d["steps"] if s["step"] == "deploy"][0]
its = st["iterations"]
assert [i["decision"] for i in its] == ["incomplete", "complete"], its
assert its[0]["decision_source"] == "wait_policy", its[0]
assert "kest/control/helmrelease-failed/capi" in its[0]["fingerprints"], its[0]
files = [f["path"] for f in its[0]["git"]["files"]]
assert files == ["src/feature.txt"], files
assert [f["path"] for f in its[1]["git"]["files"]] == ["charts/capi/Chart.yaml"], its[1]["git"]
PY
events_valid wsa/context/_workflow/events.jsonl
"$WL" show "$id" --db wsa/.waitloop/history.db >show.txt 2>&1
expect_contains show.txt "charts/capi/Chart.yaml"
t_end

# ---------------------------------------------------------------------------
# b. Decision files: stale ones are ignored; roboppi markers and
#    `waitloop verdict write` decide; a relocated decision_file.
t_begin loop_decision_files
mkdir -p wsb
mkrepo wsb
run b "$FX/decisions.yaml" wsb
expect_eq "$rc" 0
expect_contains b.out "PASS  stale-id (1 iteration)"
expect_contains b.out "PASS  stale-mtime (1 iteration)"
expect_contains b.out "PASS  marker (2 iterations)"
expect_contains b.out "PASS  verdict-cli (2 iterations)"
expect_contains b.out "PASS  relocated (2 iterations)"
ev=wsb/context/_workflow/events.jsonl
py "$ev" <<'PY' || t_fail "iteration sources"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
it = {}
for e in evs:
    if e["type"] == "iteration_finished":
        it.setdefault(e["step"], []).append((e["decision"], e["source"], e["fingerprints"]))
assert it["stale-id"] == [("complete", "exit_code", [])], it["stale-id"]
assert it["stale-mtime"] == [("complete", "exit_code", [])], it["stale-mtime"]
assert it["marker"] == [("incomplete", "marker", []), ("complete", "marker", [])], it["marker"]
assert it["verdict-cli"][0] == ("incomplete", "decision_file", ["lint/unused-import"]), it["verdict-cli"]
assert it["verdict-cli"][1][:2] == ("complete", "decision_file"), it["verdict-cli"]
assert it["relocated"][0][:2] == ("incomplete", "decision_file"), it["relocated"]
PY
expect_schema_valid verdict wsb/out/verdict.json
expect_contains wsb/context/verdict-cli/iterations/1/fix.md "waitloop: verdict incomplete (1 reason, 1 fingerprint) written to"
expect_contains wsb/context/verdict-cli/iterations/1/fix.md "unused import in src/app.py"
expect_contains wsb/context/marker/iterations/1/fix.md "decided by marker"
if [ ! -f wsb/out/fix.md ] || [ -s wsb/out/fix.md ]; then t_fail "relocated fix_file missing or not emptied"; fi
expect_contains wsb/context/relocated/iterations/1/fix.md "needs a second pass"
# the runner's relocated files never count as changes
py "$ev" <<'PY' || t_fail "relocated files counted as git changes"
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["type"] == "git_changes":
        for f in e["files"]:
            assert not f["path"].startswith("out/"), f
PY
t_end

# ---------------------------------------------------------------------------
# c. Convergence: the same failure stops the loop at max_stage; changing
#    failures are never stopped; stage texts reach agents, never scripts.
t_begin loop_convergence
mkdir -p wsc
mkrepo wsc
: >"$FAKE_AGENT_LOG"
run c "$FX/converge.yaml" wsc
expect_eq "$rc" 1
expect_contains c.out "FAIL  stuck (4 iterations) — convergence: not converging"
expect_contains c.out "PASS  changing (5 iterations)"
expect_contains c.out "FAIL  stuck-script (4 iterations) — convergence: not converging"
expect_schema_valid convergence wsc/context/stuck/convergence.json
expect_schema_valid verdict wsc/context/stuck/review.verdict
py wsc/context/stuck/convergence.json wsc/context/stuck/review.verdict wsc/context/_workflow/events.jsonl <<'PY' || t_fail "convergence artifacts"
import json, sys
c = json.load(open(sys.argv[1])); v = json.load(open(sys.argv[2]))
assert "not converging" in json.dumps(c), c
assert v["decision"] == "failed" and v["source"] == "convergence", v
assert "loop/not-converging" in v["fingerprints"], v
conv = [json.loads(l) for l in open(sys.argv[3])]
conv = [e for e in conv if e["type"] == "convergence" and e["step"] == "stuck"]
assert [e["stage"] for e in conv] == [2, 3, 3], conv
assert conv[-1]["diagnosis"] and conv[-1]["stopped"], conv[-1]
PY
[ ! -e wsc/context/changing/convergence.json ] || py wsc/context/changing/convergence.json <<'PY' || t_fail "changing loop diagnosed"
import json, sys
c = json.load(open(sys.argv[1]))
assert not c.get("diagnosis"), c
PY
events_valid wsc/context/_workflow/events.jsonl
# agent prompts: stage 1 plain, stage 2 text from iteration 3 on
py "$FAKE_AGENT_LOG" <<'PY' || t_fail "stage instructions in agent prompts"
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"=== claude argv: \d+ args, iteration (\d+) phase step\n(.*?)--- end", text, re.S)
by = {int(n): b for n, b in blocks}
assert set(by) == {1, 2, 3, 4}, sorted(by)
assert "STAGE-TWO" not in by[1] and "STAGE-TWO" not in by[2], by[2]
assert "STAGE-TWO" in by[3], by[3]
assert "STAGE-THREE" in by[4], by[4]
PY
[ -s wsc/script.log ] || t_fail "script implementer did not run"
expect_not_contains wsc/script.log "STAGE"
t_end

# ---------------------------------------------------------------------------
# d. Git tracking over 3 iterations (issue 6): per-iteration changed files
#    in history, including an untracked new file, an uncommitted edit, a
#    deletion and a commit; scope rules and no_change_limit.
t_begin loop_git_three_iterations
mkdir -p wsd
echo "# project" >wsd/README.md
echo "old" >wsd/old.txt
echo "int x;" >wsd/lib.c
mkrepo wsd
run d "$FX/git-loop.yaml" wsd
expect_eq "$rc" 0
expect_contains d.out "PASS  build (3 iterations)"
id=$(run_id d.out)
show_json wsd "$id"
py show.json <<'PY' || t_fail "show --json git"
import json, sys
d = json.load(open(sys.argv[1]))
its = [s for s in d["steps"] if s["step"] == "build"][0]["iterations"]
assert len(its) == 3, its
assert [i["decision"] for i in its] == ["incomplete", "incomplete", "complete"], its
assert its[0]["fingerprints"] == ["test/iteration-1"], its[0]
assert its[1]["fingerprints"] == ["test/iteration-2"], its[1]
def files(i):
    return sorted((f["path"], f["status"], f["insertions"], f["deletions"]) for f in its[i]["git"]["files"])
assert files(0) == [("README.md", "modified", 1, 0), ("new.txt", "added", 1, 0)], files(0)
assert files(1) == [("lib.c", "modified", 1, 0), ("old.txt", "deleted", 0, 1)], files(1)
assert files(2) == [("new.txt", "modified", 1, 0)], files(2)
g1 = its[1]["git"]
assert g1["head_before"] != g1["head_after"], g1   # the commit in iteration 2
assert its[0]["git"]["head_before"] == its[0]["git"]["head_after"], its[0]["git"]
PY
expect_contains wsd/context/build/iterations/1/fix.md "- \`new.txt (added, +1 -0)\`"
expect_contains wsd/context/build/iterations/1/fix.md "- \`README.md (modified, +1 -0)\`"
expect_contains wsd/context/build/iterations/2/fix.md "- \`old.txt (deleted, +0 -1)\`"
t_end

t_begin loop_git_scope_and_no_change
mkdir -p wse/src wse/docs
echo a >wse/src/a.txt
mkrepo wse
run e "$FX/scope.yaml" wse
expect_eq "$rc" 1
expect_contains e.out "INCOMPLETE  outside (2 iterations)"
expect_contains e.out "INCOMPLETE  budget (2 iterations)"
expect_contains e.out "FAIL        idle (2 iterations) — convergence: no progress"
py wse/context/_workflow/events.jsonl <<'PY' || t_fail "scope fingerprints"
import json, sys
it = {}
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["type"] == "iteration_finished":
        it.setdefault(e["step"], []).append(e)
o = it["outside"][0]
assert o["decision"] == "incomplete" and o["source"] == "convergence", o
assert "scope/outside-allowed-paths" in o["fingerprints"] and "scope/file/docs/note-1.md" in o["fingerprints"], o
b = it["budget"][0]
assert "diff-budget/exceeded" in b["fingerprints"] and b["decision"] == "incomplete", b
i = it["idle"]
assert [x["decision"] for x in i] == ["incomplete", "failed"], i
assert "loop/no-change" in i[-1]["fingerprints"], i[-1]
assert i[0]["changed_files"] == 0, i[0]
PY
expect_contains wse/context/outside/iterations/1/fix.md "changed files outside convergence.allowed_paths"
t_end

t_begin loop_not_a_repo_notice
mkdir -p wsn
run n "$FX/git-loop.yaml" wsn
expect_eq "$(grep -c 'git tracking off' n.err)" 1
expect_contains n.err "waitloop: notice: git tracking off: workspace '$T/wsn' is not in a git repository"
expect_contains wsn/context/build/iterations/1/fix.md "(git tracking unavailable)"
expect_not_contains wsn/context/_workflow/events.jsonl '"type":"git_changes"'
# no loop, no git, no notice
cat >plain.yaml <<'EOF'
name: plain
version: "1"
timeout: 1m
steps:
  s: {worker: CUSTOM, instructions: "true"}
EOF
run p plain.yaml wsn
expect_not_contains p.err "notice"
t_end

# ---------------------------------------------------------------------------
# Agent workers: workers: overrides ({{prompt}} in place), default command
# lines, an agent checker deciding with `waitloop verdict write`, and a
# missing CLI as a clear error.
t_begin loop_agent_workers
mkdir -p wsw
mkrepo wsw
cat >agents.yaml <<'YAML'
name: agents
version: "1"
timeout: 1m
workers:
  CODEX_CLI: {command: [codex, exec, --full-auto, "{{prompt}}", --color, never]}
steps:
  codex: {worker: CODEX_CLI, instructions: "fix step {{step}}", capabilities: [READ], on_failure: continue}
  opencode: {worker: OPENCODE, instructions: "fix step {{step}}", on_failure: continue}
  checked:
    worker: CUSTOM
    instructions: "true"
    max_iterations: 3
    completion_check:
      worker: CLAUDE_CODE
      instructions_file: prompts/completion_check.md
YAML
: >"$FAKE_AGENT_LOG"
FAKE_CHECK_PASS_AT=2 run w agents.yaml wsw
expect_eq "$rc" 0
expect_contains w.out "PASS  checked (2 iterations)"
expect_contains "$FAKE_AGENT_LOG" "=== codex argv: 5 args"
expect_contains "$FAKE_AGENT_LOG" "arg2=--full-auto"
expect_contains "$FAKE_AGENT_LOG" "arg3=fix step codex"
expect_contains "$FAKE_AGENT_LOG" "arg5=never"
expect_contains "$FAKE_AGENT_LOG" "=== opencode argv: 2 args"
expect_contains "$FAKE_AGENT_LOG" "arg1=run"
expect_contains "$FAKE_AGENT_LOG" "=== claude argv: 2 args, iteration 1 phase completion_check"
py wsw/context/_workflow/events.jsonl <<'PY' || t_fail "agent checker decisions"
import json, sys
its = [json.loads(l) for l in open(sys.argv[1])]
its = [e for e in its if e["type"] == "iteration_finished" and e["step"] == "checked"]
assert [(e["decision"], e["source"]) for e in its] == [("incomplete", "decision_file"), ("complete", "decision_file")], its
assert its[0]["fingerprints"] == ["agent-check/iteration-1"], its[0]
PY
# the checker's prompt is the built-in prompts/completion_check.md with the check id
expect_contains "$FAKE_AGENT_LOG" "$(sed -n 's/^Run: //p' w.out):checked:1"
t_end

# a missing CLI for the checker: the step fails at once with a clear reason
t_begin loop_agent_cli_missing_clear_reason
if PATH=/usr/bin:/bin command -v claude >/dev/null || PATH=/usr/bin:/bin command -v codex >/dev/null; then
	t_skip "claude or codex is installed in /usr/bin or /bin: no PATH without them"
else
	PATH=/usr/bin:/bin "$WL" run agents.yaml -w wsw --no-progress >m.out 2>m.err
	expect_contains m.out "checked (1 iteration) — the completion check could not start: worker CLAUDE_CODE needs 'claude', which is not on PATH"
	expect_contains m.out "codex — worker CODEX_CLI needs 'codex', which is not on PATH"
fi
t_end
