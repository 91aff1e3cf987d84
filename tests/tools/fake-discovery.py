#!/usr/bin/env python3
"""A loopback stand-in for a Kubernetes API server's discovery, for
`kubectl apply --dry-run=client` in tests/e2e/test_k8s.sh.

It serves what a client dry-run needs and nothing more:
  - discovery: /api, /api/v1, /apis, /apis/<group>/<version> for v1,
    batch/v1, rbac.authorization.k8s.io/v1 and argoproj.io/v1alpha1;
  - 404 Status for every object GET (nothing exists yet, so apply "creates");
  - 404 for /openapi/* (run kubectl with --validate=false; the test checks
    the manifests' structure itself).
Anything else (a write) is answered 405 and logged: a dry run never writes.

usage: fake-discovery.py PORTFILE LOGFILE
Binds 127.0.0.1 on a free port, writes the port to PORTFILE, logs one line
per request ("METHOD PATH STATUS") to LOGFILE. Stops on SIGTERM.
"""
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {
    "v1": [
        ("configmaps", "ConfigMap", True), ("serviceaccounts", "ServiceAccount", True),
        ("namespaces", "Namespace", False), ("pods", "Pod", True),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True), ("secrets", "Secret", True),
    ],
    "batch/v1": [("jobs", "Job", True), ("cronjobs", "CronJob", True)],
    "rbac.authorization.k8s.io/v1": [
        ("roles", "Role", True), ("rolebindings", "RoleBinding", True),
        ("clusterroles", "ClusterRole", False), ("clusterrolebindings", "ClusterRoleBinding", False),
    ],
    "argoproj.io/v1alpha1": [
        ("workflows", "Workflow", True), ("workflowtemplates", "WorkflowTemplate", True),
        ("cronworkflows", "CronWorkflow", True),
    ],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def resource_list(gv):
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": [{"name": n, "singularName": k.lower(), "namespaced": ns, "kind": k, "verbs": VERBS}
                      for n, k, ns in RESOURCES[gv]],
    }


def group_list():
    groups = []
    for gv in RESOURCES:
        if "/" not in gv:
            continue
        g, v = gv.split("/")
        groups.append({"name": g, "versions": [{"groupVersion": gv, "version": v}],
                       "preferredVersion": {"groupVersion": gv, "version": v}})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def not_found(path):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server could not find the requested resource (%s)" % path,
            "reason": "NotFound", "code": 404}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.lock:
            self.server.log.write("%s %s %d\n" % (self.command, self.path, code))
            self.server.log.flush()

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                        "serverAddress": "127.0.0.1"}]})
        if path == "/apis":
            return self.send_json(200, group_list())
        if path == "/api/v1":
            return self.send_json(200, resource_list("v1"))
        if path.startswith("/apis/") and path.count("/") == 3 and path[len("/apis/"):] in RESOURCES:
            return self.send_json(200, resource_list(path[len("/apis/"):]))
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake"})
        return self.send_json(404, not_found(path))

    def refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_json(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "message": "fake-discovery: a dry run must not write", "code": 405})

    do_POST = do_PUT = do_PATCH = do_DELETE = refuse

    def log_message(self, *args):
        pass


def main():
    portfile, logfile = sys.argv[1], sys.argv[2]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.log = open(logfile, "a")
    srv.lock = threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
