# The Kubernetes and Argo manifests of docs/kubernetes.md: the real
# `kubectl apply --dry-run=client` accepts them against a loopback API
# server serving discovery (tests/tools/fake-discovery.py); their structure
# is what the page promises (read-only workflow, writable emptyDir workspace,
# deadlines, backoffLimit 0, RBAC get/list on the watched kinds only); and
# the ConfigMap's workflow runs the way the Job runs it: as uid 10001, from a
# read-only ConfigMap-like directory, in a separate writable workspace.
# timeout: 180
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

DOC=$ROOT/docs/kubernetes.md
PY=/usr/bin/python3
chmod 755 "$T"

# manifest NAME -> the YAML block after "<!-- manifest: NAME -->"
manifest() {
	awk -v m="<!-- manifest: $1 -->" '
		$0 == m { want = 1; next }
		want && /^```yaml$/ { on = 1; next }
		on && /^```$/ { exit }
		on { print }' "$DOC"
}
for m in configmap rbac job argo; do
	manifest "$m" >"$m.yaml"
	[ -s "$m.yaml" ] || echo "  [setup] no manifest '$m' in docs/kubernetes.md" >&2
done

t_begin k8s_manifests_client_dry_run
if ! command -v kubectl >/dev/null; then
	echo "SKIP k8s_manifests_client_dry_run: kubectl not installed"
else
	"$PY" "$ROOT/tests/tools/fake-discovery.py" "$T/port" "$T/api.log" &
	api=$!
	for _ in $(seq 1 100); do [ -s "$T/port" ] && break; sleep 0.1; done
	port=$(cat "$T/port" 2>/dev/null)
	cat >kubeconfig <<EOF
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://127.0.0.1:$port"}}]
users: [{name: test, user: {token: not-a-secret}}]
contexts: [{name: fake, context: {cluster: fake, user: test, namespace: default}}]
current-context: fake
EOF
	dry() { timeout 60 kubectl --kubeconfig "$T/kubeconfig" apply --dry-run=client --validate=false "$@"; }
	dry -f configmap.yaml -f rbac.yaml -f job.yaml -f argo.yaml >dry.out 2>dry.err || { t_fail "kubectl apply --dry-run=client failed:"; cat dry.err >&2; }
	expect_eq "$(sort dry.out | tr '\n' ';')" \
		"clusterrole.rbac.authorization.k8s.io/waitloop-reader created (dry run);clusterrolebinding.rbac.authorization.k8s.io/waitloop-reader created (dry run);configmap/crd-verify-workflow created (dry run);job.batch/crd-verify created (dry run);serviceaccount/waitloop-reader created (dry run);workflowtemplate.argoproj.io/deploy-and-verify created (dry run);"
	# it really asked the server: discovery of every group, then each object
	for p in "GET /apis/batch/v1" "GET /apis/argoproj.io/v1alpha1" "GET /apis/rbac.authorization.k8s.io/v1" \
		"GET /apis/batch/v1/namespaces/default/jobs/crd-verify 404"; do
		grep -q "^$p" api.log || t_fail "kubectl did not request '$p'"
	done
	grep -qv '^GET ' api.log && t_fail "a dry run wrote to the API server: $(grep -v '^GET ' api.log | head -n 1)"
	# the check has teeth: a kind the server does not serve is rejected
	sed 's#apiVersion: batch/v1#apiVersion: batch/v9#' job.yaml >bad-job.yaml
	if dry -f bad-job.yaml >/dev/null 2>bad.err; then t_fail "kubectl accepted batch/v9"; fi
	expect_contains bad.err 'no matches for kind "Job" in version "batch/v9"'
	kill "$api" 2>/dev/null
	wait "$api" 2>/dev/null
	t_end
fi

t_begin k8s_manifests_structure
"$PY" - configmap.yaml rbac.yaml job.yaml argo.yaml >struct.out 2>&1 <<'PY' || { t_fail "manifest structure:"; cat struct.out >&2; }
import re, sys, yaml
cm, rbac, job, argo = (list(yaml.safe_load_all(open(f))) for f in sys.argv[1:5])
cm, job, argo = cm[0], job[0], argo[0]
wf = yaml.safe_load(cm["data"]["crd-wait.yaml"])
def secs(d):
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", d) if u != "ms")
def check_pod(pod, mounts, args, where):
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for m in mounts:
        assert m["name"] in vols, "%s: mount %s has no volume" % (where, m["name"])
    by_path = {m["mountPath"]: m for m in mounts}
    wfile = args[args.index("run") + 1]
    wmount = max((p for p in by_path if wfile.startswith(p + "/")), key=len)
    assert by_path[wmount].get("readOnly") is True, "%s: workflow mount not read-only" % where
    assert "configMap" in vols[by_path[wmount]["name"]], "%s: workflow not from the ConfigMap" % where
    assert vols[by_path[wmount]["name"]]["configMap"]["name"] == cm["metadata"]["name"]
    ws = args[args.index("-w") + 1]
    assert ws in by_path and not by_path[ws].get("readOnly"), "%s: workspace %s not a writable mount" % (where, ws)
    v = vols[by_path[ws]["name"]]
    assert "emptyDir" in v or "persistentVolumeClaim" in v, "%s: workspace is not an emptyDir/PVC" % where
    inside = lambda a, b: a == b or a.startswith(b + "/")
    assert not inside(wmount, ws) and not inside(ws, wmount), "%s: workspace and workflow overlap" % where
# Job
spec = job["spec"]; pod = spec["template"]["spec"]; c = pod["containers"][0]
assert spec["backoffLimit"] == 0
assert spec["activeDeadlineSeconds"] > secs(wf["timeout"]) + 60, "activeDeadlineSeconds not above the workflow timeout"
assert pod["restartPolicy"] == "Never"
check_pod(pod, c["volumeMounts"], c["args"], "job")
assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
if c.get("securityContext", {}).get("readOnlyRootFilesystem"):
    assert "/tmp" in [m["mountPath"] for m in c["volumeMounts"]], "read-only root without a writable /tmp"
# RBAC: the Job's ServiceAccount, get/list only, on exactly the kinds the probe reads
sa = [d for d in rbac if d["kind"] == "ServiceAccount"][0]["metadata"]["name"]
assert pod["serviceAccountName"] == sa
role = [d for d in rbac if d["kind"] == "ClusterRole"][0]
binding = [d for d in rbac if d["kind"] == "ClusterRoleBinding"][0]
assert binding["roleRef"]["name"] == role["metadata"]["name"] and binding["subjects"][0]["name"] == sa
got = set()
for r in role["rules"]:
    assert sorted(r["verbs"]) == ["get", "list"], r
    for g in r["apiGroups"]:
        for res in r["resources"]:
            got.add((g, res))
probe = wf["steps"]["crd-ready"]["wait_policy"]["probe"]
want = {("apiextensions.k8s.io", "customresourcedefinitions")}
if "--helmrelease" in probe: want.add(("helm.toolkit.fluxcd.io", "helmreleases"))
if "--deployment" in probe: want.add(("apps", "deployments"))
if "--pods" in probe: want.add(("", "pods"))
assert got == want, "RBAC %s, probe needs %s" % (sorted(got), sorted(want))
# Argo
aspec = argo["spec"]
t = [x for x in aspec["templates"] if "container" in x][0]
pod = {"volumes": aspec.get("volumes", []) + t.get("volumes", [])}
check_pod(pod, t["container"]["volumeMounts"], t["container"]["args"], "argo")
assert t["activeDeadlineSeconds"] > secs(wf["timeout"]), "argo template deadline"
assert aspec["serviceAccountName"] == sa
assert "exitCode) == 1" in t["retryStrategy"]["expression"]
PY
t_end

# ---- the Job's run, for real: workflow from a read-only ConfigMap-like
# directory (..data symlinks, as the kubelet lays it out), workspace an empty
# writable directory, uid 10001, the image's install root.
R=$T/root
U=$R/usr/local
make -s -C "$ROOT" -o build/waitloop install DESTDIR="$R" PREFIX=/usr/local >install.out 2>&1 || t_fail "make install failed"
mkdir -p "$T/workflow/..2026_11_30_00_00_00.1" "$T/work" "$T/kbin"
"$PY" -c 'import sys,yaml; sys.stdout.write(yaml.safe_load(open(sys.argv[1]))["data"]["crd-wait.yaml"])' configmap.yaml |
	sed "s#/usr/local/#$U/#g" >"$T/workflow/..2026_11_30_00_00_00.1/crd-wait.yaml"
ln -s ..2026_11_30_00_00_00.1 "$T/workflow/..data"
ln -s ..data/crd-wait.yaml "$T/workflow/crd-wait.yaml"
chmod 555 "$T/workflow/..2026_11_30_00_00_00.1" "$T/workflow"
chmod 444 "$T/workflow/..2026_11_30_00_00_00.1/crd-wait.yaml"
cp "$ROOT/tests/fixtures/image/kubectl" "$T/kbin/kubectl"
echo failed >"$T/cluster"
chmod 644 "$T/cluster"
job_args=$("$PY" -c 'import sys,yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["args"]))' job.yaml)
expect_eq "$job_args" "run /workflow/crd-wait.yaml -w /work --no-progress"
as_job() { # run as the image's user, like the pod
	setpriv --reuid=10001 --regid=10001 --clear-groups env HOME=/nonexistent FAKE_CLUSTER="$T/cluster" \
		PATH="$T/kbin:$PATH" "$U/bin/waitloop" "$@"
}

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "SKIP k8s_job_run_read_only_workflow: needs root and setpriv to run as uid 10001"
	echo "SKIP k8s_job_workspace_on_the_configmap: needs root and setpriv to run as uid 10001"
else
	chown 10001:10001 "$T/work"

	t_begin k8s_job_run_read_only_workflow
	# shellcheck disable=SC2046 # the Job's args, with its mount paths
	as_job $(echo "$job_args" | sed "s#/workflow/#$T/workflow/#; s# /work # $T/work #") >job.out 2>job.err
	expect_eq "$?" 1
	expect_contains job.out "FAIL  crd-ready — wait: terminal_fail"
	expect_contains job.err "kest/control/helmrelease-failed/capi-operator"
	[ -f "$T/work/context/crd-ready/wait-failure.json" ] || t_fail "no wait-failure.json in the workspace"
	[ -f "$T/work/.waitloop/history.db" ] || t_fail "no history in the workspace"
	expect_eq "$(find "$T/workflow/" -newer "$T/cluster" | wc -l)" 0
	expect_eq "$(stat -c %u "$T/work/context")" 10001
	# a healthy cluster: the same Job succeeds
	echo ready >"$T/cluster"
	as_job run "$T/workflow/crd-wait.yaml" -w "$T/work" --no-progress >job2.out 2>job2.err
	expect_eq "$?" 0
	expect_contains "$(as_job history -w "$T/work" --status failed,succeeded)" "crd-wait"
	t_end

	t_begin k8s_job_workspace_on_the_configmap
	# the old manifest's mistake: the read-only ConfigMap as the workspace
	as_job run "$T/workflow/crd-wait.yaml" -w "$T/workflow" --no-progress >bad.out 2>bad.err
	expect_eq "$?" 2
	expect_contains bad.err "Permission denied"
	expect_contains bad.err "waitloop: hint: the workspace '$T/workflow' is not writable (Permission denied)"
	expect_contains bad.err "run with -w on a writable directory (in Kubernetes an emptyDir,"
	t_end
fi
