# End-to-end: stalling needs evidence (SPEC §4.4.2, issue 12). Without a
# probe an unchanged condition output never stalls unless stall_threshold is
# written; a probe that cannot run ends the wait at once (exit 2,
# probe-broken); a probe that fails N times in a row is stalled as
# probe-failed/<why>, never stalled/no-progress; `validate` warns on a
# stall_threshold that can only fire on silence.
# timeout: 300
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

jq_() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
NOTFOUND='Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "x.example.io" not found'
# a condition that fails (NotFound, byte for byte the same) until observation $1
late() { # met-at
	cat >cond.sh <<EOF
n=\$((\$(cat n 2>/dev/null || echo 0) + 1)); echo "\$n" >n
[ "\$n" -ge $1 ] && { echo "customresourcedefinition.apiextensions.k8s.io/x.example.io"; exit 0; }
echo '$NOTFOUND' >&2; exit 1
EOF
	rm -f n
}

t_begin stall_no_probe_never_stalls_on_silence
late 12
"$WL" wait --builtin kubernetes --target crd/x.example.io --interval 100ms --max-wait 60s --out out -- bash cond.sh 2>err.txt
expect_eq "$?" 0
expect_eq "$(lines out/wait-probe.log)" 12
t_end

t_begin stall_terminal_pattern_no_probe_never_stalls_on_silence
late 10
"$WL" wait --terminal-pattern 'chart not found' --interval 100ms --max-wait 60s --out out -- bash cond.sh 2>err.txt
expect_eq "$?" 0
t_end

t_begin stall_no_probe_explicit_threshold_stalls
late 1000
"$WL" wait --builtin kubernetes --stall-threshold 4 --interval 100ms --max-wait 60s --out out -- bash cond.sh 2>err.txt
expect_eq "$?" 3
expect_eq "$(jq_ out/wait-failure.json 'd["observations"]')" 4
expect_contains out/wait-failure.json '"stalled/no-progress"'
t_end

t_begin stall_no_probe_ends_at_max_wait
late 1000
"$WL" wait --builtin kubernetes --interval 100ms --max-wait 2s --out out -- bash cond.sh 2>err.txt
expect_eq "$?" 124
expect_eq "$(jq_ out/wait-failure.json 'd["reason"]')" timeout
t_end

t_begin stall_probe_broken_missing_file
late 1000
"$WL" wait --probe 'bash ./no-such-probe.sh --target crd/x' --builtin kubernetes --interval 100ms --max-wait 60s \
	--fingerprint-prefix kest --out out -- bash cond.sh 2>err.txt
expect_eq "$?" 2
expect_eq "$(jq_ out/wait-failure.json 'd["observations"], d["rule"]')" "(1, 'probe-broken')"
expect_eq "$(jq_ out/wait-failure.json '" ".join(d["fingerprints"])')" "kest/probe-broken"
expect_contains out/wait-failure.json "probe-broken: probe 'bash ./no-such-probe.sh --target crd/x' cannot run (exit 127)"
expect_contains out/wait-failure.json "no-such-probe.sh: No such file or directory"
expect_contains err.txt "waitloop: error: probe-broken"
t_end

t_begin stall_probe_broken_command_not_found
late 1000
"$WL" wait --probe 'kubectll get crd x -o json' --interval 100ms --max-wait 60s --out out -- bash cond.sh 2>err.txt
expect_eq "$?" 2
expect_contains out/wait-failure.json "kubectll: command not found"
t_end

t_begin stall_probe_broken_not_executable
late 1000
printf '#!/bin/sh\necho {}\n' >probe.sh
chmod -x probe.sh
"$WL" wait --probe ./probe.sh --interval 100ms --max-wait 60s --out out -- bash cond.sh 2>err.txt
expect_eq "$?" 2
expect_contains out/wait-failure.json "exit 126"
t_end

probe_failed_case() { # why probe
	t_begin "stall_probe_failed_$1"
	late 1000
	"$WL" wait --probe "$2" --probe-timeout 500ms --interval 100ms --max-wait 60s --out out -- bash cond.sh 2>err.txt
	expect_eq "$?" 3
	expect_eq "$(jq_ out/wait-failure.json '" ".join(d["fingerprints"])')" "probe-failed/$1"
	expect_eq "$(jq_ out/wait-failure.json 'd["observations"]')" 6
	expect_not_contains out/wait-failure.json "no-progress"
	t_end
}
probe_failed_case nonzero-exit 'echo "jq: error: syntax error" >&2; exit 5'
probe_failed_case not-json 'echo hello'
probe_failed_case too-large "head -c 100000 /dev/zero | tr '\\\\0' x"
probe_failed_case too-slow 'sleep 5'

t_begin stall_probe_failures_interleaved_never_stall
late 20
cat >probe.sh <<'EOF'
n=$(cat n)
[ $((n % 2)) -eq 0 ] && { echo "flaky" >&2; exit 1; }
echo "{\"dependencies\":[{\"kind\":\"HelmRelease\",\"name\":\"x\",\"status\":\"Progressing\"}]}"
EOF
"$WL" wait --probe 'bash probe.sh' --builtin kubernetes --interval 100ms --max-wait 60s --out out -- bash cond.sh 2>err.txt
expect_eq "$?" 0
t_end

t_begin stall_validate_warns_on_silence_only
cat >wf.yaml <<'EOF'
name: silence
version: "1"
timeout: 5m
steps:
  w:
    wait:
      condition: kubectl get crd x.example.io
    wait_policy:
      mode: probe_aware
      builtin: kubernetes
      stall_threshold: 6
EOF
"$WL" validate wf.yaml >v.out 2>v.err
expect_eq "$?" 0
expect_contains v.err "wf.yaml:8:5: warning: wait_policy sets stall_threshold without a probe: it can only stall on silence"
sed -i 's/      stall_threshold: 6/      stall_threshold: 6\n      probe: echo "{}"/' wf.yaml
"$WL" validate wf.yaml >v.out 2>v.err
expect_not_contains v.err "stall on silence"
t_end
