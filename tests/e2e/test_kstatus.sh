# End-to-end: the kstatus corpus (tests/e2e/fixtures/kstatus/corpus.py) played
# through the REAL kubectl against a loopback fake API server
# (tests/tools/fake-apiserver.py, started and stopped here). Every healthy
# sequence must be met — never an early abort — at the observation where its
# condition first succeeds, with the default settings (`waitloop wait`) and
# with the README's settings (`waitloop run` of the README's workflow shape);
# every terminal sequence must be decided at the first observation that
# shows it. Without kubectl every case prints SKIP.
# timeout: 1800
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

PY=/usr/bin/python3
CORPUS=$T/corpus
$PY "$ROOT/tests/e2e/fixtures/kstatus/corpus.py" "$CORPUS" >/dev/null || { echo "FAIL kstatus_corpus_generates"; exit 1; }

if ! command -v kubectl >/dev/null 2>&1; then
	for d in "$CORPUS"/*/; do echo "SKIP kstatus_$(basename "$d"): kubectl is not installed"; done
	exit 0
fi

export HOME=$T/home
mkdir -p "$HOME"
# The corpus runs in KSTATUS_LANES lanes side by side (default 2; 1 for
# timings, as bench/run.sh does), each with its own fake API server (a
# scenario is a server's whole state) and kubeconfig; lane 0 also runs the
# cases before the corpus.
lanes=${KSTATUS_LANES:-2}
case $lanes in '' | *[!0-9]* | 0) echo "FAIL kstatus_lanes: KSTATUS_LANES must be a positive integer, not '$lanes'"; exit 1 ;; esac
api_pids=()
trap 'kill "${api_pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
for ((k = 0; k < lanes; k++)); do
	$PY "$ROOT/tests/tools/fake-apiserver.py" --port-file "$T/port$k" --log "$T/api$k.log" &
	api_pids+=($!)
done
for ((k = 0; k < lanes; k++)); do
	for _ in $(seq 100); do [ -s "$T/port$k" ] && break; sleep 0.1; done
	p=$(cat "$T/port$k" 2>/dev/null) || { echo "FAIL kstatus_fake_apiserver_starts"; exit 1; }
	cat >"$T/kubeconfig$k" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "http://127.0.0.1:$p"}
- name: fake-cond
  cluster: {server: "http://127.0.0.1:$p/c"}
users:
- name: ci
  user: {token: fake-kubeconfig-token-4711}
contexts:
- name: test
  context: {cluster: fake, user: ci}
- name: cond
  context: {cluster: fake-cond, user: ci}
current-context: test
EOF
done
use_lane() { # k: this shell's API server
	port=$(cat "$T/port$1")
	export KUBECONFIG=$T/kubeconfig$1
}
use_lane 0

load() { # scenario.json — to the fake API server (python3: no curl needed)
	$PY -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[2], data=open(sys.argv[1], "rb").read(), method="POST"), timeout=10).read()' \
		"$1" "http://127.0.0.1:$port/_scenario" || t_fail "cannot load $1"
}
jq_() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

t_begin kstatus_kubectl_talks_to_the_fake_apiserver
echo '{"objects":{}}' >empty.json
load empty.json
kubectl version -o json >ver.json 2>ver.err || t_fail "kubectl version failed: $(cat ver.err)"
expect_contains ver.json "v1.30.0-fake"
kubectl get helmrelease -n flux-system nothing >get.out 2>get.err
expect_contains get.err 'helmreleases.helm.toolkit.fluxcd.io "nothing" not found'
t_end

# The shipped probe itself: raw objects, filtered (no spec values, env,
# annotations), the newest Warning events, valid against the probe schema.
t_begin kstatus_k8s_probe_output
load "$CORPUS/hr-upgrade-then-rollout/scenario.json"
bash "$ROOT/workflows/probes/k8s-probe.sh" --target "crd/x.example.io" --helmrelease flux-system/capi-operator \
	--deployment apps/api --object Pod/apps/nope >probe.json 2>probe.err
expect_eq "$?" 0
expect_schema_valid probe probe.json
expect_not_contains probe.json planted-secret
expect_not_contains probe.json fake-kubeconfig-token
expect_eq "$(jq_ probe.json '[d["target"]["status"]] + [x["kind"] for x in d["dependencies"]] + [d["dependencies"][2]["status"]]')" \
	"['NotFound', 'HelmRelease', 'Deployment', 'Pod', 'NotFound']"
expect_eq "$(jq_ probe.json 'd["dependencies"][0]["spec"], d["dependencies"][0]["metadata"]["resourceVersion"]')" \
	"({'interval': '10m', 'timeout': '5m'}, '11')"
expect_contains probe.json '"lastTransitionTime"'
load "$CORPUS/events-failedmount-repeated/scenario.json"
bash "$ROOT/workflows/probes/k8s-probe.sh" --object Pod/apps/web-1 >probe.json 2>probe.err
expect_eq "$(jq_ probe.json '[(e["kind"], e["name"], e["reason"], e["count"]) for e in d["events"]]')" \
	"[('Pod', 'web-1', 'FailedMount', 2)]"
shellcheck "$ROOT/workflows/probes/k8s-probe.sh" 2>&1 || t_fail "k8s-probe.sh is not ShellCheck-clean"
t_end

# One corpus case (default settings, then the README's settings) in the
# lane's directory against the lane's API server: a false abort is appended
# to $aborts, the decision to the lane's decisions.tsv.
run_case() { # case-dir
	local d=$1
	local name kind outcome code obs exact fps cond probe extra pargs rc ms n plog start
	name=$(basename "$d")
	read -r kind outcome code obs exact fps <"$d/expect"
	cond=$(cat "$d/condition")
	probe=$(cat "$d/probe")
	mapfile -t extra <"$d/args"
	pargs=()
	[ -n "$probe" ] && pargs=(--probe "$probe" --probe-timeout 30s)

	# default settings: nothing but the builtin, a probe and a short interval
	t_begin "kstatus_${kind}_${name}"
	load "$d/scenario.json"
	rm -rf out
	start=$(date +%s%N)
	"$WL" wait --builtin kubernetes "${pargs[@]}" "${extra[@]}" --interval 100ms --max-wait 120s \
		--out out -- bash -c "$cond" >wait.out 2>wait.err
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	n=$(lines out/wait-probe.log)
	expect_eq "$rc" "$code"
	if [ "$outcome" = met ]; then
		[ "$rc" -eq 0 ] || echo "$name" >>"$aborts"
		[ ! -f out/wait-failure.json ] || t_fail "wait-failure.json for a healthy sequence: $(jq_ out/wait-failure.json 'd["message"]')"
		[ "$exact" = 0 ] || expect_eq "$n" "$obs"
		[ "$exact" = 1 ] || [ "$n" -ge "$obs" ] || t_fail "met after $n observations, before the sequence could be ready ($obs)"
	else
		expect_eq "$(jq_ out/wait-failure.json 'd["reason"]')" "$outcome"
		expect_eq "$(jq_ out/wait-failure.json 'd["observations"]')" "$obs"
		for fp in ${fps//,/ }; do
			expect_contains "$(jq_ out/wait-failure.json '" ".join(d["fingerprints"])')" "$fp"
		done
		expect_schema_valid wait-failure out/wait-failure.json
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$rc" "$n" "$ms" >>"$lane_dir/decisions.tsv"
	# nothing secret reaches a file (planted in HelmRelease values, Deployment env, kubeconfig)
	if grep -rqE 'planted-secret|fake-kubeconfig-token' out 2>/dev/null; then t_fail "a planted secret reached out/"; fi
	[ "$_case_failed" -eq 0 ] || { sed 's/^/      /' wait.err | tail -5 >&2; tail -3 out/wait-probe.log >&2 2>/dev/null; }
	t_end

	# the README's settings, through the runner
	[ -f "$d/workflow.yaml" ] || return 0
	t_begin "kstatus_readme_${name}"
	load "$d/scenario.json"
	rm -rf ws && mkdir ws
	"$WL" run "$d/workflow.yaml" -w ws --no-progress >run.out 2>run.err
	rc=$?
	expect_eq "$rc" 0
	[ "$rc" -eq 0 ] || echo "$name" >>"$aborts"
	plog=ws/context/wait-it/wait-probe.log
	[ "$exact" = 0 ] || expect_eq "$(lines "$plog")" "$obs"
	[ "$_case_failed" -eq 0 ] || { sed 's/^/      /' run.out run.err | tail -8 >&2; tail -3 "$plog" >&2 2>/dev/null; }
	t_end
}

cases=("$CORPUS"/*/)
lane_pids=()
for ((k = 0; k < lanes; k++)); do
	(
		lane_dir=$T/lane$k aborts=$T/lane$k/false-aborts
		mkdir -p "$lane_dir" && cd "$lane_dir" || exit 1
		: >"$aborts" && : >decisions.tsv
		use_lane "$k"
		for ((i = k; i < ${#cases[@]}; i += lanes)); do run_case "${cases[$i]%/}"; done
	) >"$T/lane$k.out" 2>"$T/lane$k.err" &
	lane_pids+=($!)
done
wait "${lane_pids[@]}"
for ((k = 0; k < lanes; k++)); do cat "$T/lane$k.out"; cat "$T/lane$k.err" >&2; done
decisions=$T/decisions.tsv
cat "$T"/lane*/decisions.tsv | sort >"$decisions"
healthy=$(awk -F'\t' '$2 == "healthy"' "$decisions" | wc -l)
terminal=$(awk -F'\t' '$2 == "terminal"' "$decisions" | wc -l)
false_aborts=$(cat "$T"/lane*/false-aborts | wc -l)

t_begin kstatus_corpus_size
expect_eq "$(wc -l <"$decisions" | tr -d ' ')" "${#cases[@]}"
[ "$healthy" -ge 20 ] || t_fail "only $healthy healthy sequences (>= 20 required)"
[ "$terminal" -ge 12 ] || t_fail "only $terminal terminal sequences (>= 12 required)"
expect_eq "$false_aborts" 0
t_end

# for `make bench` (bench/false_aborts.sh): where to put the decisions table
[ -z "${KSTATUS_DECISIONS:-}" ] || cp "$decisions" "$KSTATUS_DECISIONS"
