# End-to-end: each wait writes its own artifacts (issue 17 item 2). A step's
# own wait (the guard of its check or worker) owns <step>/wait-probe.log and
# <step>/wait-failure.json; a `waitloop wait` inside the script — even one
# given `--out "$WAITLOOP_STEP_DIR"` — writes <step>/waits/<name>/. So a
# guarded check whose own wait gave up keeps both pieces of evidence, in
# review.verdict, fix.md and the iteration archive, and neither overwrites
# the other, whatever order the check's exit and the guard's end arrive in.
# timeout: 180
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2
py() { /usr/bin/python3 - "$@"; }

# The in-script wait gives up at once (terminal pattern), the script goes on
# and prints what the guard's terminal pattern matches: the guard stops it.
# shellcheck disable=SC2016 # expanded by the step's shell, not here
INNER='sleep 0.5; rc=0   # the guard observes first
        "$WAITLOOP_BIN" wait --out "$WAITLOOP_STEP_DIR" --name inner --fingerprint-prefix inner \
          --terminal-pattern inner-boom --interval 100ms --max-wait 30s -- sh -c "echo inner-boom; exit 1" || rc=$?
        echo "inner wait exit $rc"
        echo "guard-boom: chart not found"
        exec sleep 30'
GUARD='        mode: probe_aware
        probe: echo {}
        terminal_patterns: [guard-boom]
        interval: 200ms
        grace: 1s
        fingerprint_prefix: guard'

# ---------------------------------------------------------------------------
t_begin check_guard_and_script_wait_keep_their_own_evidence
cat >check.yaml <<EOF
name: guard-waits
version: "1"
timeout: 2m
steps:
  deploy:
    worker: CUSTOM
    instructions: "true"
    max_iterations: 2
    completion_check:
      worker: CUSTOM
      timeout: 90s
      instructions: |
        [ "\$WAITLOOP_ITERATION" = 2 ] && exit 0
        $INNER
      wait_policy:
$GUARD
EOF
mkdir ws
"$WL" run check.yaml -w ws --no-progress >c.out 2>c.err
expect_eq "$?" 0
expect_contains c.out "PASS  deploy (2 iterations)"   # the guard stopped iteration 1's check
D=ws/context/deploy
I=$D/iterations/1
for f in "$I/wait-failure.json" "$I/waits/inner/wait-failure.json"; do
	[ -f "$f" ] && expect_schema_valid wait-failure "$f"
done
expect_schema_valid verdict "$I/review.verdict"
[ ! -e "$D/wait-failure.json" ] || t_fail "a stale top-level wait-failure.json survived iteration 2"
expect_contains "$D/check.stderr.log" "--out is the step directory"
py "$I" <<'PY' || t_fail "evidence of iteration 1"
import json, os, sys
i = sys.argv[1]
# the guard's own files: its name, its fingerprints, its observations only
g = json.load(open(os.path.join(i, "wait-failure.json")))
assert g["name"] == "deploy-check" and g["reason"] == "terminal_fail", g
assert g["action"]["terminated"] is True, g["action"]
assert g["fingerprints"] == ["guard/terminal/guard-boom"], g["fingerprints"]
assert g["pointers"]["probe_log"] == os.path.join(os.path.abspath(i), "wait-probe.log"), g["pointers"]
lines = [json.loads(l) for l in open(os.path.join(i, "wait-probe.log"))]
# guard mode runs no condition; the script's wait did (condition_exit 1)
assert lines and all(l["condition_exit"] is None for l in lines), lines
assert not any(f.startswith("inner/") for l in lines for f in l["fingerprints"]), lines
assert lines[-1]["fingerprints"] == ["guard/terminal/guard-boom"], lines
assert [l["seq"] for l in lines] == list(range(1, len(lines) + 1)), lines
# the script's wait: its own directory, its own files
w = json.load(open(os.path.join(i, "waits/inner/wait-failure.json")))
assert w["name"] == "inner" and w["fingerprints"] == ["inner/terminal/inner-boom"], w
inner = [json.loads(l) for l in open(os.path.join(i, "waits/inner/wait-probe.log"))]
assert [l["fingerprints"] for l in inner] == [["inner/terminal/inner-boom"]], inner
# both reach the decision
v = json.load(open(os.path.join(i, "review.verdict")))
assert v["decision"] == "incomplete" and v["source"] == "wait_policy", v
assert v["fingerprints"] == ["guard/terminal/guard-boom", "inner/terminal/inner-boom"], v["fingerprints"]
assert v["reasons"][0].startswith("wait `deploy-check`"), v["reasons"]
assert sum(r.startswith("wait `deploy-check`") for r in v["reasons"]) == 1, v["reasons"]
assert any(r.startswith("wait `inner`") for r in v["reasons"]), v["reasons"]
PY
F=$I/fix.md
expect_contains "$F" "- \`guard/terminal/guard-boom\`"
expect_contains "$F" "- \`inner/terminal/inner-boom\`"
expect_contains "$F" "### the step's own wait (wait_policy)"
expect_contains "$F" "### wait \`inner\`"
t_end

# ---------------------------------------------------------------------------
t_begin worker_guard_and_script_wait_keep_their_own_evidence
cat >worker.yaml <<EOF
name: guard-waits-worker
version: "1"
timeout: 2m
steps:
  build:
    worker: CUSTOM
    timeout: 90s
    instructions: |
        $INNER
    wait_policy:
$GUARD
EOF
mkdir wsw
"$WL" run worker.yaml -w wsw --no-progress >w.out 2>w.err
expect_eq "$?" 1
expect_contains w.out "FAIL  build"
expect_contains w.out "wait_policy: terminal_fail"
D=wsw/context/build
py "$D" <<'PY' || t_fail "evidence of the worker step"
import json, os, sys
d = sys.argv[1]
g = json.load(open(os.path.join(d, "wait-failure.json")))
assert g["name"] == "build-guard" and g["fingerprints"] == ["guard/terminal/guard-boom"], g
lines = [json.loads(l) for l in open(os.path.join(d, "wait-probe.log"))]
assert lines and all(l["condition_exit"] is None for l in lines), lines
assert not any(f.startswith("inner/") for l in lines for f in l["fingerprints"]), lines
assert lines[-1]["fingerprints"] == ["guard/terminal/guard-boom"], lines
assert [l["seq"] for l in lines] == list(range(1, len(lines) + 1)), lines
w = json.load(open(os.path.join(d, "waits/inner/wait-failure.json")))
assert w["name"] == "inner" and w["fingerprints"] == ["inner/terminal/inner-boom"], w
PY
t_end

# ---------------------------------------------------------------------------
t_begin wait_out_step_dir_goes_to_waits
# Outside a run too: the step directory itself, however spelled, is never
# written by an in-script wait; another --out is used as given.
mkdir -p step/sub
(
	export WAITLOOP_STEP_DIR=$T/step
	"$WL" wait --out "$T/step" --name a --max-wait 0 -- false >/dev/null 2>a.err
	cd step/sub && "$WL" wait --out ../ --name b --max-wait 0 -- false >/dev/null 2>"$T/b.err"
	"$WL" wait -q --json --out "$T/step/" --name c --max-wait 0 -- false >"$T/c.json" 2>"$T/c.err"
	"$WL" wait --out "$T/step/sub" --name d --max-wait 0 -- false >/dev/null 2>"$T/d.err"
)
for n in a b c; do
	[ -f "step/waits/$n/wait-failure.json" ] || t_fail "wait $n not in step/waits/$n/"
done
[ -f step/sub/wait-failure.json ] || t_fail "an --out below the step directory is used as given"
if [ -e step/wait-failure.json ] || [ -e step/wait-probe.log ]; then
	t_fail "a wait wrote the step directory's own files"
fi
expect_contains a.err "waitloop wait [a]: --out is the step directory"
expect_contains a.err "writing to $T/step/waits/a instead"
expect_contains b.err "--out is the step directory"
expect_not_contains c.err "--out is the step directory"   # -q: quiet
expect_contains c.json "\"failure_file\":\"$T/step/waits/c/wait-failure.json\""
expect_not_contains d.err "--out is the step directory"
t_end
