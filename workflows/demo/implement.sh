#!/usr/bin/env bash
# The simulated implementer. Iteration 1 writes a HelmRelease with a typo in
# the chart name (as a hurried human or agent might). Later iterations read
# fix.md ($WAITLOOP_FIX_FILE), and when it reports "chart not found" they
# correct the chart name — the fix an agent would make from that evidence.
# Each iteration commits its change when the workspace is a git repository,
# so `git log -p` shows what every iteration did.
set -eu
mkdir -p deploy
chart=k0smotronn
if [ -s "${WAITLOOP_FIX_FILE:-}" ] && grep -q 'chart not found' "$WAITLOOP_FIX_FILE"; then
	echo "implement: fix.md says the chart was not found; correcting the chart name"
	chart=k0smotron
else
	echo "implement: writing deploy/helmrelease.yaml"
fi
cat > deploy/helmrelease.yaml <<YAML
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: k0smotron
  namespace: flux-system
spec:
  chart:
    spec:
      chart: $chart
YAML
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git add deploy/helmrelease.yaml
	git commit -q -m "iteration ${WAITLOOP_ITERATION:-?}: HelmRelease k0smotron with chart '$chart'" >/dev/null || true
fi
