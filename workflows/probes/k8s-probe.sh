#!/usr/bin/env bash
# k8s-probe.sh — a wait_policy probe for Kubernetes (SPEC §4.4.3).
#
# Prints ONE JSON object (schema/probe.schema.json) describing a wait target,
# the objects it depends on and their newest Warning events, read with
# kubectl only (no jq):
#
#   k8s-probe.sh --target crd/k0smotrondockerclusters.cluster.appthrust.io \
#                --helmrelease flux-system/capi-operator \
#                [--kustomization NS/NAME] [--clustersummary NS/NAME] [--deployment NS/NAME]
#                [--pods NS/SELECTOR] [--object KIND/NS/NAME | KIND/NAME]...
#
#   {"target":{"kind","name","status":"Ready|NotFound|Unknown"},
#    "dependencies":[<the objects as the API server returns them, filtered>,
#                    {"kind","name","namespace","status":"NotFound","reason","message"} when absent],
#    "events":[{"kind","name","namespace","type","reason","count","message","lastTimestamp"}],
#    "errors":["what kubectl printed when a query failed"]}
#
# The objects are not mapped to a status here: `builtin: kubernetes`
# computes it the way kstatus does (docs/wait_policy.md, "Status of raw
# objects"), from the fields that show progress — resourceVersion,
# generation/observedGeneration, conditions with lastTransitionTime, replica
# counts, container states. --pods gives the List of the selected pods.
#
# Secret-safe: every object's spec is dropped except the fields the status
# rules read (timeout, interval, replicas, type, updateStrategy,
# progressDeadlineSeconds, activeDeadlineSeconds, suspend); metadata
# annotations and managedFields, and any data/stringData/values/valuesFrom/env
# are dropped; token/password/secret values and bearer tokens in what remains
# (condition and event messages) are masked, event messages cut to 200
# characters (waitloop redacts everything again before writing).
# Exit 0 whenever it could print the JSON.
set -u

KUBECTL=${KUBECTL:-kubectl}
EVENTS_PER_OBJECT=${EVENTS_PER_OBJECT:-5}
MAX_PODS=${MAX_PODS:-20}
target=""
deps=()
events=()
errors=()

json_str() { # JSON string literal of $1 (control characters become spaces)
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=$(printf '%s' "$s" | tr '\000-\037' ' ')
	printf '"%s"' "$s"
}

clean_msg() { # mask secret-looking values, cut to 200 characters
	printf '%s' "$1" | sed -E 's/([Bb]earer) [^ ]+/\1 [REDACTED]/g; s/((token|password|passwd|secret|api[_-]?key)[^=:]{0,20}[=:] *)[^ ,;]+/\1[REDACTED]/Ig' | cut -c1-200
}

add_missing() { # kind ns name reason message
	deps+=("{\"kind\":$(json_str "$1"),\"namespace\":$(json_str "$2"),\"name\":$(json_str "$3"),\"status\":\"NotFound\",\"reason\":$(json_str "$4"),\"message\":$(json_str "$(clean_msg "$5")")}")
}

add_unknown() { # kind ns name message
	deps+=("{\"kind\":$(json_str "$1"),\"namespace\":$(json_str "$2"),\"name\":$(json_str "$3"),\"status\":\"Unknown\",\"reason\":\"QueryFailed\",\"message\":$(json_str "$(clean_msg "$4")")}")
}

add_error() { errors+=("$(json_str "$(clean_msg "$1")")"); }

# filter_json: kubectl's indented `-o json` on stdin, secret-bearing and bulky
# fields dropped (see the header), one compact-enough JSON value on stdout.
filter_json() {
	awk '
	function indent(s) { match(s, /^ */); return RLENGTH }
	BEGIN { skip = -1; spec = -1; keep = -1 }
	{
		line = $0; ind = indent(line)
		if (skip >= 0) { if (ind == skip && line ~ /^ *[\]\}],?$/) skip = -1; next }
		if (keep >= 0 && ind <= keep) keep = -1
		if (spec >= 0 && ind <= spec) { spec = -1; out[n++] = line; next }
		if (spec >= 0 && keep < 0) {
			if (ind == spec + 4 && line ~ /^ *"(timeout|interval|replicas|type|progressDeadlineSeconds|activeDeadlineSeconds|suspend)": [^\{\[]/) { out[n++] = line; next }
			if (ind == spec + 4 && line ~ /^ *"updateStrategy": \{$/) { keep = ind; out[n++] = line; next }
			if (line ~ /[\{\[]$/) skip = ind
			next
		}
		if (line ~ /^ *"(managedFields|annotations|data|stringData|values|valuesFrom|env|envFrom)": [\{\[]$/) { skip = ind; next }
		if (line ~ /^ *"(managedFields|annotations|data|stringData|values|valuesFrom|env|envFrom)": /) next
		if (line ~ /^ *"spec": \{$/) { spec = ind; out[n++] = line; next }
		out[n++] = line
	}
	END {
		for (i = 0; i < n; i++) {
			l = out[i]
			if (i + 1 < n && out[i + 1] ~ /^ *[\]\}]/) sub(/,$/, "", l)
			printf "%s", l
		}
		print ""
	}' | sed -E 's/([Bb]earer) [^ ",]+/\1 [REDACTED]/g; s/((token|password|passwd|secret|api[_-]?key)[^=:"]{0,20}[=:] *)[^ ,;"\\]+/\1[REDACTED]/Ig'
}

split_ref() { # NS/NAME -> ns name (default namespace "default")
	case $1 in
	*/*) ref_ns=${1%%/*} ref_name=${1#*/} ;;
	*) ref_ns=default ref_name=$1 ;;
	esac
}

kget() { # kubectl get ... ; output in $out, the last line of stderr in $err, status returned
	local f
	f=$(mktemp)
	out=$("$KUBECTL" get "$@" 2>"$f")
	local rc=$?
	err=$(grep -v '^[[:space:]]*$' "$f" | tail -n 1)   # the last line says it (client-go logs come first)
	rm -f "$f"
	return $rc
}

collect_events() { # kind ns name — the newest Warning events of one object
	local tpl='{{range .items}}{{.type}}{{"\t"}}{{.reason}}{{"\t"}}{{.count}}{{"\t"}}{{.lastTimestamp}}{{"\t"}}{{.message}}{{"\n"}}{{end}}'
	local -a nsarg=()
	[ -n "$2" ] && nsarg=(-n "$2")
	kget events "${nsarg[@]}" --field-selector "involvedObject.name=$3,involvedObject.kind=$1,type=Warning" \
		-o go-template="$tpl" || return 0
	local type reason count ts msg
	while IFS=$'\t' read -r type reason count ts msg; do
		[ "$type" = Warning ] || continue
		case $count in '' | *[!0-9]*) count=1 ;; esac
		printf '%s\t%s\t%s\t%s\n' "$ts" "$reason" "$count" "$msg"
	done <<<"$out" | sort -r | head -n "$EVENTS_PER_OBJECT" | while IFS=$'\t' read -r ts reason count msg; do
		printf '{"kind":%s,"namespace":%s,"name":%s,"type":"Warning","reason":%s,"count":%s,"lastTimestamp":%s,"message":%s}\n' \
			"$(json_str "$1")" "$(json_str "$2")" "$(json_str "$3")" "$(json_str "$reason")" "$count" \
			"$(json_str "$ts")" "$(json_str "$(clean_msg "$msg")")"
	done >"$evfile"
	while IFS= read -r e; do events+=("$e"); done <"$evfile"
}

kind_name() { # the Kind of a kubectl resource name (for objects that could not be read)
	case $(printf '%s' "$1" | tr '[:upper:]' '[:lower:]') in
	helmrelease | helmreleases | hr) echo HelmRelease ;;
	kustomization | kustomizations | ks) echo Kustomization ;;
	clustersummary | clustersummaries) echo ClusterSummary ;;
	deployment | deployments | deploy) echo Deployment ;;
	crd | crds | customresourcedefinition | customresourcedefinitions) echo CustomResourceDefinition ;;
	*) echo "$1" ;;
	esac
}

probe_object() { # kind ns name (ns empty: cluster-scoped)
	local -a nsarg=()
	local kind
	[ -n "$2" ] && nsarg=(-n "$2")
	if kget "$1" "${nsarg[@]}" "$3" -o json; then
		deps+=("$(printf '%s\n' "$out" | filter_json)")
		kind=$(printf '%s\n' "$out" | sed -n 's/^    "kind": "\([^"]*\)",\{0,1\}$/\1/p' | head -n 1)
		collect_events "${kind:-$(kind_name "$1")}" "$2" "$3"
	else
		kind=$(kind_name "$1")
		case $err in
		*NotFound* | *"not found"*) add_missing "$kind" "$2" "$3" NotFound "$err" ;;
		*) add_unknown "$kind" "$2" "$3" "$err"; add_error "$err" ;;
		esac
	fi
}

probe_pods() { # NS/SELECTOR
	split_ref "$1"
	if ! kget pods -n "$ref_ns" -l "$ref_name" -o json; then
		add_error "$err"
		return
	fi
	deps+=("$(printf '%s\n' "$out" | filter_json)")
	kget pods -n "$ref_ns" -l "$ref_name" -o go-template='{{range .items}}{{.metadata.name}}{{"\n"}}{{end}}' || return
	local pod n=0
	while IFS= read -r pod; do
		[ -n "$pod" ] || continue
		n=$((n + 1))
		[ "$n" -le "$MAX_PODS" ] || break
		collect_events Pod "$ref_ns" "$pod"
	done <<<"$out"
}

probe_target() { # KIND/NAME or KIND/NS/NAME
	local kind=${1%%/*} rest=${1#*/} ns="" name
	case $rest in */*) ns=${rest%%/*} name=${rest#*/} ;; *) name=$rest ;; esac
	local status=Ready
	local -a nsarg=()
	[ -n "$ns" ] && nsarg=(-n "$ns")
	if ! kget "$kind" "${nsarg[@]}" "$name" -o name; then
		case $err in *NotFound* | *"not found"*) status=NotFound ;; *) status=Unknown; add_error "$err" ;; esac
	fi
	case $kind in crd | crds) kind=CustomResourceDefinition ;; esac
	target="{\"kind\":$(json_str "$kind"),\"name\":$(json_str "$name"),\"status\":$(json_str "$status")}"
}

probe_ref() { # kind NS/NAME
	split_ref "$2"
	probe_object "$1" "$ref_ns" "$ref_name"
}

probe_any() { # KIND/NS/NAME (namespaced) or KIND/NAME (cluster-scoped)
	local kind=${1%%/*} rest=${1#*/}
	case $rest in
	*/*) probe_object "$kind" "${rest%%/*}" "${rest#*/}" ;;
	*) probe_object "$kind" "" "$rest" ;;
	esac
}

usage() {
	echo "usage: k8s-probe.sh [--target KIND/NAME] [--helmrelease NS/NAME]... [--kustomization NS/NAME]..." >&2
	echo "                    [--clustersummary NS/NAME]... [--deployment NS/NAME]... [--pods NS/SELECTOR]..." >&2
	echo "                    [--object KIND/NS/NAME | KIND/NAME]..." >&2
	exit 2
}

evfile=$(mktemp)
trap 'rm -f "$evfile"' EXIT
while [ "$#" -gt 0 ]; do
	[ "$#" -ge 2 ] || usage
	case $1 in
	--target) probe_target "$2" ;;
	--helmrelease) probe_ref helmrelease "$2" ;;
	--kustomization) probe_ref kustomization "$2" ;;
	--clustersummary) probe_ref clustersummary "$2" ;;
	--deployment) probe_ref deployment "$2" ;;
	--pods) probe_pods "$2" ;;
	--object) probe_any "$2" ;;
	*) usage ;;
	esac
	shift 2
done

join() { local IFS=,; printf '%s' "$*"; }
printf '{'
[ -n "$target" ] && printf '"target":%s,' "$target"
printf '"dependencies":[%s],"events":[%s],"errors":[%s]}\n' "$(join "${deps[@]+"${deps[@]}"}")" \
	"$(join "${events[@]+"${events[@]}"}")" "$(join "${errors[@]+"${errors[@]}"}")"
