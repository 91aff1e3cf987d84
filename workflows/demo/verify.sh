#!/usr/bin/env bash
# The verify script as teams write it today: wait up to 600 s for the CRD,
# polling every second. Alone it would burn all 600 s when the HelmRelease
# has failed; under waitloop's wait_policy guard it is stopped as soon as the
# probe shows the failure.
set -u
crd=k0smotrondockerclusters.cluster.appthrust.io
for _ in $(seq 600); do
	if kubectl get crd "$crd"; then
		echo "verify: CRD $crd is installed"
		exit 0
	fi
	sleep 1
done
echo "verify: gave up waiting for $crd" >&2
exit 1
