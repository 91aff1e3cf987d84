#!/usr/bin/env bash
# k8s-probe.sh — a wait_policy probe for Kubernetes (SPEC §4.4.3).
#
# Prints ONE JSON object (schema/probe.schema.json) describing a wait target
# and what it depends on, read with kubectl only (no jq):
#
#   k8s-probe.sh --target crd/k0smotrondockerclusters.cluster.appthrust.io \
#                --helmrelease flux-system/capi-operator \
#                [--clustersummary NS/NAME] [--deployment NS/NAME] [--pods NS/SELECTOR]
#
#   {"target":{"kind","name","status"},
#    "dependencies":[{"kind","name","namespace","status":"Failed|Progressing|Ready|Unknown","reason","message"}],
#    "errors":[...]}
#
# Mapping:
#   HelmRelease (Flux): Stalled=True, or Ready=False with a *Failed reason
#     (InstallFailed, UpgradeFailed, ArtifactFailed, ...) -> Failed;
#     Ready=True -> Ready; Ready=Unknown or other Ready=False -> Progressing.
#   ClusterSummary (Sveltos): any feature Failed/FailedNonRetriable -> Failed;
#     all Provisioned -> Ready; else Progressing.
#   Deployment: Progressing=False with ProgressDeadlineExceeded -> Failed;
#     Available=True -> Ready; else Progressing.
#   Pods (by label selector): a container waiting in CrashLoopBackOff,
#     ImagePullBackOff, ErrImagePull, or last terminated OOMKilled -> Failed;
#     all containers ready -> Ready; else Progressing.
#
# Secret-safe: only names, kinds, statuses and reasons; messages are cut to
# 200 characters with token/password/secret values masked (waitloop redacts
# everything again before writing). Exit 0 whenever it could print the JSON.
set -u

KUBECTL=${KUBECTL:-kubectl}
target=""
deps=()
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

add_dep() { # kind ns name status reason message
	deps+=("{\"kind\":$(json_str "$1"),\"namespace\":$(json_str "$2"),\"name\":$(json_str "$3"),\"status\":$(json_str "$4"),\"reason\":$(json_str "$5"),\"message\":$(json_str "$(clean_msg "$6")")}")
}

add_error() { errors+=("$(json_str "$(clean_msg "$1")")"); }

split_ref() { # NS/NAME -> ns name (default namespace "default")
	case $1 in
	*/*) ref_ns=${1%%/*} ref_name=${1#*/} ;;
	*) ref_ns=default ref_name=$1 ;;
	esac
}

kget() { # kubectl get ... ; output in $out, stderr in $err, status returned
	local f
	f=$(mktemp)
	out=$("$KUBECTL" get "$@" 2>"$f")
	local rc=$?
	err=$(cat "$f")
	rm -f "$f"
	return $rc
}

missing_or_error() { # kind ns name — after a failed kget
	case $err in
	*NotFound* | *"not found"*) add_dep "$1" "$2" "$3" Unknown NotFound "$1 $3 does not exist (yet)" ;;
	*) add_dep "$1" "$2" "$3" Unknown QueryFailed "$err"; add_error "$err" ;;
	esac
}

probe_helmrelease() {
	split_ref "$1"
	local tpl='{{range .status.conditions}}{{.type}}{{"\t"}}{{.status}}{{"\t"}}{{.reason}}{{"\t"}}{{.message}}{{"\n"}}{{end}}'
	if ! kget helmrelease -n "$ref_ns" "$ref_name" -o go-template="$tpl"; then
		missing_or_error HelmRelease "$ref_ns" "$ref_name"
		return
	fi
	local status=Progressing reason="" message="" type st rs msg stalled=""
	while IFS=$'\t' read -r type st rs msg; do
		case $type in
		Ready)
			reason=$rs message=$msg
			case $st in
			True) status=Ready ;;
			False) case $rs in *Failed | *Failure | Failed*) status=Failed ;; *) status=Progressing ;; esac ;;
			*) status=Progressing ;;
			esac
			;;
		Stalled) [ "$st" = True ] && stalled="$rs	$msg" ;;
		esac
	done <<<"$out"
	if [ -n "$stalled" ]; then
		status=Failed reason=${stalled%%	*} message=${stalled#*	}
	fi
	add_dep HelmRelease "$ref_ns" "$ref_name" "$status" "${reason:-Unknown}" "$message"
}

probe_clustersummary() {
	split_ref "$1"
	local tpl='{{range .status.featureSummaries}}{{.featureID}}{{"\t"}}{{.status}}{{"\t"}}{{.failureMessage}}{{"\n"}}{{end}}'
	if ! kget clustersummary -n "$ref_ns" "$ref_name" -o go-template="$tpl"; then
		missing_or_error ClusterSummary "$ref_ns" "$ref_name"
		return
	fi
	local status=Ready reason="Provisioned" message="" feat st msg n=0
	while IFS=$'\t' read -r feat st msg; do
		[ -n "$feat" ] || continue
		n=$((n + 1))
		case $st in
		Failed | FailedNonRetriable) status=Failed reason="$feat$st" message=$msg ;;
		Provisioned) ;;
		*) [ "$status" = Failed ] || { status=Progressing reason="$feat$st"; } ;;
		esac
	done <<<"$out"
	[ "$n" -gt 0 ] || { status=Progressing reason=NoFeatures; }
	add_dep ClusterSummary "$ref_ns" "$ref_name" "$status" "$reason" "$message"
}

probe_deployment() {
	split_ref "$1"
	local tpl='{{range .status.conditions}}{{.type}}{{"\t"}}{{.status}}{{"\t"}}{{.reason}}{{"\t"}}{{.message}}{{"\n"}}{{end}}'
	if ! kget deployment -n "$ref_ns" "$ref_name" -o go-template="$tpl"; then
		missing_or_error Deployment "$ref_ns" "$ref_name"
		return
	fi
	local status=Progressing reason="" message="" type st rs msg
	while IFS=$'\t' read -r type st rs msg; do
		case "$type/$st" in
		Progressing/False) status=Failed reason=$rs message=$msg ;;
		Available/True) [ "$status" = Failed ] || { status=Ready reason=$rs; } ;;
		Progressing/*) [ -n "$reason" ] || { reason=$rs message=$msg; } ;;
		esac
	done <<<"$out"
	add_dep Deployment "$ref_ns" "$ref_name" "$status" "${reason:-Unknown}" "$message"
}

probe_pods() {
	split_ref "$1"
	local tpl='{{range .items}}{{.metadata.name}}{{"\t"}}{{range .status.containerStatuses}}{{if .state.waiting}}{{.state.waiting.reason}}{{else if .lastState.terminated}}{{.lastState.terminated.reason}}{{else}}-{{end}}={{.ready}};{{end}}{{"\n"}}{{end}}'
	if ! kget pods -n "$ref_ns" -l "$ref_name" -o go-template="$tpl"; then
		add_error "$err"
		return
	fi
	local name states status reason c
	while IFS=$'\t' read -r name states; do
		[ -n "$name" ] || continue
		status=Ready reason=Ready
		[ -n "$states" ] || status=Progressing reason=NoContainers
		IFS=';' read -r -a cs <<<"$states"
		for c in "${cs[@]}"; do
			case ${c%%=*} in
			CrashLoopBackOff | ImagePullBackOff | ErrImagePull | OOMKilled) status=Failed reason=${c%%=*} ;;
			*) [ "${c#*=}" = true ] || [ "$status" = Failed ] || { status=Progressing reason=${c%%=*}; } ;;
			esac
		done
		[ "$reason" = - ] && reason=NotReady
		add_dep Pod "$ref_ns" "$name" "$status" "$reason" ""
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

usage() {
	echo "usage: k8s-probe.sh --target KIND/NAME [--helmrelease NS/NAME]... [--clustersummary NS/NAME]..." >&2
	echo "                    [--deployment NS/NAME]... [--pods NS/SELECTOR]..." >&2
	exit 2
}

while [ "$#" -gt 0 ]; do
	[ "$#" -ge 2 ] || usage
	case $1 in
	--target) probe_target "$2" ;;
	--helmrelease) probe_helmrelease "$2" ;;
	--clustersummary) probe_clustersummary "$2" ;;
	--deployment) probe_deployment "$2" ;;
	--pods) probe_pods "$2" ;;
	*) usage ;;
	esac
	shift 2
done

join() { local IFS=,; printf '%s' "$*"; }
printf '{'
[ -n "$target" ] && printf '"target":%s,' "$target"
printf '"dependencies":[%s],"errors":[%s]}\n' "$(join "${deps[@]+"${deps[@]}"}")" "$(join "${errors[@]+"${errors[@]}"}")"
