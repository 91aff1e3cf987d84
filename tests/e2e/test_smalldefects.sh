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
