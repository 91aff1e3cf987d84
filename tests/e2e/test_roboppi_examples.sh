# roboppi compatibility (SPEC §4.1, issue 18): roboppi's own example
# workflows (tests/fixtures/roboppi/examples/, copied from
# github.com/reoring/roboppi, see its README) and one minimal case per
# difference (tests/fixtures/roboppi/cases/) run under `waitloop workflow`
# and must end as they ended under roboppi: exit code, workflow status,
# every step's status and iteration count, the files left in the workspace
# (with their line counts), the published outputs and the Sentinel's _stall
# artifacts. The expected outcomes in tests/fixtures/roboppi/expected/ were
# RECORDED by running roboppi (tests/fixtures/roboppi/record.sh); this test
# does not need roboppi. Agent workflows run with the fake agent CLIs of
# tests/fixtures/roboppi/fake-agents/. Workflows whose roboppi features
# waitloop refuses are listed in known-differences.txt: they are reported
# SKIP with the reason, and the refusal itself is checked (exit 1 and a
# message naming the feature).
# timeout: 420
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

FX=$ROOT/tests/fixtures/roboppi
export PATH="$FX/fake-agents:$PATH"

# known NAME -> its known-differences.txt entry (empty when none)
known() {
	sed -n "s/^$1[[:space:]][[:space:]]*//p" "$FX/known-differences.txt" | head -n 1
}

for exp in "$FX"/expected/*.txt; do
	name=$(basename "$exp" .txt)
	rel=$(sed -n '1s/^# \([^:]*\):.*/\1/p' "$exp")
	wf=$FX/$rel
	t_begin "roboppi_${name}"
	[ -f "$wf" ] || { t_fail "no workflow $rel"; t_end; continue; }
	ws=$T/ws-$name
	mkdir -p "$ws"
	[ -f "${wf%.yaml}.setup.sh" ] && (cd "$ws" && sh "${wf%.yaml}.setup.sh")
	timeout 300 "$WL" workflow "$wf" --no-tui --workspace "$ws" >"$name.out" 2>"$name.err" </dev/null
	rc=$?
	sh "$FX/summarize.sh" "$ws" "$name.out" "$rc" >"$name.got"
	sed 1d "$exp" >"$name.want"
	k=$(known "$name")
	case $k in
	refused:*)
		feature=${k#refused:}
		feature=${feature%%|*}
		expect_eq "$rc" 1
		expect_contains "$name.err" "$feature"
		if [ "$_case_failed" -eq 0 ]; then echo "SKIP roboppi_${name}: refused: ${k#*|}"; else t_end; fi
		continue
		;;
	differs*)
		diff -u "$name.want" "$name.got" | sed 's/^/      /' >&2
		echo "SKIP roboppi_${name}: known difference: ${k#*|}"
		continue
		;;
	ignore:*)
		re=${k#ignore:}
		re=${re%%|*}
		grep -v -E "$re" "$name.want" >"$name.want2"
		grep -v -E "$re" "$name.got" >"$name.got2"
		mv "$name.want2" "$name.want"
		mv "$name.got2" "$name.got"
		;;
	esac
	if ! diff -u "$name.want" "$name.got" >"$name.diff"; then
		t_fail "outcome differs from roboppi's (- roboppi, + waitloop):"
		sed 's/^/      /' "$name.diff" >&2
		sed 's/^/      err: /' "$name.err" | head -20 >&2
	fi
	t_end
done

# Artifacts written as roboppi writes them.
t_begin roboppi_stall_event_json_shape
ws=$T/ws-stall-shape
mkdir -p "$ws"
"$WL" workflow "$FX/cases/04b-sentinel-probe-terminal.yaml" --workspace "$ws" >shape.out 2>shape.err
/usr/bin/python3 - "$ws/context/deploy/_stall" <<'PY' || t_fail "_stall artifacts differ from roboppi's format"
import json, sys
d = sys.argv[1]
e = json.load(open(d + "/event.json"))
assert e["schema"] == "roboppi.sentinel.stall.v1", e
assert e["step"] == {"id": "deploy", "iteration": 1, "phase": "executing"}, e["step"]
assert e["trigger"]["kind"] == "terminal" and e["trigger"]["reason"] == "probe reported terminal condition"
assert isinstance(e["trigger"]["observed_at"], (int, float))
assert e["action"] == {"kind": "fail", "strategy": "cancel", "terminated": True}, e["action"]
assert e["fingerprints"] == ["stall/terminal", "k8s/crd/missing:x"], e["fingerprints"]
assert e["reasons"] == ["probe classified as terminal", "crd x missing"], e["reasons"]
assert e["pointers"] == {"probe_log": "deploy/_stall/probe.jsonl", "telemetry": "_workflow/events.jsonl"}
lines = [json.loads(l) for l in open(d + "/probe.jsonl")]
assert lines and all(set(l) >= {"ts", "digest", "exitCode"} for l in lines), lines
PY
expect_contains shape.out "  FAIL  deploy — Step failed (errorClass: NON_RETRYABLE): Sentinel: probe reported terminal condition"
grep -q '"type":"warning".*\[sentinel\] Step \\"deploy\\" terminal' "$ws/context/_workflow/events.jsonl" ||
	t_fail "no sentinel warning event"
t_end

# item 3: the evidence of a skipped output, and the opt-in strict behaviour.
t_begin roboppi_missing_output_warning_and_required
ws=$T/ws-out
mkdir -p "$ws"
"$WL" workflow "$FX/cases/03-missing-output-skipped.yaml" --workspace "$ws" >out3.out 2>out3.err
expect_eq "$?" 0
grep -q '"type":"warning".*output_missing.*never.txt' "$ws/context/_workflow/events.jsonl" ||
	t_fail "no output_missing warning event"
run_id=$(sed -n 's/^Run: *//p' out3.out)
"$WL" show "$run_id" --db "$ws/.waitloop/history.db" >show3.out 2>&1
expect_contains show3.out "warning      output 'never': 'never.txt' was not produced; skipped"
cat >req.yaml <<'YAML'
name: required-output
version: "1"
timeout: 30s
steps:
  A:
    worker: CUSTOM
    instructions: "true"
    outputs:
      - {name: report, path: report.txt, required: true}
  B:
    worker: CUSTOM
    depends_on: [A]
    instructions: echo never > b.txt
YAML
mkdir -p ws-req
"$WL" run req.yaml -w ws-req --no-progress >req.out 2>req.err
expect_eq "$?" 1
expect_contains req.out "FAIL  A — output 'report': 'report.txt' does not exist (required: true)"
expect_contains req.out "SKIP  B — dependency 'A' failed"
t_end

# item 11: roboppi's command line.
t_begin roboppi_cli_flags_temp_workspace_exit_codes
"$WL" workflow "$FX/examples/hello-world.yaml" --no-tui --direct --supervised --keepalive \
	--keepalive-interval 10s --allow-protected-branch --protected-branches main >hw.out 2>hw.err
expect_eq "$?" 0
expect_contains hw.out "  PASS  greet"
ctx=$(sed -n 's/^Context: *//p' hw.out)
case $ctx in "${TMPDIR:-/tmp}"/waitloop-wf-*/context) ;; *) t_fail "no fresh temporary workspace: '$ctx'" ;; esac
[ -f "${ctx%/context}/hello.txt" ] || t_fail "hello.txt not in the temporary workspace"
rm -rf "${ctx%/context}"
"$WL" workflow "$FX/examples/hello-world.yaml" --workspace "$T/new/dir" >new.out 2>&1
expect_eq "$?" 0
[ -f "$T/new/dir/hello.txt" ] || t_fail "missing workspace not created"
"$WL" workflow "$FX/examples/hello-world.yaml" --workspace "$T/ab" --agents x.yaml >ag.out 2>ag.err
expect_eq "$?" 1
expect_contains ag.err "agent catalog not found"
"$WL" workflow "$FX/cases/13-duration-bare-number.yaml" --workspace "$T/dur" >dur.out 2>dur.err
expect_eq "$?" 1
expect_contains dur.err "invalid duration '90'"
cat >to.yaml <<'YAML'
name: to
version: "1"
timeout: 1s
steps:
  slow: {worker: CUSTOM, instructions: sleep 5}
YAML
"$WL" workflow to.yaml --workspace "$T/to" >to.out 2>to.err
expect_eq "$?" 1
"$WL" run to.yaml -w "$T/to" --no-progress >to2.out 2>to2.err
expect_eq "$?" 3
t_end

t_begin roboppi_fixture_scripts_shellcheck
shellcheck -s sh "$FX/record.sh" "$FX/summarize.sh" "$FX"/fake-agents/* "$FX"/cases/*.setup.sh || t_fail "shellcheck"
t_end

# workflows/sentinel.yaml: the terminal probe stops the 10-minute step at once.
t_begin roboppi_sentinel_example_workflow
mkdir -p ws-sen
SECONDS=0
"$WL" run "$ROOT/workflows/sentinel.yaml" -w ws-sen --no-progress >sen.out 2>sen.err
expect_eq "$?" 1
[ "$SECONDS" -lt 120 ] || t_fail "the sentinel did not stop the step long before its timeout (${SECONDS}s)"
expect_contains sen.out "FAIL  deploy — Step failed (errorClass: NON_RETRYABLE): Sentinel: probe reported terminal condition"
expect_contains sen.out "SKIP  report — dependency 'deploy' failed"
expect_contains ws-sen/context/deploy/_stall/event.json "k8s/crd/missing:widgets.example.com"
t_end

# convergence.diff_base_ref_file (roboppi): the base ref is the first line
# of a workspace file; the scope rules then cover every change since that
# ref, not only the iteration's. A missing file = no base ref.
t_begin roboppi_diff_base_ref_file
mkdir -p dbrws
git -C dbrws init -q -b work
echo a >dbrws/outside.txt
git -C dbrws add outside.txt
git -C dbrws -c user.email=t@e -c user.name=t commit -q -m A
git -C dbrws rev-parse HEAD >dbr.base
echo b >>dbrws/outside.txt
git -C dbrws -c user.email=t@e -c user.name=t commit -q -am B
cat >dbr.yaml <<'YAML'
name: dbr
version: "1"
timeout: 1m
steps:
  s:
    worker: CUSTOM
    instructions: mkdir -p allowed && date +%s%N >> allowed/y.txt
    completion_check:
      worker: CUSTOM
      instructions: "true"
    max_iterations: 2
    convergence: {allowed_paths: [allowed/], ignored_paths: [.base], diff_base_ref_file: .base}
YAML
# no .base yet: the scope is the iteration's own change (allowed/y.txt)
"$WL" workflow dbr.yaml --workspace "$T/dbrws" >dbr1.out 2>dbr1.err
expect_eq "$?" 0
cp dbr.base dbrws/.base
# .base names commit A: outside.txt (changed by B) is out of scope
"$WL" workflow dbr.yaml --workspace "$T/dbrws" >dbr2.out 2>dbr2.err
expect_eq "$?" 1
grep -q 'scope/file/outside.txt' dbrws/context/_workflow/events.jsonl ||
	t_fail "no scope fingerprint for outside.txt"
grep -q 'scope/file/allowed' dbrws/context/_workflow/events.jsonl &&
	t_fail "allowed/y.txt reported out of scope"
t_end

# item 8: roboppi's branch context (compared with roboppi by hand: the same
# refusal text, and the same variables in a step's environment).
t_begin roboppi_branch_context_guard_and_env
mkdir -p repo
git -C repo init -q -b main
git -C repo -c user.email=t@e -c user.name=t commit -q --allow-empty -m init
sha=$(git -C repo rev-parse HEAD)
cat >br.yaml <<'YAML'
name: br
version: "1"
timeout: 30s
steps:
  show:
    worker: CUSTOM
    instructions: env | grep -E '^(BASE_BRANCH|ROBOPPI_)' | LC_ALL=C sort > env.txt
YAML
"$WL" workflow br.yaml --workspace repo >br1.out 2>br1.err
expect_eq "$?" 1
expect_contains br1.err 'blocked: expected_work_branch "main" is protected (protected_branches=main,master,release/*). Use --allow-protected-branch or ROBOPPI_ALLOW_PROTECTED_BRANCH=1 to override.'
[ ! -e repo/env.txt ] || t_fail "a step ran on a protected branch"
"$WL" workflow br.yaml --workspace repo --allow-protected-branch >br2.out 2>br2.err
expect_eq "$?" 0
top=$(cd repo && pwd -P)
printf '%s\n' BASE_BRANCH=main ROBOPPI_ALLOW_PROTECTED_BRANCH=1 ROBOPPI_CREATE_BRANCH=0 \
	ROBOPPI_EFFECTIVE_BASE_BRANCH=main ROBOPPI_EFFECTIVE_BASE_BRANCH_SOURCE=current \
	"ROBOPPI_EFFECTIVE_BASE_SHA=$sha" ROBOPPI_EXPECTED_CURRENT_BRANCH=main ROBOPPI_EXPECTED_WORK_BRANCH=main \
	'ROBOPPI_PROTECTED_BRANCHES=main,master,release/*' ROBOPPI_STARTUP_BRANCH=main \
	"ROBOPPI_STARTUP_HEAD_SHA=$sha" "ROBOPPI_STARTUP_TOPLEVEL=$top" >want.txt
diff want.txt repo/env.txt >&2 || t_fail "branch variables differ from roboppi's"
git -C repo checkout -q -b feature
rm -f repo/env.txt
"$WL" workflow br.yaml --workspace repo --base-branch main >br3.out 2>br3.err
expect_eq "$?" 0
expect_contains repo/env.txt "ROBOPPI_EFFECTIVE_BASE_BRANCH_SOURCE=cli"
expect_contains repo/env.txt "ROBOPPI_STARTUP_BRANCH=feature"
git -C repo checkout -q main
printf 'create_branch: true\n' >>br.yaml
"$WL" workflow br.yaml --workspace repo >br4.out 2>br4.err
expect_eq "$?" 0
expect_contains repo/env.txt "ROBOPPI_CREATE_BRANCH=1"
t_end
