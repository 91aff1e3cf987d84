#!/usr/bin/env bash
# make run: the CRD-wait demo (workflows/demo.yaml) in a fresh workspace, then
# what happened, read back from the run's own artifacts and history database.
#
#   bash workflows/demo/run-demo.sh
#
# Environment: WAITLOOP (the binary; default build/waitloop), DEMO_WORKSPACE
# (workspace to create; default a new /tmp/waitloop-demo.XXXXXX, kept so you
# can look around). Exit status: that of `waitloop run` (0 when the loop
# converged), or 1 when an artifact the demo shows is missing.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
demo=$root/workflows/demo
WL=${WAITLOOP:-$root/build/waitloop}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then B=$'\e[1m' R=$'\e[0m'; else B="" R=""; fi
heading() { printf '\n%s== %s ==%s\n' "$B" "$1" "$R"; }
indent() { sed 's/^/    /'; }
missing=0
show_file() { # file [what]
	if [ -f "$1" ]; then
		printf '    (%s)\n' "${1#"$ws"/}"
		indent <"$1"
	else
		printf '    (missing: %s)\n' "${1#"$ws"/}"
		missing=1
	fi
}
json() { # file python-expression over d
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

# ---------------------------------------------------------------------------
ws=${DEMO_WORKSPACE:-$(mktemp -d /tmp/waitloop-demo.XXXXXX)}
mkdir -p "$ws"
git -C "$ws" init -q
git -C "$ws" config user.name "waitloop demo"
git -C "$ws" config user.email "demo@waitloop.invalid"
printf 'context/\n.waitloop/\n' >"$ws/.gitignore"
git -C "$ws" add .gitignore && git -C "$ws" commit -q -m "empty workspace"

cat <<EOF
${B}waitloop demo: a wait that knows when to give up${R}

A verify script waits up to 600 s for the CRD
k0smotrondockerclusters.cluster.appthrust.io, which a Flux HelmRelease
installs. In iteration 1 the implementer writes the HelmRelease with a typo
in the chart name, so the release fails ("chart not found") and the CRD will
never appear. waitloop's probe sees the failed release and stops the check at
once; the evidence goes into review.verdict and fix.md; iteration 2's
implementer reads fix.md, fixes the chart name, and the check passes.
The cluster is simulated by a fake kubectl (workflows/demo/bin/kubectl).
EOF

heading "Running the workflow"
echo "\$ waitloop run workflows/demo.yaml -w $ws --no-progress"
echo
out=$ws/.waitloop/demo
mkdir -p "$out"
start=$(date +%s.%N)
"$WL" run "$root/workflows/demo.yaml" -w "$ws" --no-progress \
	--set "DEMO_DIR=$demo" --set "PATH=$demo/bin:$PATH" >"$out/run.out" 2>"$out/run.err"
rc=$?
end=$(date +%s.%N)
indent <"$out/run.err"
echo
cat "$out/run.out"
run_id=$(sed -n 's/^Run: //p' "$out/run.out")
ctx=$ws/context
step=$ctx/deploy

# Iteration N's files: the per-iteration archive when the runner keeps one,
# else the step directory (which then holds only the last iteration's).
iter_file() { # N name
	if [ -f "$step/iterations/$1/$2" ]; then echo "$step/iterations/$1/$2"; else echo "$step/$2"; fi
}

# ---------------------------------------------------------------------------
heading "1. Iteration 1: the check was stopped early"
wf1=$(iter_file 1 wait-failure.json)
check1=$("$PY" - "$ctx/_workflow/events.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") == "attempt_finished" and e.get("phase") == "completion_check" and e.get("iteration") == 1:
        print("%.1f %s" % (e["duration_s"], ",".join(e.get("signals_sent") or []) or "none"))
        break
PY
)
if [ -n "$check1" ] && [ -f "$wf1" ]; then
	read -r ran signals <<<"$check1"
	max=$(json "$wf1" 'd["max_wait_s"]')
	obs=$(json "$wf1" 'd["observations"]')
	why=$(json "$wf1" 'd["reason"]')
	"$PY" - "$ran" "$max" "$obs" "$why" "$signals" <<'PY'
import sys
ran, mx, obs, why, sig = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
print(f"    The check ran {ran:.1f} s. The guard decided '{why}' at observation {obs} and stopped it ({sig}).")
print(f"    A timeout-only wait would have run until max_wait: {mx:.0f} s.")
print(f"    Saved: {mx - ran:.0f} s ({mx / max(ran, 0.001):.0f}x faster to the next attempt).")
PY
	echo "    (from _workflow/events.jsonl: attempt_finished of the iteration-1 check; and wait-failure.json: max_wait_s)"
else
	echo "    (iteration 1's check was not stopped by the guard)"
	missing=1
fi

heading "2. The evidence: iteration 1's wait-failure.json"
show_file "$wf1"

heading "3. The decision: iteration 1's review.verdict"
show_file "$(iter_file 1 review.verdict)"

heading "4. The feedback for the implementer: iteration 1's fix.md"
show_file "$(iter_file 1 fix.md)"

heading "5. The implementer's fix (iteration 2)"
echo "    What the implementer printed (context/deploy/stdout.log, every iteration):"
indent <"$step/stdout.log"
echo
echo "    What it committed (git log; the diff of the last commit):"
git -C "$ws" log --reverse --format='    %s' HEAD~2..HEAD 2>/dev/null
echo
git -C "$ws" diff HEAD~1 HEAD -- deploy/helmrelease.yaml 2>/dev/null | sed -n '/^@@/,$p' | indent

heading "6. Iteration 2: the check passed"
n=$(json "$step/_meta.json" 'd["iterations"]')
status=$(json "$step/_meta.json" 'd["status"]')
echo "    step deploy: $status after $n iteration(s)"
echo "    What the check printed (context/deploy/check.stdout.log):"
indent <"$(iter_file 2 check.stdout.log)"
v2=$(iter_file 2 review.verdict)
[ -f "$v2" ] && echo "    review.verdict: decision $(json "$v2" 'd["decision"]') (source: $(json "$v2" 'd.get("source")'))"

heading "7. The run in the history database: waitloop show $run_id"
if [ -n "$run_id" ]; then
	"$WL" show "$run_id" --db "$ws/.waitloop/history.db" | indent
else
	echo "    (no run id)"
	missing=1
fi

printf '\n%sDone in %.1f s.%s Workspace kept at %s (context/, .waitloop/history.db, git log -p).\n' \
	"$B" "$("$PY" -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$start" "$end")" "$R" "$ws"
echo "Workspace: $ws"
[ "$rc" -ne 0 ] && exit "$rc"
exit "$missing"
