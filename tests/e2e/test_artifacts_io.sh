# End-to-end: what the runner writes per step, and when (issue 19): logs
# created at their first byte, one directory and one final _meta.json per
# short step, one history transaction per loop turn that survives a SIGKILL.
# timeout: 120
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

# ---------------------------------------------------------------------------
t_begin logs_created_at_first_byte
cat >logs.yaml <<'EOF'
name: logs
version: "1"
timeout: 5m
steps:
  silent:
    worker: CUSTOM
    instructions: "true"
  out-only:
    worker: CUSTOM
    instructions: echo hello
  err-only:
    worker: CUSTOM
    instructions: echo oops >&2
  both:
    worker: CUSTOM
    instructions: echo a; echo b >&2
    depends_on: [silent, out-only, err-only]
EOF
expect_rc 0 "$WL" run logs.yaml -w . -q --no-progress --db h.db >run.out 2>run.err
c=context
for f in silent/stdout.log silent/stderr.log out-only/stderr.log err-only/stdout.log; do
	[ -e "$c/$f" ] && t_fail "$f exists (a silent stream must leave no file)"
done
expect_eq "$(cat "$c/out-only/stdout.log" 2>/dev/null)" hello
expect_eq "$(cat "$c/err-only/stderr.log" 2>/dev/null)" oops
expect_eq "$(cat "$c/both/stdout.log" "$c/both/stderr.log" 2>/dev/null | tr '\n' ' ')" "a b "
# every step has its directory and its final _meta.json
for s in silent out-only err-only both; do
	expect_eq "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$c/$s/_meta.json" 2>/dev/null)" SUCCEEDED
done
expect_not_contains run.err "warning"
t_end

# ---------------------------------------------------------------------------
t_begin log_that_cannot_be_created_is_reported
# The step's stdout.log is a directory: the output still reaches the run,
# the missing log is named at the end, and the step fails: a lost log never
# turns into a pass (issue 16, docs/execution.md "Write errors").
cat >blocked.yaml <<'EOF'
name: blocked
version: "1"
timeout: 5m
steps:
  talk:
    worker: CUSTOM
    instructions: echo spoken
EOF
mkdir -p bctx/talk/stdout.log
expect_rc 1 "$WL" run blocked.yaml -w . --context bctx --no-progress --db hb.db -v >b.out 2>b.err
expect_contains b.out "output log lost"
expect_contains b.err "cannot open"
expect_contains b.err "bctx/talk/stdout.log"
expect_contains b.err "Is a directory"
t_end

# ---------------------------------------------------------------------------
t_begin sigkill_loses_at_most_the_current_turn
# Step b kills the runner (its parent) with SIGKILL while it runs. Every turn
# before has been committed: a's whole life, the run, b's start. The
# database is consistent, and history then marks the run CRASHED.
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
"$WL" run kill.yaml -w . --context kctx -q --no-progress --db hk.db >k.out 2>k.err
rc=$?
expect_eq "$rc" 137
q() { sqlite3 hk.db "$1"; }
expect_eq "$(q 'PRAGMA integrity_check')" ok
expect_eq "$(q "SELECT status FROM steps WHERE step = 'a'")" SUCCEEDED
expect_eq "$(q "SELECT status FROM steps WHERE step = 'b'")" RUNNING
expect_eq "$(q "SELECT count(*) FROM attempts WHERE step = 'b' AND finished_at IS NULL")" 1
expect_eq "$(q "SELECT status FROM runs")" RUNNING
"$WL" history --db hk.db >hist.out 2>&1 || t_fail "history failed"
expect_eq "$(q "SELECT status FROM runs")" CRASHED
t_end

# ---------------------------------------------------------------------------
t_begin sigkill_before_the_first_wait_keeps_the_start
# The run's first events (run_started, the first step's start) happen
# before the runner's loop first waits; they are committed before that wait,
# so a SIGKILL while the only step sleeps silently still finds them.
cat >first.yaml <<'EOF2'
name: first
version: "1"
timeout: 5m
steps:
  sleeper:
    worker: CUSTOM
    instructions: echo $$ >sleeper.pid; exec sleep 30
EOF2
"$WL" run first.yaml -w . --context fctx -q --no-progress --db hf.db >f.out 2>&1 &
wpid=$!
for _ in $(seq 300); do [ -s sleeper.pid ] && break; sleep 0.1; done
[ -s sleeper.pid ] || t_fail "the step never started"
{ kill -KILL "$wpid"; wait "$wpid"; } 2>/dev/null
kill -KILL "$(cat sleeper.pid 2>/dev/null)" 2>/dev/null
expect_eq "$(sqlite3 hf.db 'PRAGMA integrity_check')" ok
expect_eq "$(sqlite3 hf.db "SELECT status FROM runs")" RUNNING
expect_eq "$(sqlite3 hf.db "SELECT status FROM steps WHERE step = 'sleeper'")" RUNNING
expect_eq "$(sqlite3 hf.db "SELECT count(*) FROM attempts WHERE step = 'sleeper'")" 1
t_end
