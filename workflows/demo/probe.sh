#!/usr/bin/env bash
# Demo probe: describe the CRD wait as one JSON object (the probe contract of
# docs/wait_policy.md): the target and the HelmRelease that installs it.
set -u
crd=k0smotrondockerclusters.cluster.appthrust.io
if kubectl get crd "$crd" >/dev/null 2>&1; then target=Ready; else target=NotFound; fi
hr=$(kubectl get helmrelease k0smotron -n flux-system -o json 2>/dev/null) || hr=""
field() { printf '%s' "$hr" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
case "$(field status)" in
False) status=Failed ;;
True) status=Ready ;;
*) status=Progressing ;;
esac
[ -n "$hr" ] || status=Missing
printf '{"target":{"kind":"CustomResourceDefinition","name":"%s","status":"%s"},' "$crd" "$target"
printf '"dependencies":[{"kind":"HelmRelease","name":"k0smotron","namespace":"flux-system","status":"%s","reason":"%s","message":"%s"}]}\n' \
	"$status" "$(field reason)" "$(field message)"
