#!/usr/bin/env python3
"""Generate a history workload for `waitloop stats` / `tune` tests.

    gen_history.py RUNS TRUTH.json > events.jsonl
    build/tools/store_feed history.db < events.jsonl

Writes events.jsonl-shaped lines (the runner's own event types, with
"ts_ms" for the event time) that store_feed records through the real
store, and TRUTH.json with what was planted:

- deploy/api: healthy slow waits, always met after 20..100 s (observations
  every 5 s, the state changes every 10..15 s, at most 6 observations
  without progress in a row); "p99" is its nearest-rank p99 time to met.
- crd/worst: fails most, because HelmRelease capi-operator fails
  (helmrelease-failed/capi-operator) — the worst dependency.
- crd/flaky: fails now and then because Kustomization infra fails.
- svc/db: a loop; iteration 1 sometimes stalls.  Planted premature stalls
  (threshold 3, then iteration 2 met with NO file changed) must be listed as
  suspected false aborts; genuine stalls (iteration 2 changed a file, or
  stalled again) must not.  Cross-run cases: a stall at the end of one run
  and a met wait a few minutes later in the next run (suspected: within the
  window, git cannot tell); a met wait about 30 minutes later (not suspected).
Deterministic but for the base time (fixed seed).
"""
import json
import random
import sys
import time

rng = random.Random(20261130)
runs = int(sys.argv[1])
truth_path = sys.argv[2]
# The last run starts an hour before now, so --since filters see real ages
# (--since 2d keeps about the last 94 runs, whatever the time of day).
BASE = int(time.time()) * 1000 - 3600 * 1000 - runs * 1800 * 1000
out = sys.stdout


def ev(kind, run, ts, step=None, iteration=0, attempt=0, **data):
    o = {"type": kind, "run_id": run, "ts_ms": ts, "step": step, "iteration": iteration, "attempt": attempt}
    o.update(data)
    out.write(json.dumps(o) + "\n")


def wait(run, step, it, t0, target, outcome, elapsed, obs, fps, message, phase="completion_check"):
    """obs: list of (elapsed_s, class, changed, no_progress)."""
    for seq, (el, cls, changed, np) in enumerate(obs, 1):
        ev("observation", run, t0 + int(el * 1000), step, it, 0, seq=seq, elapsed_s=el, condition_exit=1,
           **{"class": cls}, digest="%016x" % rng.getrandbits(64), changed=changed, no_progress=np,
           fingerprints=[], summary="state of %s" % target, phase=phase, target=target)
    ev("wait_finished", run, t0 + int(elapsed * 1000), step, it, 0, outcome=outcome, elapsed_s=elapsed,
       observations=len(obs), fingerprints=fps, phase=phase, target=target,
       early_abort=outcome in ("terminal_fail", "stalled"), message=message)
    return t0 + int(elapsed * 1000)


def healthy_obs(total):
    """Observations every 5 s; a change every 10..15 s; met at `total`."""
    obs, el, last_change, np = [], 5.0, 0.0, 0
    next_change = rng.choice([10, 15])
    while el < total:
        changed = el - last_change >= next_change
        if changed:
            last_change, np, next_change = el, 0, rng.choice([10, 15])
        else:
            np += 1
        obs.append((el, "retryable", changed, np))
        el += 5
    return obs


def iteration(run, step, it, t, decision, fps, files_changed):
    ev("iteration_started", run, t, step, it, max_iterations=3)
    return lambda t_end: (
        ev("git_changes", run, t_end, step, it, head_before="a" * 40, head_after="b" * 40, branch="main",
           files=[{"path": "f%d.txt" % k, "status": "modified", "insertions": 1, "deletions": 0}
                  for k in range(files_changed)]),
        ev("iteration_finished", run, t_end, step, it, decision=decision, source="wait_policy",
           reasons=[], fingerprints=fps))


truth = {"worst_dependency": "helmrelease/capi-operator", "suspected": [], "met_api": [],
         "premature_no_progress": []}
FP = "kest/control/"
prev_kind, prev_end = None, 0
for i in range(runs):
    run = "r%05d" % i
    t = BASE + i * 1800 * 1000  # one run every 30 min (about 4 days for 200 runs)
    if prev_kind == "cross_near":
        t = prev_end + 60 * 1000  # the next run starts a minute after the stall
    run_start = t
    ev("run_started", run, t, workflow="platform", file="platform.yaml", workspace="/ws", context_dir="/ws/ctx",
       pid=1, steps=4)

    # deploy/api: healthy, slow.
    total = float(rng.randint(4, 20) * 5)
    truth["met_api"].append(total)
    t = wait(run, "api", 0, t, "deploy/api", "met", total, healthy_obs(total), [],
             "met after %.0fs" % total, phase="wait") + 1000

    # crd/worst: HelmRelease capi-operator fails in 3 of 5 runs.
    if i % 5 < 3:
        t = wait(run, "crds", 0, t, "crd/worst", "terminal_fail", 5.0, [(5.0, "terminal_fail", False, 0)],
                 [FP + "crd-missing/worst", FP + "helmrelease-failed/capi-operator"],
                 "HelmRelease capi-operator Failed: chart not found", phase="wait") + 1000
    else:
        t = wait(run, "crds", 0, t, "crd/worst", "met", 10.0, [(5.0, "retryable", False, 1)], [], "met",
                 phase="wait") + 1000

    # crd/flaky: Kustomization infra fails in 1 of 10 runs.
    if i % 10 == 7:
        t = wait(run, "flaky", 0, t, "crd/flaky", "terminal_fail", 5.0, [(5.0, "terminal_fail", False, 0)],
                 [FP + "crd-missing/flaky", FP + "kustomization-failed/infra"], "Kustomization infra Failed",
                 phase="wait") + 1000
    else:
        t = wait(run, "flaky", 0, t, "crd/flaky", "met", 5.0, [(5.0, "retryable", True, 0)], [], "met",
                 phase="wait") + 1000

    # svc/db: a loop.
    kind = ("premature" if i % 25 == 3 else "genuine" if i % 25 == 9 else "twice" if i % 25 == 15
            else "cross_near" if i in (40, 120) else "cross_far" if i in (60, 140) else "ok")
    if kind in ("premature", "genuine", "twice"):
        stall_fp = [FP + "stalled/no-progress"]
        end1 = iteration(run, "db", 1, t, "incomplete", stall_fp, 1 if kind != "premature" else 2)
        te = wait(run, "db", 1, t + 500, "svc/db", "stalled", 15.0,
                  [(5.0, "retryable", False, 1), (10.0, "retryable", False, 2), (15.0, "retryable", False, 3)],
                  stall_fp, "stalled: no progress in 3 observations")
        end1(te)
        t = te + 2000
        # iteration 2: the implementer changed nothing (premature) or a file (genuine, twice)
        end2 = iteration(run, "db", 2, t, "complete" if kind != "twice" else "incomplete",
                         [] if kind != "twice" else stall_fp, 0 if kind == "premature" else 1)
        if kind == "twice":
            te = wait(run, "db", 2, t + 500, "svc/db", "stalled", 15.0,
                      [(5.0, "retryable", False, 1), (10.0, "retryable", False, 2),
                       (15.0, "retryable", False, 3)], stall_fp, "stalled again")
        else:
            te = wait(run, "db", 2, t + 500, "svc/db", "met", 10.0,
                      [(5.0, "retryable", True, 0), (10.0, "retryable", False, 1)], [], "met")
        end2(te)
        t = te + 1000
        if kind == "premature":
            truth["suspected"].append([run, 1])
            truth["premature_no_progress"].append(3)
    elif kind.startswith("cross"):
        # The last wait of this run stalls; the next run's db wait is met a few
        # minutes later (near: the next run starts a minute after) or about
        # 30 minutes later (far: the usual schedule).
        end1 = iteration(run, "db", 1, t, "incomplete", [FP + "stalled/no-progress"], 1)
        te = wait(run, "db", 1, t + 500, "svc/db", "stalled", 15.0,
                  [(5.0, "retryable", False, 1), (10.0, "retryable", False, 2), (15.0, "retryable", False, 3)],
                  [FP + "stalled/no-progress"], "stalled: no progress in 3 observations")
        end1(te)
        t = te + 1000
        if kind == "cross_near":
            truth["suspected"].append([run, 1])
            truth["premature_no_progress"].append(3)
        truth.setdefault("cross", []).append([run, kind])
    else:
        end1 = iteration(run, "db", 1, t, "complete", [], 1)
        te = wait(run, "db", 1, t + 500, "svc/db", "met", 10.0,
                  [(5.0, "retryable", True, 0), (10.0, "retryable", False, 1)], [], "met")
        end1(te)
        t = te + 1000
    ev("run_finished", run, t, status="SUCCEEDED", duration_s=(t - run_start) / 1000, exit_code=0)
    prev_kind, prev_end = kind, t

m = sorted(truth["met_api"])
truth["api_p99"] = int(m[max(1, -(-99 * len(m) // 100)) - 1])
json.dump(truth, open(truth_path, "w"), indent=1)
