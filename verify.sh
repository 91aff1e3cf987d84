. "/share/waitloop/retry.sh"
retry_with_probe --probe "/tests/e2e/fixtures/replay probe" --builtin kubernetes --target "crd/k0smotrondockerclusters.cluster.appthrust.io" --max-wait 600 --interval 200ms \
	--fingerprint-prefix kest/control --out out -- kubectl get crd "k0smotrondockerclusters.cluster.appthrust.io"
echo "rc=$?"
