# Load (the 200 waits under ASan+UBSan, the rest with the plain binary): a 1000-step DAG at concurrency 50, 200 concurrent waits (100 wait
# steps + 100 guarded worker steps, every one with a probe), a step printing
# 1 GB, and 10 000 observations in one wait. Checked: everything finishes,
# the concurrency limit holds, runner memory stays bounded, and no descriptor
# or zombie is left behind (counted from inside the run: a late step lists
# /proc/<runner>/fd and the runner's zombie children).
# Workspaces of the step-heavy cases are on tmpfs when there is one: on this
# machine's disk every step's _meta.json fsync would dominate (see
# docs/benchmarks.md); the 1 GB case writes to the test's own directory.
# timeout: 240
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

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
[ "$fd1" -le $((fd0 + 2)) ] || t_fail "descriptor leak: $fd0 fds at the first step, $fd1 at the last"
expect_eq "$z1" 0
t_end

# --- 200 concurrent waits with probes --------------------------------------
# 100 wait steps (met at their 4th observation) and 100 worker steps guarded
# by a wait_policy with a probe (each sleeps 6 s: the runner starts the 200
# steps back to back, which keeps its loop busy for seconds under ASan, so a
# short step could end before its first probe), all at once; the last
# step (after all of them) records the runner's fds.
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
    wait_policy: {mode: probe_aware, interval: 500ms, max_wait: 90s, probe: 'echo "{\\"n\\": \$(cat c$i)}"'}
  g$i:
    depends_on: [first]
    worker: CUSTOM
    instructions: 'sleep 6'
    wait_policy: {mode: probe_aware, interval: 500ms, max_wait: 90s, probe: 'echo "{\\"t\\": \$(date +%s%N)}"'}
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
took=$((SECONDS - s0))
expect_eq "$rc" 0
expect_eq "$(grep -c '^PASS ' waits.out)" 202
obs=$(cat "$ws"/context/w*/wait-probe.log | wc -l)
gobs=$(cat "$ws"/context/g*/wait-probe.log 2>/dev/null | wc -l)
echo "  waits: ${took}s, ${obs} observations in wait steps, ${gobs} in guarded steps" >&2
[ "$obs" -ge 400 ] || t_fail "only $obs observations in 100 wait steps (4 each expected)"
[ "$gobs" -ge 100 ] || t_fail "only $gobs probe observations in 100 guarded steps"
[ "$took" -lt 60 ] || t_fail "200 concurrent waits took ${took}s"
read -r _ fd0 _ z0 <"$ws/first.txt"
read -r _ fd1 _ z1 <"$ws/last.txt"
echo "  waits: runner fds first $fd0, last $fd1; zombies $z1" >&2
[ "$fd1" -le $((fd0 + 2)) ] || t_fail "descriptor leak: $fd0 fds before, $fd1 after"
expect_eq "$z1" 0
t_end

# --- a step printing 1 GB ---------------------------------------------------
# The plain binary, so that the peak RSS is the runner's own (not ASan's).
t_begin load_step_prints_1gb_bounded_memory
cat >flood.yaml <<EOF
name: flood
version: "1"
timeout: 5m
steps:
  flood: {worker: CUSTOM, instructions: '"$TOOLS/wl-helper" flood 1000000000'}
EOF
mkdir -p ws-flood
s0=$SECONDS
/usr/bin/time -v "$PLAIN" run flood.yaml -w ws-flood -q --db ws-flood/h.db >flood.out 2>flood.time
rc=$?
expect_eq "$rc" 0
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' flood.time)
size=$(stat -c %s ws-flood/context/flood/stdout.log 2>/dev/null || echo 0)
echo "  1 GB step: $((SECONDS - s0))s, runner peak RSS ${rss} KiB, stdout.log $size bytes" >&2
[ "${rss:-999999}" -lt 32768 ] || t_fail "runner peak RSS ${rss} KiB while a step printed 1 GB"
[ "$size" -ge 1000000000 ] || [ "$size" -gt 0 ] || t_fail "no stdout.log"
rm -rf ws-flood
t_end

# --- 10 000 observations in one wait ----------------------------------------
# The condition is a dash builtin-only counter (one exec per observation);
# at observations 10 and 9 999 it records the runner's fds and zombies.
t_begin load_10000_observations_one_wait
mkdir -p "$FAST/obs"
cat >"$FAST/obs/cond.sh" <<'EOF'
read n < c; n=$((n + 1)); echo $n > c
if [ $n -eq 10 ] || [ $n -eq 9999 ]; then
	set -- /proc/$PPID/fd/*; fds=$#; z=0
	for s in /proc/[0-9]*/stat; do
		read -r line < "$s" 2>/dev/null || continue
		set -- ${line##*) }
		[ "$1" = Z ] && [ "$2" = "$PPID" ] && z=$((z + 1))
	done
	echo "fds $fds zombies $z" > at$n.txt
fi
[ $n -ge 10000 ]
EOF
echo 0 >"$FAST/obs/c"
s0=$SECONDS
(cd "$FAST/obs" && /usr/bin/time -v "$PLAIN" wait --mode timeout_only --interval 1ms --max-wait 170s \
	--out "$FAST/obs/out" --quiet -- sh "$FAST/obs/cond.sh" >out.txt 2>time.txt)
rc=$?
took=$((SECONDS - s0))
expect_eq "$rc" 0
n=$(wc -l <"$FAST/obs/out/wait-probe.log")
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$FAST/obs/time.txt")
echo "  10000 observations: ${took}s, runner peak RSS ${rss} KiB" >&2
expect_eq "$n" 10000
[ "${rss:-999999}" -lt 16384 ] || t_fail "peak RSS ${rss} KiB over 10 000 observations"
read -r _ fd0 _ z0 <"$FAST/obs/at10.txt"
read -r _ fd1 _ z1 <"$FAST/obs/at9999.txt"
echo "  10000 observations: runner fds at 10: $fd0, at 9999: $fd1; zombies $z0 / $z1" >&2
# Sampled from inside a running condition, the count can differ by the one
# or two descriptors of a spawn in flight; a leak would add ~10 000.
[ "$fd1" -le $((fd0 + 2)) ] || t_fail "runner descriptors grew from $fd0 to $fd1 over 10 000 observations"
expect_eq "$z1" 0
t_end
