# Load (the 200 waits under ASan+UBSan, the rest with the plain binary): a
# 1000-step DAG at concurrency 50, 200 concurrent waits (100 wait steps + 100
# guarded worker steps, every one with a probe), a step printing 100 MB, and
# 1 000 observations in one wait (`make test-slow`, WAITLOOP_TEST_SLOW=1:
# 1 GB and 10 000 observations). Checked structurally, never against the
# clock or an RSS figure (those are benchmarks: bench/load.sh): everything
# finishes, the concurrency limit holds, every wait's observations are in its
# wait-probe.log and in the history, nothing of a flood is lost, and no
# descriptor or zombie is left behind (counted from inside the run: a late
# step lists /proc/<runner>/fd and the runner's zombie children).
# Workspaces of the step-heavy cases are on tmpfs when there is one: on this
# machine's disk every step's file creates (_meta.json, logs) would dominate (see
# docs/benchmarks.md); the flood case writes to the test's own directory.
# timeout: 360
# slow-timeout: 1200
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

PLAIN=${WAITLOOP_PLAIN_BIN:-$ROOT/build/waitloop}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	FAST=$(mktemp -d /dev/shm/wl-load.XXXXXX)
	trap 'rm -rf "$T" "$FAST"' EXIT
else
	FAST=$T/fast
	mkdir -p "$FAST"
fi

# fds_of_runner: a bash snippet for a step/condition: how many descriptors
# its parent (the runner) has open, and how many zombie children it has.
# shellcheck disable=SC2016
probe_runner='echo "fds $(ls /proc/$PPID/fd | wc -l) zombies $(ps -o stat= --ppid $PPID | grep -c "^Z")"'

# --- 1000-step DAG, concurrency 50 -----------------------------------------
# first -> 998 middle steps in 50 columns (each depends on the one 50 before)
# -> last (depends on the last 50). first and last record the runner's fds.
t_begin load_dag_1000_steps_concurrency_50
{
	echo "name: dag1000"
	echo 'version: "1"'
	echo "timeout: 5m"
	echo "concurrency: 50"
	echo "steps:"
	echo "  first: {worker: CUSTOM, instructions: '$probe_runner > first.txt'}"
	for ((i = 0; i < 998; i++)); do
		if [ $i -lt 50 ]; then dep=first; else dep=m$((i - 50)); fi
		echo "  m$i: {worker: CUSTOM, instructions: 'true', depends_on: [$dep]}"
	done
	printf '  last: {worker: CUSTOM, instructions: %s, depends_on: [' "'$probe_runner > last.txt'"
	for ((i = 948; i < 998; i++)); do printf 'm%d%s' $i "$([ $i -lt 997 ] && echo ', ')"; done
	echo "]}"
} >dag.yaml
ws=$FAST/dag
mkdir -p "$ws"
s0=$SECONDS
# The plain binary: under ASan every fork copies the page tables of the shadow
# memory (~30 ms each here), which would make this a test of ASan's fork.
"$PLAIN" run dag.yaml -w "$ws" -q --db "$ws/h.db" >dag.out 2>dag.err
rc=$?
expect_eq "$rc" 0
expect_eq "$(grep -c '^PASS ' dag.out)" 1000
expect_contains dag.out "Workflow: SUCCEEDED"
# the concurrency limit, from the event log: running steps at any moment
peak=$(/usr/bin/python3 - "$ws/context/_workflow/events.jsonl" <<'PY'
import json, sys
running = peak = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") != "step_state":
        continue
    if e.get("status") == "RUNNING":
        running += 1
        peak = max(peak, running)
    elif e.get("status") in ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED", "INCOMPLETE"):
        running -= 1
print(peak)
PY
)
echo "  dag: $((SECONDS - s0))s, peak concurrency $peak" >&2
[ "${peak:-0}" -le 50 ] || t_fail "peak concurrency $peak > 50"
[ "${peak:-0}" -ge 10 ] || t_fail "peak concurrency $peak: the DAG did not run in parallel"
read -r _ fd0 _ z0 <"$ws/first.txt"
read -r _ fd1 _ z1 <"$ws/last.txt"
echo "  dag: runner fds first step $fd0, last step $fd1; zombies $z0 / $z1" >&2
# A leak of one descriptor per step would add ~1000. When the last step
# starts, the runner may still be closing what the steps that just ended
# held (seen: +5 with two busy loops beside it): 20 is far from both.
[ "$fd1" -le $((fd0 + 20)) ] || t_fail "descriptor leak: $fd0 fds at the first step, $fd1 at the last"
expect_eq "$z1" 0
t_end

# --- 200 concurrent waits with probes --------------------------------------
# 100 wait steps (met at their 4th observation) and 100 worker steps guarded
# by a wait_policy with a probe, all at once; the last step (after all of
# them) records the runner's fds. A guarded step runs until its guard has
# logged an observation (not for a fixed time: the runner starts the 200
# steps back to back, which keeps its loop busy for seconds under ASan); it
# polls for it without forking (read -t on an idle FIFO: 100 steps forking a
# sleep every 0.1 s would load the machine more than the runner does).
t_begin load_200_concurrent_waits_with_probes
{
	echo "name: waits200"
	echo 'version: "1"'
	echo "timeout: 5m"
	echo "steps:"
	echo "  first: {worker: CUSTOM, instructions: '$probe_runner > first.txt'}"
	for ((i = 0; i < 100; i++)); do
		cat <<EOF
  w$i:
    depends_on: [first]
    wait: {condition: 'n=\$(cat c$i 2>/dev/null || echo 0); echo \$((n + 1)) > c$i; [ \$n -ge 3 ]', target: t$i}
    wait_policy: {mode: probe_aware, interval: 500ms, max_wait: 240s, probe: 'echo "{\\"n\\": \$(cat c$i)}"'}
  g$i:
    depends_on: [first]
    worker: CUSTOM
    instructions: 'mkfifo .g$i.idle && exec 3<>.g$i.idle; for k in \$(seq 600); do [ -s context/g$i/wait-probe.log ] && exit 0; read -r -t 0.4 -u 3 _ || :; done; exit 1'
    wait_policy: {mode: probe_aware, interval: 500ms, max_wait: 280s, probe: 'echo "{\\"t\\": \$(date +%s%N)}"'}
EOF
	done
	printf '  last:\n    worker: CUSTOM\n    instructions: %s\n    depends_on: [' "'$probe_runner > last.txt'"
	for ((i = 0; i < 100; i++)); do printf 'w%d, g%d%s' $i $i "$([ $i -lt 99 ] && echo ', ')"; done
	echo "]"
} >waits.yaml
ws=$FAST/waits
mkdir -p "$ws"
s0=$SECONDS
"$WL" run waits.yaml -w "$ws" -q --db "$ws/h.db" >waits.out 2>waits.err
rc=$?
expect_eq "$rc" 0
expect_eq "$(grep -c '^PASS ' waits.out)" 202
obs=$(cat "$ws"/context/w*/wait-probe.log | wc -l)
gobs=$(cat "$ws"/context/g*/wait-probe.log 2>/dev/null | wc -l)
echo "  waits: $((SECONDS - s0))s, ${obs} observations in wait steps, ${gobs} in guarded steps" >&2
# Per step: a wait step is met at exactly its 4th observation; a guarded step
# has at least one; wait-probe.log and the observation rows of the history
# agree, and so does the waits row (but for one observation in flight when a
# guarded step ends).
/usr/bin/python3 - "$ws" <<'PY' || t_fail "observations wrong (above)"
import json, sqlite3, sys, os
ws = sys.argv[1]
db = sqlite3.connect(os.path.join(ws, "h.db"))
hist = {}
for step, n_row, n_obs in db.execute(
        "SELECT w.step, w.observations, (SELECT count(*) FROM observations o WHERE o.wait_id = w.id) FROM waits w"):
    hist.setdefault(step, []).append((n_row, n_obs))
bad = []
for i in range(100):
    for step in ("w%d" % i, "g%d" % i):
        path = os.path.join(ws, "context", step, "wait-probe.log")
        lines = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
        n = len(lines)
        if step[0] == "w":
            if n != 4 or lines[-1]["class"] != "met":
                bad.append("%s: %d observations, last %s (want 4, met)" % (step, n, lines[-1]["class"] if lines else None))
        elif n < 1:
            bad.append("%s: no observation" % step)
        if [l["seq"] for l in lines] != list(range(1, n + 1)):
            bad.append("%s: seq not 1..%d" % (step, n))
        # A guard whose step ends while a probe runs counts that observation
        # in waits.observations but logs no line for it (see the report of
        # issue 13): one in flight is accepted for guarded steps, none else.
        h = hist.get(step, [])
        if len(h) != 1 or h[0][1] != n or h[0][0] not in ((n, n + 1) if step[0] == "g" else (n,)):
            bad.append("%s: %d in wait-probe.log, history (waits.observations, rows) %s" % (step, n, h))
for b in bad[:20]:
    print("   ", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
read -r _ fd0 _ z0 <"$ws/first.txt"
read -r _ fd1 _ z1 <"$ws/last.txt"
echo "  waits: runner fds first $fd0, last $fd1; zombies $z1" >&2
# one per wait would add ~200; 20 allows for the ends still being closed
[ "$fd1" -le $((fd0 + 20)) ] || t_fail "descriptor leak: $fd0 fds before, $fd1 after"
expect_eq "$z1" 0
t_end

# --- a step printing 100 MB (1 GB in make test-slow) ----------------------
# Every byte reaches stdout.log through the runner's pipe, the last line
# intact. (The runner's peak RSS meanwhile is a benchmark: bench/load.sh.)
if [ -n "${WAITLOOP_TEST_SLOW:-}" ]; then FLOOD=1000000000; else FLOOD=100000000; fi
t_begin "load_step_prints_${FLOOD}_bytes"
cat >flood.yaml <<EOF
name: flood
version: "1"
timeout: 5m
steps:
  flood: {worker: CUSTOM, instructions: '"$TOOLS/wl-helper" flood $FLOOD'}
EOF
mkdir -p ws-flood
s0=$SECONDS
"$PLAIN" run flood.yaml -w ws-flood -q --db ws-flood/h.db >flood.out 2>flood.err
rc=$?
expect_eq "$rc" 0
size=$(stat -c %s ws-flood/context/flood/stdout.log 2>/dev/null || echo 0)
echo "  flood: $((SECONDS - s0))s, stdout.log $size bytes" >&2
expect_eq "$size" "$FLOOD"
expect_eq "$(tail -c 100 ws-flood/context/flood/stdout.log | tail -n 1 | tr -d x)" ""
rm -rf ws-flood
t_end

# --- 1 000 observations in one wait (10 000 in make test-slow) -------------
# The condition is a dash builtin-only counter (one exec per observation);
# at observation 10 and at the one before the last it records the runner's
# fds and zombies. (Peak RSS over the observations: bench/load.sh.)
if [ -n "${WAITLOOP_TEST_SLOW:-}" ]; then NOBS=10000; else NOBS=1000; fi
t_begin "load_${NOBS}_observations_one_wait"
mkdir -p "$FAST/obs"
cat >"$FAST/obs/cond.sh" <<EOF
read n < c; n=\$((n + 1)); echo \$n > c
if [ \$n -eq 10 ] || [ \$n -eq $((NOBS - 1)) ]; then
	set -- /proc/\$PPID/fd/*; fds=\$#; z=0
	for s in /proc/[0-9]*/stat; do
		read -r line < "\$s" 2>/dev/null || continue
		set -- \${line##*) }
		[ "\$1" = Z ] && [ "\$2" = "\$PPID" ] && z=\$((z + 1))
	done
	echo "fds \$fds zombies \$z" > at\$n.txt
fi
[ \$n -ge $NOBS ]
EOF
echo 0 >"$FAST/obs/c"
s0=$SECONDS
(cd "$FAST/obs" && "$PLAIN" wait --mode timeout_only --interval 1ms --max-wait 280s \
	--out "$FAST/obs/out" --quiet -- sh "$FAST/obs/cond.sh" >out.txt 2>err.txt)
rc=$?
expect_eq "$rc" 0
n=$(wc -l <"$FAST/obs/out/wait-probe.log")
echo "  $NOBS observations: $((SECONDS - s0))s" >&2
expect_eq "$n" "$NOBS"
expect_eq "$(tail -n 1 "$FAST/obs/out/wait-probe.log" | /usr/bin/python3 -c 'import json,sys; o=json.loads(sys.stdin.read()); print(o["seq"], o["class"])')" "$NOBS met"
read -r _ fd0 _ z0 <"$FAST/obs/at10.txt"
read -r _ fd1 _ z1 <"$FAST/obs/at$((NOBS - 1)).txt"
echo "  $NOBS observations: runner fds at 10: $fd0, at $((NOBS - 1)): $fd1; zombies $z0 / $z1" >&2
# Sampled from inside a running condition, the count can differ by the
# descriptors of a spawn in flight or not yet closed (up to 5 seen under
# load: pipes, the exec-error pipe); a leak would add one per observation,
# ~990 here, so a margin of 10 still catches any.
[ "$fd1" -le $((fd0 + 10)) ] || t_fail "runner descriptors grew from $fd0 to $fd1 over $NOBS observations"
expect_eq "$z1" 0
t_end
