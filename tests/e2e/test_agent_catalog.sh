# roboppi agent catalogs (docs/migrating-from-roboppi.md "Agent catalogs",
# src/agentcat.h): a step or completion_check `agent:` names an entry of
# agents.yaml (next to the workflow, or --agents FILE / ROBOPPI_AGENTS_FILE);
# the entry gives worker, model, variant, defaultArgs, capabilities,
# timeout and base_instructions (put before the step's instructions); what
# the step writes wins. The agents run through the ordinary worker layer:
# fake `claude`/`opencode` CLIs first on PATH record their argv and prompt.
# timeout: 120
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

mkdir -p bin
for cli in claude opencode; do
	cat >"bin/$cli" <<'SH'
#!/bin/sh
# fake agent CLI: one argument per line (the prompt last), then done.
n=$(basename "$0")
for a in "$@"; do printf '%s\n' "$a"; done >"$n.args"
printf '%s\n' "$WAITLOOP_CAPABILITIES" >"$n.caps"
echo "fake $n"
SH
	chmod +x "bin/$cli"
done
export PATH="$T/bin:$PATH"

mkdir -p wf
cat >wf/agents.yaml <<'YAML'
version: "1"
agents:
  writer:
    description: writes things
    worker: CLAUDE_CODE
    model: claude-sonnet-4-6
    defaultArgs: [--verbose, --model, old-model]
    capabilities: [READ, EDIT]
    timeout: 2m
    base_instructions: |
      You are the writer.
  planner:
    worker: OPENCODE
    model: openai/gpt-5
    variant: high
    base_instructions: "Plan carefully."
YAML
cat >wf/flow.yaml <<'YAML'
name: catalog
version: "1"
timeout: 1m
steps:
  write:
    agent: writer
    instructions: |
      Write the report.
YAML

t_begin agent_catalog_resolves_and_runs
ws=$T/ws1
mkdir -p "$ws"
"$WL" workflow wf/flow.yaml --workspace "$ws" >run1.out 2>run1.err
expect_eq "$?" 0
# write: claude -p, defaultArgs without their --model, --model from the catalog, prompt = base + step
printf '%s\n' -p --verbose --model claude-sonnet-4-6 'You are the writer.' '' 'Write the report.' >want.args
diff -u want.args "$ws/claude.args" >&2 || t_fail "claude argv differs"
expect_eq "$(cat "$ws/claude.caps")" "READ,EDIT"
t_end

t_begin agent_catalog_step_fields_win
# plan: the step's worker (CLAUDE_CODE) and model win; the catalog's
# base_instructions alone are the prompt; --variant is only for OPENCODE.
ws=$T/ws2
mkdir -p "$ws"
cat >wf/plan-only.yaml <<'YAML'
name: plan-only
version: "1"
timeout: 1m
steps:
  plan:
    agent: planner
    worker: CLAUDE_CODE
    model: step-model
  plan2:
    agent: planner
    depends_on: [plan]
    defaultArgs: [--variant, low, --foo]
YAML
"$WL" run wf/plan-only.yaml -w "$ws" -q >run2.out 2>run2.err
expect_eq "$?" 0
printf '%s\n' -p --model step-model 'Plan carefully.' >want2.args
diff -u want2.args "$ws/claude.args" >&2 || t_fail "claude argv differs"
printf '%s\n' run --foo --model openai/gpt-5 --variant high 'Plan carefully.' >want3.args
diff -u want3.args "$ws/opencode.args" >&2 || t_fail "opencode argv differs"
t_end

t_begin agent_catalog_unknown_agent_did_you_mean
cat >wf/typo.yaml <<'YAML'
name: typo
version: "1"
timeout: 1m
steps:
  write:
    agent: writr
    instructions: x
YAML
"$WL" validate wf/typo.yaml >typo.out 2>&1
expect_eq "$?" 2
expect_contains typo.out "wf/typo.yaml:6:12: error: step 'write': unknown agent 'writr' (did you mean 'writer'?)"
"$WL" workflow wf/typo.yaml --workspace "$T/ws3" >typo2.out 2>&1
expect_eq "$?" 1
expect_contains typo2.out "unknown agent 'writr'"
t_end

t_begin agent_catalog_explicit_file_and_errors
mkdir -p other
cp wf/typo.yaml other/flow.yaml
# no agents.yaml next to it: an error naming both ways to give one
"$WL" validate other/flow.yaml >none.out 2>&1
expect_eq "$?" 2
expect_contains none.out "'agent: writr' needs an agent catalog: put agents.yaml next to the workflow or give --agents FILE"
# --agents FILE (and ROBOPPI_AGENTS_FILE) replace the colocated file
printf 'version: "1"\nagents:\n  writr:\n    worker: CLAUDE_CODE\n' >cat2.yaml
mkdir -p "$T/ws4"
"$WL" workflow other/flow.yaml --agents cat2.yaml --workspace "$T/ws4" >exp.out 2>&1
expect_eq "$?" 0
[ -f "$T/ws4/claude.args" ] || t_fail "the agent did not run"
mkdir -p "$T/ws5"
ROBOPPI_AGENTS_FILE=$T/cat2.yaml "$WL" run other/flow.yaml -w "$T/ws5" -q >env.out 2>&1
expect_eq "$?" 0
"$WL" workflow other/flow.yaml --agents missing.yaml --workspace "$T/ws6" >miss.out 2>&1
expect_eq "$?" 1
expect_contains miss.out "missing.yaml:1:1: error: agent catalog not found"
# a bad catalog: version, worker kind, capability and key typos, each with its position
cat >bad.yaml <<'YAML'
version: "1"
agents:
  writr:
    worker: CLAUDE
    capabilities: [READ, EDITT]
    modle: x
YAML
"$WL" run other/flow.yaml --agents bad.yaml -w "$T" >bad.out 2>&1
expect_eq "$?" 2
expect_contains bad.out "bad.yaml:4:13: error: 'agents.writr.worker' must be one of CUSTOM, CLAUDE_CODE, CODEX_CLI, OPENCODE (got 'CLAUDE')"
expect_contains bad.out "bad.yaml:5:26: error: invalid capability 'EDITT' in 'agents.writr.capabilities' (did you mean 'EDIT'?)"
expect_contains bad.out "bad.yaml:6:5: error: unknown key 'modle' in 'agents.writr' (did you mean 'model'?)"
printf 'version: 1\nagents: {}\n' >v.yaml
"$WL" run other/flow.yaml --agents v.yaml -w "$T" >v.out 2>&1
expect_eq "$?" 2
expect_contains v.out "agent catalog 'version' must be the string \"1\""
t_end

t_begin agent_catalog_completion_check
cat >wf/check.yaml <<'YAML'
name: check
version: "1"
timeout: 1m
steps:
  loop:
    worker: CUSTOM
    instructions: echo work > work.txt
    max_iterations: 2
    completion_check:
      agent: writer
      instructions: Decide.
      decision_file: decision.json
YAML
cat >bin/claude <<'SH'
#!/bin/sh
for a in "$@"; do printf '%s\n' "$a"; done >check.args
printf '{"decision":"complete","check_id":"%s"}\n' "$ROBOPPI_COMPLETION_CHECK_ID" >decision.json
SH
mkdir -p "$T/ws7"
"$WL" workflow wf/check.yaml --workspace "$T/ws7" >check.out 2>&1
expect_eq "$?" 0
expect_contains "$T/ws7/check.args" "claude-sonnet-4-6"
expect_contains "$T/ws7/check.args" "You are the writer."
t_end

t_begin agent_catalog_shipped_example_runs
# workflows/agent-catalog/: its colocated agents.yaml, run with the fake
# agent CLIs of the roboppi fixtures (they print COMPLETE)
mkdir -p "$T/ws8"
PATH="$ROOT/tests/fixtures/roboppi/fake-agents:$PATH" \
	"$WL" workflow "$ROOT/workflows/agent-catalog/workflow.yaml" --workspace "$T/ws8" >ex.out 2>ex.err
expect_eq "$?" 0
expect_contains ex.out "  PASS  implement"
expect_contains "$T/ws8/context/implement/stdout.log" "fake agent: claude -p"
expect_contains "$T/ws8/context/implement/check.stdout.log" "fake agent: codex exec"
t_end

t_begin agent_catalog_inherited_by_subworkflow
# roboppi's loadChildWorkflow: a subworkflow sees the parent's resolved
# catalog, with the child's own colocated agents.yaml on top (child wins).
mkdir -p sub9/child sub9/ws ext9
cat >ext9/extra.yaml <<'YAML'
version: "1"
agents:
  extra:
    worker: CLAUDE_CODE
    model: extra-model
YAML
cat >sub9/agents.yaml <<'YAML'
version: "1"
agents:
  writer:
    worker: CLAUDE_CODE
    model: parent-model
  planner:
    worker: CLAUDE_CODE
    model: parent-planner
YAML
cat >sub9/child/agents.yaml <<'YAML'
version: "1"
agents:
  planner:
    worker: CLAUDE_CODE
    model: child-planner
YAML
cat >sub9/child/child.yaml <<'YAML'
name: child
version: "1"
timeout: 1m
steps:
  w:
    agent: writer
    instructions: write
    workspace: w
  p:
    agent: planner
    instructions: plan
    workspace: p
    depends_on: [w]
  x:
    agent: extra
    instructions: extra
    workspace: x
    depends_on: [p]
YAML
cat >sub9/parent.yaml <<'YAML'
name: parent
version: "1"
timeout: 1m
steps:
  nested:
    workflow: child/child.yaml
YAML
mkdir -p sub9/ws/w sub9/ws/p sub9/ws/x bin9
printf '#!/bin/sh\nprintf "%%s\\n" "$@" >claude.args\n' >bin9/claude
chmod +x bin9/claude
PATH="$T/bin9:$PATH" "$WL" run sub9/parent.yaml --workspace "$T/sub9/ws" --agents "$T/sub9/agents.yaml" --agents "$T/ext9/extra.yaml" \
	>sub9.out 2>sub9.err
expect_eq "$?" 0
expect_contains "$T/sub9/ws/w/claude.args" "parent-model"
expect_contains "$T/sub9/ws/p/claude.args" "child-planner"
expect_contains "$T/sub9/ws/x/claude.args" "extra-model"
t_end
