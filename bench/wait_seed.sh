#!/usr/bin/env bash
# Time-to-decision for the seed scenario (SPEC §11): a CRD that never appears
# because the HelmRelease that installs it failed ("chart not found").
# Three ways to wait, side by side, medians of RUNS runs:
#   probe_aware   waitloop wait --probe ... --builtin kubernetes
#   timeout_only  waitloop wait --mode timeout_only
#   bash loop     the classic retry_until_success shell function
# The "cluster" is a fake kubectl (NotFound on every poll) and a probe printing
# the failed HelmRelease; INTERVAL and MAX_WAIT are scaled down so the slow
# variants finish (the ratio is what matters: early abort ≈ 1 interval vs max_wait).
#
#   bash bench/wait_seed.sh [RUNS]      (env: WAITLOOP_BIN, INTERVAL_S, MAX_WAIT_S)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
WL=${WAITLOOP_BIN:-$root/build/waitloop}
RUNS=${1:-5}
INTERVAL_S=${INTERVAL_S:-1}
MAX_WAIT_S=${MAX_WAIT_S:-10}
CRD=k0smotrondockerclusters.cluster.appthrust.io
# Under bench/run.sh (BENCH_TMP) the temp dir is left for run.sh to remove
# at its end: a deletion slows every create on this disk for a minute.
tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/wl-bench.XXXXXX") || exit 2
[ -n "${BENCH_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
cat > "$tmp/bin/kubectl" <<SCRIPT
#!/bin/sh
echo 'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "$CRD" not found' >&2
exit 1
SCRIPT
cat > "$tmp/probe.sh" <<SCRIPT
echo '{"target":{"kind":"CustomResourceDefinition","name":"$CRD","status":"NotFound"},"dependencies":[{"kind":"HelmRelease","name":"capi-operator","namespace":"flux-system","status":"Failed","reason":"InstallFailed","message":"chart not found"}]}'
SCRIPT
chmod +x "$tmp/bin/kubectl"
export PATH="$tmp/bin:$PATH"
cd "$tmp" || exit 1

retry_until_success() { # the classic function, as in kest-env.sh-style scripts
	local max=$1 interval=$2 start=$SECONDS
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ $((SECONDS - start)) -ge "$max" ] && return 1
		sleep "$interval"
	done
}

ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

run_variant() { # name command...
	local name=$1 i t0 rc
	shift
	: > "$tmp/$name.times"
	for ((i = 0; i < RUNS; i++)); do
		t0=$(ms)
		"$@" >/dev/null 2>&1
		rc=$?
		echo $(( $(ms) - t0 )) >> "$tmp/$name.times"
	done
	printf '%-14s exit %-4s median %7.3f s   (runs: %s)\n' "$name" "$rc" \
		"$(median < "$tmp/$name.times" | awk '{printf "%.3f", $1/1000}')" "$(tr '\n' ' ' < "$tmp/$name.times")"
}

echo "seed scenario: interval ${INTERVAL_S}s, max_wait ${MAX_WAIT_S}s, $RUNS runs each ($(nproc) CPUs, $(uname -r))"
run_variant probe_aware "$WL" wait --probe "sh $tmp/probe.sh" --builtin kubernetes --target "crd/$CRD" \
	--interval "${INTERVAL_S}s" --max-wait "${MAX_WAIT_S}s" --out out -- kubectl get crd "$CRD"
run_variant timeout_only "$WL" wait --mode timeout_only --target "crd/$CRD" \
	--interval "${INTERVAL_S}s" --max-wait "${MAX_WAIT_S}s" --out out -- kubectl get crd "$CRD"
run_variant bash_loop retry_until_success "$MAX_WAIT_S" "$INTERVAL_S" kubectl get crd "$CRD"
