# End-to-end: smaller defects of issue 16, each reproduced before its fix.
# shellcheck shell=bash
# timeout: 120
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

# Run a command with SIGINT at its default disposition (a background job of
# a non-interactive shell starts with SIGINT ignored).
SIGINT_DFL='import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])'

# 1. SIGINT during the preflight: the run is recorded CANCELLED (cli.md),
#    not missing from history.
t_begin sigint_during_preflight_recorded_cancelled
mkdir -p pf
cat > pf/pf.yaml <<'Y'
name: pf
version: "1"
timeout: 1m
preflight:
  - name: slow
    command: sleep 30
steps:
  a:
    worker: CUSTOM
    instructions: "true"
Y
(cd pf && exec python3 -c "$SIGINT_DFL" "$WL" run pf.yaml -q >o.txt 2>e.txt) &
pid=$!
for _ in $(seq 1 100); do [ -s pf/.waitloop/history.db ] && break; sleep 0.05; done
sleep 0.5
kill -INT "$pid"
wait "$pid"; rc=$?
expect_eq "$rc" 130
expect_contains pf/e.txt "waitloop: error: preflight interrupted by SIGINT"
expect_eq "$(sqlite3 pf/.waitloop/history.db 'SELECT status, exit_code, status_reason FROM runs')" \
	"CANCELLED|130|cancelled by SIGINT during the preflight"
expect_eq "$(sqlite3 pf/.waitloop/history.db "SELECT status FROM steps WHERE step = 'a'")" SKIPPED
expect_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' pf/context/_workflow.json)" CANCELLED
t_end

# 2. history/show on a read-only copy of a database (WAL without -shm).
t_begin history_show_on_readonly_wal_copy
mkdir -p rosrc ro romnt
cp pf/.waitloop/history.db rosrc/h.db
python3 - <<'PY'
import sqlite3, shutil
c = sqlite3.connect('rosrc/h.db')
c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')
c.execute("UPDATE runs SET workflow = 'only-in-wal'"); c.commit()
shutil.copy('rosrc/h.db', 'ro/h.db'); shutil.copy('rosrc/h.db-wal', 'ro/h.db-wal')
PY
if mount --bind ro romnt 2>/dev/null && mount -o remount,bind,ro romnt 2>/dev/null; then
	"$WL" history --db romnt/h.db >h.txt 2>h.err; rc=$?
	expect_eq "$rc" 0
	expect_contains h.txt only-in-wal
	id=$(sqlite3 rosrc/h.db 'SELECT id FROM runs LIMIT 1')
	"$WL" show --db romnt/h.db "${id:-2}" >s.txt 2>s.err; rc=$?
	expect_eq "$rc" 0
	expect_contains s.txt only-in-wal
	umount romnt
	t_end
else
	umount romnt 2>/dev/null
	echo "SKIP history_show_on_readonly_wal_copy: cannot make a read-only bind mount (needs root)"
fi

# 3. A notify line to a FIFO whose reader never reads is written whole or
#    not at all (a line longer than PIPE_BUF used to be cut in half): two
#    pages left in the pipe, a run_started line of ~11 KB (long paths).
t_begin notify_fifo_whole_lines
long=ws
for _ in $(seq 1 18); do long="$long/$(printf 'd%.0s' $(seq 1 200))"; done
mkdir -p "$long"
mkfifo "$T/inbox.fifo"
cat > "$long/nf.yaml" <<Y
name: nf
version: "1"
timeout: 1m
notify:
  targets:
    inbox: {type: file, path: $T/inbox.fifo}
  events: [run_started]
steps:
  a:
    worker: CUSTOM
    instructions: "true"
Y
exec 3<>"$T/inbox.fifo"          # a reader that never reads
T="$T" python3 -c 'import os, fcntl; fd = os.open(os.environ["T"] + "/inbox.fifo", os.O_WRONLY | os.O_NONBLOCK); os.write(fd, b"#" * (65536 - 8192))' 
"$WL" run "$long/nf.yaml" -w "$long" --db "$T/nf.db" --no-progress >nf.out 2>nf.err
expect_contains nf.err "the FIFO is full (its reader is not reading); line not written"
T="$T" python3 -c '
import os, fcntl, sys
fd = os.open(os.environ["T"] + "/inbox.fifo", os.O_RDONLY | os.O_NONBLOCK)
data = b""
try:
    while True:
        chunk = os.read(fd, 65536)
        if not chunk: break
        data += chunk
except BlockingIOError:
    pass
rest = data.lstrip(b"#")
sys.exit(0 if rest == b"" else 1)' || t_fail "a partial line was written to the FIFO"
exec 3>&-
t_end

# 4. A wait_policy that only sets grace: a plain step timeout is reported as
#    the step's timeout, not as "wait_policy: timeout after 0 observations".
t_begin grace_only_policy_reports_step_timeout
mkdir -p gr
cat > gr/g.yaml <<'Y'
name: g
version: "1"
timeout: 1m
steps:
  a:
    worker: CUSTOM
    instructions: sleep 30
    timeout: 1s
    wait_policy:
      grace: 500ms
Y
"$WL" run gr/g.yaml -w gr -q >gr.out 2>gr.err; rc=$?
expect_eq "$rc" 1
expect_eq "$(sqlite3 gr/.waitloop/history.db "SELECT reason FROM steps WHERE step = 'a'")" "timeout (1s)"
t_end

# 5. The metrics file is refreshed while a step runs (metrics.refresh), so
#    run_duration_seconds grows during a hang instead of staying at 0.003.
t_begin metrics_refreshed_while_step_runs
mkdir -p mx
cat > mx/m.yaml <<'Y'
name: m
version: "1"
timeout: 1m
metrics: {file: m.prom, refresh: 200ms}
steps:
  a:
    worker: CUSTOM
    instructions: sleep 3
Y
"$WL" run mx/m.yaml -w mx -q >mx.out 2>mx.err &
pid=$!
sleep 2.2
dur=$(sed -n 's/^waitloop_run_duration_seconds \([0-9.e+-]*\)$/\1/p' mx/m.prom 2>/dev/null)
step=$(sed -n 's/^waitloop_step_duration_seconds{step="a"} \([0-9.e+-]*\)$/\1/p' mx/m.prom 2>/dev/null)
wait "$pid"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) >= 1.0 else 1)' "${dur:-0}" ||
	t_fail "run_duration_seconds was '${dur}' 2 s into a 3 s step"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) >= 1.0 else 1)' "${step:-0}" ||
	t_fail "step_duration_seconds was '${step}' 2 s into a 3 s step"
t_end

# 6. retry.backoff.cap caps each delay (old name max_duration: a warning);
#    retry.max_duration is the total budget across retries.
t_begin retry_cap_and_max_duration
mkdir -p rt
cat > rt/old.yaml <<'Y'
name: old
version: "1"
timeout: 1m
steps:
  a:
    worker: CUSTOM
    instructions: "true"
    retry: {limit: 2, backoff: {duration: 100ms, max_duration: 1s}}
Y
"$WL" validate rt/old.yaml >rt1.txt 2>&1
expect_contains rt1.txt "rt/old.yaml:8:50: warning: 'max_duration' in backoff of retry of step 'a' caps each delay: it is now called 'cap'"
cat > rt/budget.yaml <<'Y'
name: budget
version: "1"
timeout: 1m
steps:
  a:
    worker: CUSTOM
    instructions: "sleep 0.3; exit 1"
    retry: {limit: 100, max_duration: 2s, backoff: {duration: 200ms, factor: 1, cap: 200ms}}
Y
"$WL" run rt/budget.yaml -w rt -q >rt2.out 2>rt2.err; rc=$?
expect_eq "$rc" 1
reason=$(sqlite3 rt/.waitloop/history.db "SELECT reason FROM steps WHERE step = 'a'")
expect_contains "$reason" "exit code 1; no retry: retry.max_duration 2s spent"
n=$(sqlite3 rt/.waitloop/history.db "SELECT attempts FROM steps WHERE step = 'a'")
{ [ "$n" -ge 2 ] && [ "$n" -le 5 ]; } || t_fail "$n attempts in a 2s budget of 0.5s attempts"
t_end

# 7. A background grandchild that ignores SIGINT and holds the output costs
#    about 2 s at the linger, not the step's whole grace (30 s here).
t_begin linger_sigint_ignoring_grandchild_bounded
mkdir -p lg
cat > lg/l.yaml <<'Y'
name: l
version: "1"
timeout: 2m
steps:
  a:
    worker: CUSTOM
    instructions: |
      sh -c 'trap "" INT; sleep 60' &
      echo started
    wait_policy: {grace: 30s}
Y
start=$(date +%s%3N)
"$WL" run lg/l.yaml -w lg -q >lg.out 2>lg.err; rc=$?
took=$(( $(date +%s%3N) - start ))
expect_eq "$rc" 0
[ "$took" -lt 15000 ] || t_fail "the linger took ${took} ms (grace 30 s; target about 2 s)"
expect_contains "$(sqlite3 lg/.waitloop/history.db "SELECT signals_sent FROM attempts WHERE step = 'a'")" SIGTERM
t_end
