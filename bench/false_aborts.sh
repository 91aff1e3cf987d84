#!/usr/bin/env bash
# False early aborts (SPEC §11: must be 0): a corpus of slow-but-progressing
# waits run through `waitloop wait` in probe_aware mode with the builtin
# kubernetes set. Every scenario ends "met" at a known observation; an exit
# other than 0 is a false early abort (or a timeout, which is also wrong here).
# The condition counts observations in a file; the probe shows the state of
# that observation. Prints one line per scenario and a total.
#
#   bash bench/false_aborts.sh        (env: WAITLOOP_BIN, INTERVAL — default 100ms)
# The probes are bash snippets expanded later, hence the single quotes:
# shellcheck disable=SC2016
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
WL=${WAITLOOP_BIN:-$root/build/waitloop}
INTERVAL=${INTERVAL:-100ms}
# Under bench/run.sh (BENCH_TMP) the temp dir is left for run.sh to remove.
tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/wl-false-aborts.XXXXXX") || exit 2
[ -n "${BENCH_TMP:-}" ] || trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
CRD=k0smotrondockerclusters.cluster.appthrust.io
notfound="Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io \"$CRD\" not found"

# scenario NAME MET_AT "PROBE (bash, \$n = observation)" [extra waitloop options...]
# The condition: n=observation number; met when n >= MET_AT, else prints NotFound.
total=0
aborts=0
scenario() {
	local name=$1 met=$2 probe=$3
	shift 3
	local d=$tmp/$name
	mkdir -p "$d"
	echo 0 >"$d/n"
	cat >"$d/cond.sh" <<EOF
n=\$((\$(cat "$d/n") + 1)); echo \$n > "$d/n"
[ \$n -ge $met ] && { echo "customresourcedefinition.apiextensions.k8s.io/$CRD condition met"; exit 0; }
echo '$notfound' >&2; exit 1
EOF
	printf 'n=$(cat "%s/n")\n%s\n' "$d" "$probe" >"$d/probe.sh"
	local t0 t1 rc obs
	t0=$(date +%s%3N)
	"$WL" wait --condition "bash $d/cond.sh" --probe "bash $d/probe.sh" --builtin kubernetes \
		--target "crd/$CRD" --interval "$INTERVAL" --max-wait 60s --out "$d/out" --quiet "$@" \
		>"$d/stdout" 2>"$d/stderr"
	rc=$?
	t1=$(date +%s%3N)
	obs=$(wc -l <"$d/out/wait-probe.log" 2>/dev/null || echo 0)
	total=$((total + 1))
	local verdict=ok
	if [ "${expect_abort:-0}" = 1 ]; then
		verdict="control: exit $rc (3 = stalled, as it should)"
		[ "$rc" -ne 0 ] && aborts=$((aborts + 1))
	elif [ "$rc" -ne 0 ]; then
		aborts=$((aborts + 1))
		verdict="FALSE ABORT (exit $rc: $(head -c 200 "$d/stderr"))"
	fi
	printf '  %-34s met at obs %2d  exit %3d  observations %3d  %6.2fs  %s\n' "$name" "$met" "$rc" \
		"$obs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1000}')" "$verdict"
}

dep='{"kind":"HelmRelease","name":"capi-operator","namespace":"flux-system"'
tgt='"target":{"kind":"CustomResourceDefinition","name":"'$CRD'","status":"NotFound"}'
# as they appear inside the probes' double-quoted echo strings
dep=${dep//\"/\\\"}
tgt=${tgt//\"/\\\"}

scenario dependency_progressing_rv 15 \
	'echo "{'"$tgt"',\"dependencies\":['"$dep"',\"status\":\"Progressing\",\"reason\":\"Installing\",\"resourceVersion\":\"$((1000 + n))\"}]}"'
scenario replicas_rising_every_2 16 \
	'echo "{\"target\":{\"kind\":\"Deployment\",\"name\":\"web\",\"status\":\"Progressing\"},\"replicas\":{\"desired\":8,\"ready\":$((n / 2))}}"'
scenario digest_changes_every_3 18 \
	'echo "{'"$tgt"',\"dependencies\":['"$dep"',\"status\":\"Progressing\",\"observedGeneration\":$((n / 3))}]}"'
scenario digest_every_2_threshold_3 14 \
	'echo "{'"$tgt"',\"dependencies\":['"$dep"',\"status\":\"Progressing\",\"step\":$((n / 2))}]}"' \
	--stall-threshold 3
scenario webhook_tls_transient_4 12 \
	'if [ "$n" -le 4 ]; then echo "{'"$tgt"',\"errors\":[\"Internal error occurred: failed calling webhook: x509: certificate signed by unknown authority\"]}"; else echo "{'"$tgt"',\"dependencies\":['"$dep"',\"status\":\"Progressing\",\"n\":$n}]}"; fi'
scenario events_growing_every_2 14 \
	'ev=""; for ((i = 0; i < n / 2; i++)); do ev="$ev{\"kind\":\"Pod\",\"name\":\"web-$i\",\"type\":\"Normal\",\"reason\":\"Scheduled\"},"; done; echo "{'"$tgt"',\"events\":[${ev%,}]}"'
scenario pod_phases_every_4 13 \
	'p=Pending; [ "$n" -gt 4 ] && p=ContainerCreating; [ "$n" -gt 8 ] && p=Running; echo "{\"target\":{\"kind\":\"Pod\",\"name\":\"db-0\",\"status\":\"$p\"}}"'
scenario probe_fails_every_3rd 15 \
	'if [ $((n % 3)) -eq 0 ]; then echo "connection refused" >&2; exit 1; fi; echo "{'"$tgt"',\"dependencies\":['"$dep"',\"status\":\"Progressing\",\"n\":$n}]}"'
scenario probe_says_progressing_constant 12 \
	'echo "{'"$tgt"',\"class\":\"progressing\"}"'
scenario backoff_growing_interval 8 \
	'echo "{'"$tgt"',\"dependencies\":['"$dep"',\"status\":\"Progressing\",\"n\":$n}]}"' \
	--backoff-factor 1.5 --max-interval 1s
scenario ready_dependency_named_failed 10 \
	'echo "{'"$tgt"',\"dependencies\":[{\"kind\":\"Job\",\"name\":\"failed-jobs-cleaner\",\"status\":\"Ready\",\"message\":\"Failed to pull earlier, retrying\",\"gen\":$n}]}"'
scenario dependency_ready_then_crd 11 \
	's=Progressing; [ "$n" -ge 8 ] && s=Ready; echo "{'"$tgt"',\"dependencies\":['"$dep"',\"status\":\"$s\",\"n\":$((n < 8 ? n : 8))}]}"'

# Control (not counted): a dependency that really is stuck must still be
# stopped early, or the corpus would pass with early aborts switched off.
total_c=$total aborts_c=$aborts expect_abort=1
# (A dependency in progress is `progressing` within its deadline, so the
# control gives it a short one: 1s of no change.)
scenario control_really_stalled 1000 \
	'echo "{'"$tgt"',\"dependencies\":['"$dep"',\"status\":\"Progressing\"}]}"' --progress-deadline 1s
[ "$aborts" -gt "$aborts_c" ] || echo "  control: the stuck wait was NOT stopped early"
total=$total_c aborts=$aborts_c
echo "false early aborts: $aborts of $total scenarios"
[ "$aborts" -eq 0 ]
