# End-to-end: the runner's writes are per turn of its loop, not per event
# (issue 19) -- events.jsonl lines of a turn in one write(2), counted with
# strace (structure, not time: the same on a busy machine) -- and the turn
# keeps its guarantees: every line is there and whole, and a SIGKILL loses
# at most the current turn (docs/execution.md "Events").
# timeout: 180
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

# traced NAME YAML: run YAML under strace (the runner and its threads --
# the history is written by one of them, store.h -- and the steps, which
# write nothing: their write()s and fcntl()s, with the file behind each
# descriptor) in workspace ws-NAME
traced() {
	mkdir -p "ws-$1"
	# LeakSanitizer cannot run under ptrace: leaks are checked by every other test
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -y -o "$1.all" -e trace=write,fcntl \
		"$WL" run "$2" -w "ws-$1" -q --no-progress --db "ws-$1/h.db" >"$1.out" 2>&1 ||
		t_fail "run $1 failed: $(tail -n 3 "$1.out")"
	sed 's/^[0-9][0-9]* *//' "$1.all" >"$1.strace"
}
ev_writes() { grep -c '^write([0-9]*<[^>]*/_workflow/events.jsonl>' "$1.strace"; }
# history write transactions: SQLite takes the WAL write lock (byte 120 of
# the -shm file) once per BEGIN IMMEDIATE
db_commits() { grep -c '^fcntl([0-9]*<[^>]*-shm>, F_SETLK, {l_type=F_WRLCK, l_whence=SEEK_SET, l_start=120,' "$1.strace"; }

# every line parses, one per event: 5 per step (PENDING, RUNNING,
# attempt_started, attempt_finished, SUCCEEDED) + run_started/run_finished
lines_whole() { # FILE STEPS
	python3 - "$1" "$2" <<'PY' || t_fail "$1: lines not whole or missing"
import json, sys
lines = open(sys.argv[1]).read().split('\n')
assert lines[-1] == '', 'no newline at the end'
evs = [json.loads(l) for l in lines[:-1]]
assert len(evs) == 5 * int(sys.argv[2]) + 2, len(evs)
assert evs[0]['type'] == 'run_started' and evs[-1]['type'] == 'run_finished', (evs[0], evs[-1])
PY
}

# --- a chain: one turn per step, one events.jsonl write per turn ----------
t_begin events_jsonl_one_write_per_turn_chain
if can_strace; then
	gen_true_steps 10 0 >c10.yaml
	gen_true_steps 30 0 >c30.yaml
	traced c10 c10.yaml
	traced c30 c30.yaml
	# per step = (30-step run - 10-step run) / 20: start and end cancel out.
	# A chain's turn ends one step and starts the next; before, each of its
	# five events was a write of its own.
	per=$((($(ev_writes c30) - $(ev_writes c10)) / 20))
	expect_eq "events.jsonl writes/step $per" "events.jsonl writes/step 1"
	lines_whole ws-c30/context/_workflow/events.jsonl 30
fi
t_end

# --- a chain: one history commit per step ---------------------------------
t_begin history_one_commit_per_chain_step
# A short step's turn: the previous step's end, this one's RUNNING, its
# attempt_started and its process group -- committed at the spawn
# (store_groups_started), nothing left for a second commit at the turn's
# end (attempt_started came after the spawn and made one: 2 per step).
if can_strace; then
	per=$((($(db_commits c30) - $(db_commits c10)) / 20))
	expect_eq "history commits/step $per" "history commits/step 1"
	expect_eq "$(sqlite3 ws-c30/h.db "SELECT count(*) FROM attempts WHERE finished_at IS NOT NULL AND started_at <= finished_at")" 30
	expect_eq "$(sqlite3 ws-c30/h.db "SELECT count(*) FROM process_groups WHERE ended_at IS NOT NULL")" 30
fi
t_end

# --- independent steps: all started in one turn, one write for it ---------
t_begin events_jsonl_one_write_per_turn_parallel
if can_strace; then
	gen_true_steps 40 1 >p40.yaml
	traced p40 p40.yaml
	# the start turn (40 x PENDING, RUNNING, attempt_started) is one write;
	# the ends come in at most one turn per step; plus the end of the run
	n=$(ev_writes p40)
	[ "$n" -le 42 ] || t_fail "events.jsonl writes for 40 parallel steps: $n (want <= 42; one per event was 202)"
	lines_whole ws-p40/context/_workflow/events.jsonl 40
fi
t_end

# --- a SIGKILL loses at most the current turn's lines ---------------------
t_begin events_jsonl_sigkill_keeps_finished_turns
# Step b kills the runner (its parent) while it sleeps: the turns before
# were written -- a's whole life, b's start -- and no line is torn.
cat >kill.yaml <<'EOF'
name: kill
version: "1"
timeout: 5m
steps:
  a:
    worker: CUSTOM
    instructions: "true"
  b:
    worker: CUSTOM
    instructions: sleep 0.5; kill -KILL "$PPID"; sleep 2
    depends_on: [a]
EOF
mkdir -p wsk
"$WL" run kill.yaml -w wsk -q --no-progress --db wsk/h.db >k.out 2>&1
expect_eq "$?" 137
python3 - wsk/context/_workflow/events.jsonl <<'PY' || t_fail "events.jsonl after the SIGKILL: $(cat wsk/context/_workflow/events.jsonl)"
import json, sys
text = open(sys.argv[1]).read()
assert text.endswith('\n')
evs = [(e['type'], e.get('step'), e.get('status')) for e in map(json.loads, text.splitlines())]
for want in [('run_started', None, None), ('step_state', 'a', 'SUCCEEDED'), ('attempt_finished', 'a', None),
             ('step_state', 'b', 'RUNNING'), ('attempt_started', 'b', None)]:
    assert want in evs, want
assert ('run_finished', None, None) not in evs
PY
t_end

# --- a notification is sent after its event's line is written ------------
t_begin events_jsonl_written_before_a_notification
# run_started is notified in the run's first turn, which then starts 60
# steps: the command target looks for the event's line in events.jsonl at
# once. The claim writes the turn's lines so far (as it commits the history),
# so the line is there -- not only at the end of that long turn.
mkdir -p wsn
cat >wsn/look.sh <<'EOF2'
grep -c '"type":"run_started"' context/_workflow/events.jsonl >seen.txt
EOF2
{
	gen_true_steps 60 1
	echo "notify:"
	echo "  targets:"
	echo "    look: {type: command, command: sh ./look.sh, timeout: 20s}"
	echo "  events: [run_started]"
} >n60.yaml
"$WL" run n60.yaml -w wsn -q --no-progress --db wsn/h.db >n.out 2>&1 || t_fail "run failed: $(tail -n 3 n.out)"
expect_eq "$(cat wsn/seen.txt 2>/dev/null)" 1
t_end
