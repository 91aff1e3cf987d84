# End-to-end: `make run`'s demo (workflows/demo/run-demo.sh) — exit 0, two
# iterations, iteration 1's check cut by the guard well before max_wait,
# iteration 2 passing after the implementer read fix.md, every artifact
# schema-valid, the run in the history database, all in well under a minute.
# And with a slow healthy install (DEMO_INSTALL_SECONDS=30 and =90: the
# HelmRelease reports the same Progressing status, byte for byte, all that
# time): iteration 2 is never cut short, the failed iteration 1 still is.
# timeout: 400
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

json_get() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# The slow healthy installs (checked at the end) start first and run beside
# the plain demo, each in its own workspace: they take 30 s and 90 s of
# simulated install, the plain demo a few seconds.
for secs in 30 90; do
	DEMO_INSTALL_SECONDS=$secs WAITLOOP=$WL DEMO_WORKSPACE=$T/ws$secs NO_COLOR=1 \
		bash "$ROOT/workflows/demo/run-demo.sh" >"demo$secs.out" 2>"demo$secs.err" &
	echo $! >"demo$secs.pid"
done
ws=$T/ws
start=$(date +%s)
WAITLOOP=$WL DEMO_WORKSPACE=$ws NO_COLOR=1 bash "$ROOT/workflows/demo/run-demo.sh" >demo.out 2>demo.err
rc=$?
elapsed=$(($(date +%s) - start))
ctx=$ws/context
step=$ctx/deploy
# iteration N's copy of a file: the per-iteration archive
it() { echo "$step/iterations/$1/$2"; }

t_begin demo_exits_0_with_two_iterations
expect_eq "$rc" 0
expect_contains demo.out "PASS  deploy (2 iterations)"
expect_contains demo.out "Workflow: SUCCEEDED"
expect_eq "$(json_get "$step/_meta.json" 'd["status"], d["iterations"]')" "SUCCEEDED 2"
echo "  demo: ${elapsed}s (its time is a benchmark, not asserted here)" >&2
[ "$rc" -eq 0 ] || sed 's/^/      /' demo.out demo.err | head -80 >&2
t_end

t_begin demo_iteration1_guard_cut_the_check_early
read -r dur sigs < <(/usr/bin/python3 - "$ctx/_workflow/events.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] == "attempt_finished" and e.get("phase") == "completion_check" and e.get("iteration") == 1:
        print(e["duration_s"], ",".join(e["signals_sent"]) or "-")
PY
)
[ -n "${dur:-}" ] || t_fail "no completion_check attempt in iteration 1"
# max_wait is 600 s: "early" means 10x under it (and terminal_fail, below, not timeout).
[ "$(/usr/bin/python3 -c "print(int(${dur:-999} < 60))")" = 1 ] || t_fail "iteration 1's check ran ${dur:-?}s"
expect_contains "${sigs:-}" SIGINT
wf=$(it 1 wait-failure.json)
expect_schema_valid wait-failure "$wf"
expect_eq "$(json_get "$wf" 'd["reason"], d["max_wait_s"], d["iteration"]')" "terminal_fail 600 1"
expect_eq "$(json_get "$wf" '",".join(d["fingerprints"])')" "demo/crd-missing/k0smotrondockerclusters,demo/helmrelease-failed/k0smotron"
expect_contains demo.out "A timeout-only wait would have run until max_wait: 600 s."
t_end

t_begin demo_verdict_and_fix_md_carry_the_evidence
v1=$(it 1 review.verdict)
expect_schema_valid verdict "$v1"
expect_eq "$(json_get "$v1" 'd["decision"]')" incomplete
expect_contains "$v1" "demo/helmrelease-failed/k0smotron"
expect_contains "$(it 1 fix.md)" "chart not found"
expect_contains "$(it 1 fix.md)" "demo/crd-missing/k0smotrondockerclusters"
v2=$(it 2 review.verdict)
expect_schema_valid verdict "$v2"
expect_eq "$(json_get "$v2" 'd["decision"]')" complete
# the implementer acted on fix.md
expect_contains "$ws/deploy/helmrelease.yaml" "chart: k0smotron"
expect_not_contains "$ws/deploy/helmrelease.yaml" "k0smotronn"
expect_contains demo.out "fix.md says the chart was not found"
expect_contains demo.out "+      chart: k0smotron"
t_end

t_begin demo_artifacts_schema_valid
expect_schema_valid run "$ctx/_workflow.json"
expect_schema_valid meta "$step/_meta.json"
[ ! -f "$step/convergence.json" ] || expect_schema_valid convergence "$step/convergence.json"
n=0
while IFS= read -r line; do
	n=$((n + 1))
	printf '%s\n' "$line" >ev.json
	expect_schema_valid event ev.json
	[ "$n" -lt 400 ] || break
done <"$ctx/_workflow/events.jsonl"
[ "$n" -gt 10 ] || t_fail "only $n events"
t_end

t_begin demo_run_in_history
id=$(sed -n 's/^Run: //p' demo.out)
[ -n "$id" ] || t_fail "no run id printed"
"$WL" history --db "$ws/.waitloop/history.db" --json >hist.json 2>/dev/null
expect_eq "$(json_get hist.json '[(r["status"], r["iterations"], r["early_aborts"]) for r in d if r["id"] == "'"$id"'"]')" "[('SUCCEEDED', 2, 1)]"
expect_contains demo.out "waitloop show $id"
expect_contains demo.out "Iteration 2: complete"
t_end

# A slow healthy install (started above).
for secs in 30 90; do
	t_begin "demo_slow_install_${secs}s_is_not_cut_short"
	wait "$(cat "demo$secs.pid")"
	rc=$?
	expect_eq "$rc" 0
	step=$T/ws$secs/context/deploy
	expect_eq "$(json_get "$step/_meta.json" 'd["status"], d["iterations"]')" "SUCCEEDED 2"
	# iteration 1 (the wrong chart) still cut at the first observation
	wf=$step/iterations/1/wait-failure.json
	expect_eq "$(json_get "$wf" 'd["reason"], d["observations"]')" "terminal_fail 1"
	# iteration 2: the check ran through the whole install; the guard saw it progressing
	[ ! -f "$step/iterations/2/wait-failure.json" ] || t_fail "iteration 2's wait was cut: $(json_get "$step/iterations/2/wait-failure.json" 'd["message"]')"
	plog=$step/iterations/2/wait-probe.log
	[ -f "$plog" ] || plog=$step/wait-probe.log
	np=$(grep -c '"class":"progressing"' "$plog")
	[ "$np" -ge $((secs / 3)) ] || t_fail "only $np progressing observations in iteration 2 of a ${secs}s install"
	expect_contains "$plog" "within its spec.timeout 5m"
	[ "$rc" -eq 0 ] || sed 's/^/      /' "demo$secs.out" "demo$secs.err" | grep -E 'iteration|FAIL|Workflow' | head -20 >&2
	t_end
done
