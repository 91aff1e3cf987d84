# A step's environment (docs/execution.md "Environment"): the run's
# variables, the step's env, --set, then WAITLOOP_*. Steps without env of
# their own share one environment built once per run (src/worker.c) and get
# their own per-step values in it, overriding what the parent set (even
# twice). (The order of the variables is not observable here: bash
# rebuilds the environment it passes on.)
# timeout: 60
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

cat >env.yaml <<'YAML'
name: envs
version: "1"
timeout: 1m
env:
  WF_A: "1"
steps:
  a:
    worker: CUSTOM
    instructions: env > "$WAITLOOP_STEP_DIR/env.txt"
  b:
    worker: CUSTOM
    depends_on: [a]
    instructions: env > "$WAITLOOP_STEP_DIR/env.txt"
  c:
    worker: CUSTOM
    depends_on: [b]
    env:
      STEP_C: "x"
      WAITLOOP_STEP: "overridden"
    instructions: env > "$WAITLOOP_STEP_DIR/env.txt"
  d:
    worker: CUSTOM
    depends_on: [c]
    instructions: env > "$WAITLOOP_STEP_DIR/env.txt"
    max_iterations: 2
    completion_check:
      worker: CUSTOM
      instructions: env > "$WAITLOOP_STEP_DIR/check.txt"
YAML

t_begin step_env_per_step_values
mkdir ws
# env -i keeps the parent's environment known; WAITLOOP_STEP twice in it
env -i PATH="$PATH" HOME="$HOME" WAITLOOP_STEP=parent1 WAITLOOP_STEP=parent2 WAITLOOP_PHASE=p \
	"$WL" run env.yaml -w ws --no-progress --set SET_X=1 >out.txt 2>err.txt
expect_eq "$?" 0
for s in a b c d; do
	f=ws/.waitloop/context/$s/env.txt
	[ -f "$f" ] || f=$(find ws -path "*/$s/env.txt" | head -1)
	[ -f "$f" ] || { t_fail "no env.txt for $s"; continue; }
	expect_eq "$(grep -c '^WAITLOOP_STEP=' "$f")" 1
	expect_contains "$f" "WAITLOOP_STEP=$s"
	expect_eq "$(grep -c '^WAITLOOP_PHASE=' "$f")" 1
	expect_contains "$f" "WAITLOOP_PHASE=step"
	expect_contains "$f" "WAITLOOP_STEP_DIR=$(cd "$(dirname "$f")" && pwd)"
	expect_contains "$f" "WAITLOOP_ITERATION=1"
	expect_contains "$f" "WF_A=1"
	expect_contains "$f" "SET_X=1"
done
c=$(find ws -path "*/c/env.txt" | head -1)
expect_contains "$c" "STEP_C=x"
d=$(find ws -path "*/d/env.txt" | head -1)
expect_contains "$d" "WAITLOOP_MAX_ITERATIONS=2"
k=$(find ws -path "*/d/check.txt" | head -1)
[ -f "$k" ] || t_fail "no check.txt"
expect_contains "$k" "WAITLOOP_PHASE=completion_check"
expect_contains "$k" "WAITLOOP_STEP=d"
t_end
