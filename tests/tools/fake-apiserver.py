#!/usr/bin/env python3
"""A loopback fake Kubernetes API server for the kstatus corpus (tests/e2e/test_kstatus.sh).

Enough of the API for the real `kubectl get` (legacy discovery, /version, GET of
one object, lists with simple selectors) over scripted object sequences.

    fake-apiserver.py --port-file PORTFILE [--log LOG]

Control (plain HTTP, same port):
    POST /_scenario   body: a scenario (JSON, below); resets the clock
    GET  /_clock      the current clock (condition requests so far)

Time is counted in observations: every GET of an object or list whose path
starts with /c (the kubeconfig context "cond" points there: the wait's
condition) advances the clock by one. A request sees frame `clock` (1-based;
clock 0, before the first condition, counts as 1), so a scenario is written
per observation whatever the probe asks how often.

Scenario:
    {"objects": {"<resource>/<namespace>/<name>": [FRAME, ...]},   namespace "" = cluster-scoped
     "lists":   {"<resource>/<namespace>": [FRAME, ...]}}           FRAME "object" is the whole List
FRAME: {"n": observations (default 1; the last frame lasts forever),
        one of: "object": {...} | "status": 404|403|401|500|503 (+ "message") | "down": seconds}
"down": the first request in that observation gets its connection closed and
the server stops listening for that many seconds (connection refused); later
requests in the same observation get 503.
Strings "{{now}}", "{{now-30s}}", "{{start}}", "{{start+5s}}" in objects become
RFC 3339 times (start = when the scenario was loaded).
An object or list not in the scenario is 404 (lists: empty).
"""
import argparse
import copy
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (group, version, resource, kind, namespaced, shortNames)
RESOURCES = [
    ("", "v1", "pods", "Pod", True, ["po"]),
    ("", "v1", "services", "Service", True, ["svc"]),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ["pvc"]),
    ("", "v1", "events", "Event", True, ["ev"]),
    ("", "v1", "configmaps", "ConfigMap", True, ["cm"]),
    ("", "v1", "namespaces", "Namespace", False, ["ns"]),
    ("apps", "v1", "deployments", "Deployment", True, ["deploy"]),
    ("apps", "v1", "statefulsets", "StatefulSet", True, ["sts"]),
    ("apps", "v1", "daemonsets", "DaemonSet", True, ["ds"]),
    ("apps", "v1", "replicasets", "ReplicaSet", True, ["rs"]),
    ("batch", "v1", "jobs", "Job", True, []),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, ["crd", "crds"]),
    ("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease", True, ["hr"]),
    ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization", True, ["ks"]),
    ("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository", True, ["gitrepo"]),
    ("source.toolkit.fluxcd.io", "v1", "helmrepositories", "HelmRepository", True, ["helmrepo"]),
    ("source.toolkit.fluxcd.io", "v1", "helmcharts", "HelmChart", True, ["hc"]),
    ("source.toolkit.fluxcd.io", "v1beta2", "ocirepositories", "OCIRepository", True, ["ocirepo"]),
    ("cert-manager.io", "v1", "certificates", "Certificate", True, ["cert", "certs"]),
    ("cert-manager.io", "v1", "issuers", "Issuer", True, []),
    ("cert-manager.io", "v1", "clusterissuers", "ClusterIssuer", False, []),
    ("config.projectsveltos.io", "v1beta1", "clustersummaries", "ClusterSummary", True, []),
]
BY_RESOURCE = {r[2]: r for r in RESOURCES}

STATE = {"scenario": {"objects": {}, "lists": {}}, "clock": 0, "start": time.time(), "down_until": 0.0}
LOCK = threading.Lock()
LOG = None


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


TIME_RE = re.compile(r"^\{\{(now|start)(?:([+-])(\d+)s)?\}\}$")


def fill_times(v, now, start):
    if isinstance(v, dict):
        return {k: fill_times(x, now, start) for k, x in v.items()}
    if isinstance(v, list):
        return [fill_times(x, now, start) for x in v]
    if isinstance(v, str):
        m = TIME_RE.match(v)
        if m:
            base = now if m.group(1) == "now" else start
            off = int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
            return rfc3339(base + off)
    return v


def frame_at(frames, clock):
    """The frame for observation `clock` (1-based)."""
    obs = max(clock, 1)
    seen = 0
    for f in frames:
        seen += int(f.get("n", 1))
        if obs <= seen:
            return f
    return frames[-1]


def status_body(code, message, reason=None):
    reasons = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               409: "Conflict", 500: "InternalError", 503: "ServiceUnavailable"}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason or reasons.get(code, "InternalError"), "code": code}


def discovery(path):
    if path == "/version":
        return {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake", "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
    if path == "/apis":
        groups = {}
        for g, v, *_ in RESOURCES:
            if g:
                groups.setdefault(g, [])
                if v not in groups[g]:
                    groups[g].append(v)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
             "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
            for g, vs in groups.items()]}
    m = re.match(r"^/api/(v1)$", path) or re.match(r"^/apis/([^/]+/[^/]+)$", path)
    if m:
        gv = m.group(1)
        g, v = ("", gv) if "/" not in gv else gv.split("/", 1)
        res = [{"name": r, "singularName": k.lower(), "namespaced": ns, "kind": k,
                "verbs": ["get", "list", "watch"], "shortNames": sn}
               for (gg, vv, r, k, ns, sn) in RESOURCES if gg == g and vv == v]
        if not res:
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}
    return None


def parse_object_path(path):
    """(resource, namespace, name-or-None) of a GET path, or None."""
    m = re.match(r"^/api/v1/(?:namespaces/([^/]+)/)?([^/]+)(?:/([^/]+))?$", path)
    if not m:
        m = re.match(r"^/apis/[^/]+/[^/]+/(?:namespaces/([^/]+)/)?([^/]+)(?:/([^/]+))?$", path)
    if not m:
        return None
    ns, resource, name = m.group(1) or "", m.group(2), m.group(3)
    if resource not in BY_RESOURCE:
        return None
    if resource == "namespaces" and name is None and ns:
        return None
    return resource, ns, name


def select(items, query):
    """Honour fieldSelector involvedObject.name/kind (events) and labelSelector k=v."""
    out = []
    fs = dict(kv.split("=", 1) for kv in query.get("fieldSelector", "").split(",") if "=" in kv)
    ls = dict(kv.split("=", 1) for kv in query.get("labelSelector", "").split(",") if "=" in kv)
    for it in items:
        ok = True
        for k, v in fs.items():
            cur = it
            for part in k.split("."):
                cur = cur.get(part) if isinstance(cur, dict) else None
            ok &= cur == v
        labels = it.get("metadata", {}).get("labels", {}) or {}
        for k, v in ls.items():
            ok &= labels.get(k) == v
        if ok:
            out.append(it)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.path != "/_scenario":
            return self.send_json(404, status_body(404, "not found"))
        sc = json.loads(body)
        with LOCK:
            STATE["scenario"] = {"objects": sc.get("objects", {}), "lists": sc.get("lists", {})}
            STATE["clock"] = 0
            STATE["start"] = time.time()
            STATE["down_until"] = 0.0
            STATE["downed_at"] = None
        self.send_json(200, {"ok": True})

    def do_GET(self):
        raw_path, _, qs = self.path.partition("?")
        query = dict(kv.split("=", 1) for kv in qs.split("&") if "=" in kv)
        query = {k: re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), v) for k, v in query.items()}
        cond = raw_path == "/c" or raw_path.startswith("/c/")
        path = raw_path[2:] if cond else raw_path
        path = path or "/"
        if path == "/_clock":
            return self.send_json(200, {"clock": STATE["clock"]})
        d = discovery(path)
        if d is not None:
            return self.send_json(200, d)
        parsed = parse_object_path(path)
        if not parsed:
            return self.send_json(404, status_body(404, f"the server could not find the requested resource ({path})"))
        resource, ns, name = parsed
        if resource == "namespaces" and name:   # every namespace exists
            return self.send_json(200, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                                        "status": {"phase": "Active"}})
        with LOCK:
            if cond:
                STATE["clock"] += 1
            clock = STATE["clock"]
            sc = STATE["scenario"]
            start = STATE["start"]
            if name is None:
                frames = sc["lists"].get(f"{resource}/{ns}")
            else:
                frames = sc["objects"].get(f"{resource}/{ns}/{name}")
            frame = frame_at(frames, clock) if frames else None
        if LOG:
            with open(LOG, "a") as f:
                f.write(json.dumps({"t": round(time.time() - start, 3), "clock": clock, "cond": cond,
                                    "path": path, "frame": (frames.index(frame) if frame else None)}) + "\n")
        g, v, _, kind, _, _ = BY_RESOURCE[resource]
        gr = f"{resource}.{g}" if g else resource
        if frame is None:
            if name is None:
                return self.send_json(200, {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"},
                                            "items": []})
            return self.send_json(404, status_body(404, f'{gr} "{name}" not found'))
        if "down" in frame:
            with LOCK:
                first = STATE.get("downed_at") != clock
                STATE["downed_at"] = clock
            if first:
                go_down(float(frame["down"]))
                self.close_connection = True
                return
            # back up, still in that observation: starting, not serving yet
            return self.send_json(503, status_body(503, "the server is currently unable to handle the request"))
        if "status" in frame:
            code = int(frame["status"])
            msg = frame.get("message") or {
                403: f'{gr} "{name}" is forbidden: User "system:serviceaccount:ci:waitloop" cannot get resource "{resource}"',
                401: "Unauthorized",
                404: f'{gr} "{name}" not found',
                503: "the server is currently unable to handle the request",
            }.get(code, "Internal error occurred")
            return self.send_json(code, status_body(code, msg))
        obj = fill_times(copy.deepcopy(frame["object"]), time.time(), start)
        if name is None and isinstance(obj, dict) and "items" in obj:
            obj["items"] = select(obj["items"], query)
        self.send_json(200, obj)


SERVER = {}


def go_down(seconds):
    """Stop accepting connections for `seconds` (clients get connection refused)."""
    with LOCK:
        STATE["down_until"] = time.time() + seconds
    SERVER["sock_down"].set()


def serve(port_file):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    SERVER["sock_down"] = threading.Event()
    while True:
        t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        SERVER["sock_down"].wait()
        SERVER["sock_down"].clear()
        httpd.shutdown()
        httpd.server_close()
        while time.time() < STATE["down_until"]:
            time.sleep(0.05)
        # the same port again
        for _ in range(100):
            try:
                httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                httpd.daemon_threads = True
                break
            except OSError:
                time.sleep(0.05)


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    a = ap.parse_args()
    LOG = a.log
    socket.setdefaulttimeout(10)
    serve(a.port_file)


if __name__ == "__main__":
    sys.exit(main())
