# End-to-end: `waitloop history` and `waitloop show` on databases written
# through the real store (tests/tools/store_feed feeds events to store_sink).
# timeout: 120
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

FEED=$TOOLS/store_feed
DB=$T/h/history.db

feed() { "$FEED" "$DB" || t_fail "store_feed failed"; }

t_begin history_without_database
expect_rc 0 "$WL" history --db "$T/none/history.db" >out.txt 2>err.txt
expect_contains out.txt "no runs recorded (database '$T/none/history.db' does not exist)"
out=$("$WL" history --db "$T/none/history.db" --json 2>/dev/null)
expect_eq "$out" "[]"
[ ! -e "$T/none" ] || t_fail "history created the database directory"
t_end

t_begin show_without_database
expect_rc 1 "$WL" show abc --db "$T/none/history.db" 2>err.txt
expect_contains err.txt "waitloop: error: no run 'abc': history database '$T/none/history.db' does not exist"
t_end

# Run 1: two iterations, an early abort in the first, git changes, a notification.
feed <<'EOF'
{"type":"run_started","run_id":"20260101T100000Z-aaaa1111","ago_s":120,"workflow":"demo","file":"workflows/demo.yaml","workspace":"/ws","context_dir":"/ws/context"}
{"type":"preflight","run_id":"20260101T100000Z-aaaa1111","name":"require_commands","ok":true}
{"type":"step_state","run_id":"20260101T100000Z-aaaa1111","step":"implement","status":"RUNNING"}
{"type":"iteration_started","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1}
{"type":"attempt_started","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"phase":"step"}
{"type":"attempt_finished","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"phase":"step","exit_code":0,"duration_s":0.4}
{"type":"attempt_started","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"phase":"completion_check"}
{"type":"observation","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"seq":1,"elapsed_s":0.2,"condition_exit":1,"class":"retryable","digest":"1a2b3c4d5e6f7a8b","changed":true,"no_progress":0,"fingerprints":[]}
{"type":"observation","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"seq":2,"elapsed_s":1.3,"condition_exit":1,"class":"terminal_fail","digest":"99aa","changed":true,"no_progress":0,"fingerprints":["kest/control/crd-missing/k0smotrondockerclusters"],"summary":"HelmRelease capi-operator Failed: InstallFailed"}
{"type":"wait_finished","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"phase":"completion_check","target":"crd/k0smotrondockerclusters","outcome":"terminal_fail","elapsed_s":1.4,"observations":2,"early_abort":true,"fingerprints":["kest/control/crd-missing/k0smotrondockerclusters","kest/control/helmrelease-failed/capi-operator"],"rule":"builtin:kubernetes/dependency-failed"}
{"type":"early_abort","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"phase":"completion_check","target":"crd/k0smotrondockerclusters","outcome":"terminal_fail","elapsed_s":1.4,"observations":2,"fingerprints":["kest/control/crd-missing/k0smotrondockerclusters","kest/control/helmrelease-failed/capi-operator"]}
{"type":"kill","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"phase":"completion_check","signals_sent":["SIGINT","SIGTERM"],"why":"terminal_fail"}
{"type":"attempt_finished","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"attempt":1,"phase":"completion_check","signal":15,"signals_sent":["SIGINT","SIGTERM"],"duration_s":1.5}
{"type":"iteration_finished","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"decision":"incomplete","source":"wait_policy","reasons":["dependency capi-operator Failed"],"fingerprints":["kest/control/crd-missing/k0smotrondockerclusters","kest/control/helmrelease-failed/capi-operator"]}
{"type":"git_changes","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"head_before":"0123456789abcdef0123456789abcdef01234567","head_after":"0123456789abcdef0123456789abcdef01234567","branch":"main","files":[{"path":"charts/values.yaml","status":"modified","insertions":2,"deletions":1}]}
{"type":"notify","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":1,"target":"inbox","event":"early_abort","reason":"delivered"}
{"type":"iteration_started","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":2}
{"type":"iteration_finished","run_id":"20260101T100000Z-aaaa1111","step":"implement","iteration":2,"decision":"complete","source":"exit_code","reasons":[],"fingerprints":[]}
{"type":"step_state","run_id":"20260101T100000Z-aaaa1111","step":"implement","status":"SUCCEEDED"}
{"type":"run_finished","run_id":"20260101T100000Z-aaaa1111","status":"SUCCEEDED","duration_s":12.5,"exit_code":0}
EOF
# Run 2: a failed run, started later; run 3: a run whose runner is gone.
dead_pid=$(sh -c 'echo $$')
feed <<EOF
{"type":"run_started","run_id":"20260101T110000Z-aaaa2222","ago_s":60,"workflow":"verify"}
{"type":"step_state","run_id":"20260101T110000Z-aaaa2222","step":"check","status":"FAILED","reason":"exit code 3"}
{"type":"run_finished","run_id":"20260101T110000Z-aaaa2222","status":"FAILED","duration_s":3.25,"exit_code":1}
{"type":"run_started","run_id":"20260101T120000Z-bbbb3333","ago_s":30,"workflow":"crashy","pid":$dead_pid}
{"type":"step_state","run_id":"20260101T120000Z-bbbb3333","step":"slow","status":"RUNNING"}
EOF

t_begin history_table
expect_rc 0 "$WL" history --db "$DB" >out.txt 2>err.txt
expect_contains out.txt "RUN ID"
expect_contains out.txt "STATUS"
expect_contains out.txt "ABORTS"
line=$(grep '20260101T100000Z-aaaa1111' out.txt)
expect_contains "$line" "demo"
expect_contains "$line" "SUCCEEDED"
expect_contains "$line" "12.5s"
# iterations 2, early aborts 1 are the last two columns
expect_eq "$(echo "$line" | awk '{print $(NF-1), $NF}')" "2 1"
expect_contains "$(grep aaaa2222 out.txt)" "FAILED"
# newest first
expect_eq "$(sed -n 2p out.txt | awk '{print $1}')" "20260101T120000Z-bbbb3333"
t_end

t_begin history_marks_crashed_runs
expect_contains "$(grep bbbb3333 out.txt)" "CRASHED"
expect_eq "$(sqlite3 "$DB" "SELECT status_reason FROM runs WHERE id LIKE '%bbbb3333'")" "runner pid $dead_pid is gone"
expect_eq "$(sqlite3 "$DB" "SELECT status FROM steps WHERE step = 'slow'")" "CRASHED"
t_end

t_begin history_json_and_limit
"$WL" history --db "$DB" --json >runs.json || t_fail "history --json failed"
/usr/bin/python3 - runs.json <<'PY' || t_fail "history --json content"
import json, sys
runs = json.load(open(sys.argv[1]))
assert [r["id"][-8:] for r in runs] == ["bbbb3333", "aaaa2222", "aaaa1111"], runs
r = runs[2]
assert r["status"] == "SUCCEEDED" and r["iterations"] == 2 and r["early_aborts"] == 1, r
assert r["duration_s"] == 12.5 and r["exit_code"] == 0 and r["workflow"] == "demo", r
assert r["started_at"].endswith("Z") and "T" in r["started_at"], r
PY
n=$("$WL" history --db "$DB" --limit 1 --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "$n" "1"
n=$("$WL" history --db="$DB" -n 2 | wc -l)
expect_eq "$n" "3"
t_end

t_begin history_default_db_from_env
out=$(WAITLOOP_DB="$DB" "$WL" history)
expect_contains "$out" "aaaa2222"
mkdir -p cwd/.waitloop && cp "$DB" cwd/.waitloop/history.db
out=$(cd cwd && env -u WAITLOOP_DB "$WL" history)
expect_contains "$out" "aaaa1111"
t_end

t_begin show_text
expect_rc 0 "$WL" show 20260101T100000Z-aaaa1 --db "$DB" >show.txt 2>err.txt
expect_contains show.txt "Run        20260101T100000Z-aaaa1111"
expect_contains show.txt "Workflow   demo (workflows/demo.yaml)"
expect_contains show.txt "Status     SUCCEEDED (exit 0)"
expect_contains show.txt "ok    require_commands"
expect_contains show.txt "Step implement  SUCCEEDED  (2 iterations, 1 attempt)"
expect_contains show.txt "Iteration 1: incomplete (wait_policy)"
expect_contains show.txt "fingerprint  kest/control/helmrelease-failed/capi-operator"
expect_contains show.txt "wait         completion_check crd/k0smotrondockerclusters: terminal_fail after 1.4s, 2 observations, EARLY ABORT (rule builtin:kubernetes/dependency-failed)"
expect_contains show.txt "#2   +1.3s    terminal_fail"
expect_contains show.txt "HelmRelease capi-operator Failed: InstallFailed"
expect_contains show.txt "stopped      completion_check: SIGINT SIGTERM"
expect_contains show.txt "git          main 0123456789, 1 file changed, +2 -1"
expect_contains show.txt "M charts/values.yaml +2 -1"
expect_contains show.txt "Iteration 2: complete (exit_code)"
expect_contains show.txt "early_abort implement#1 -> inbox: delivered"
t_end

t_begin show_json
"$WL" show --db "$DB" --json 20260101T100000Z-aaaa1111 >show.json || t_fail "show --json failed"
/usr/bin/python3 - show.json <<'PY' || t_fail "show --json content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["id"] == "20260101T100000Z-aaaa1111" and r["status"] == "SUCCEEDED", r
s = r["steps"][0]
assert s["step"] == "implement" and s["iteration_count"] == 2
it = s["iterations"][0]
assert it["decision"] == "incomplete" and it["decision_source"] == "wait_policy"
assert "kest/control/helmrelease-failed/capi-operator" in it["fingerprints"]
assert it["git"]["files"][0]["path"] == "charts/values.yaml"
w = s["waits"]
assert len(w) == 1 and w[0]["early_abort"] is True and w[0]["outcome"] == "terminal_fail", w
assert [o["seq"] for o in w[0]["observations"]] == [1, 2]
assert r["notifications"][0]["reason"] == "delivered"
PY
t_end

t_begin show_crashed_run
"$WL" show bbbb --db "$DB" >/dev/null 2>&1 && t_fail "a suffix is not a prefix"
expect_rc 0 "$WL" show 20260101T120000Z --db "$DB" >crash.txt
expect_contains crash.txt "Status     CRASHED — runner pid $dead_pid is gone"
expect_contains crash.txt "Step slow  CRASHED"
t_end

t_begin show_ambiguous_and_unknown
expect_rc 1 "$WL" show 20260101T1 --db "$DB" 2>err.txt
expect_contains err.txt "waitloop: error: run id prefix '20260101T1' is ambiguous: 20260101T100000Z-aaaa1111, 20260101T110000Z-aaaa2222, 20260101T120000Z-bbbb3333"
expect_rc 1 "$WL" show "x' OR 1=1 --" --db "$DB" 2>err.txt
expect_contains err.txt "waitloop: error: no run 'x' OR 1=1 --' in history database '$DB'"
t_end

t_begin read_only_commands_do_not_write
before=$(sqlite3 "$DB" .dump | md5sum)
"$WL" history --db "$DB" >/dev/null
"$WL" show 20260101T100000Z --db "$DB" >/dev/null
"$WL" show --json 20260101T11 --db "$DB" >/dev/null
after=$(sqlite3 "$DB" .dump | md5sum)
expect_eq "$after" "$before"
t_end

t_begin database_is_sound
expect_eq "$(sqlite3 "$DB" 'PRAGMA integrity_check')" "ok"
expect_eq "$(sqlite3 "$DB" 'PRAGMA journal_mode')" "wal"
expect_eq "$(sqlite3 "$DB" 'PRAGMA user_version')" "5"
expect_eq "$(sqlite3 "$DB" 'PRAGMA foreign_key_check' | wc -l)" "0"
t_end

t_begin not_a_database
echo "definitely not sqlite, just some text that is long enough to be a header" >bad.db
expect_rc 1 "$WL" history --db bad.db 2>err.txt
expect_contains err.txt "waitloop: error: history database 'bad.db': file is not a database"
t_end

t_begin usage_errors
expect_rc 2 "$WL" history --bogus 2>err.txt
expect_contains err.txt "waitloop: error: unknown option '--bogus'"
expect_contains err.txt "Try 'waitloop history --help'."
expect_rc 2 "$WL" history --limit -3 2>err.txt
expect_contains err.txt "invalid --limit '-3'"
expect_rc 2 "$WL" show 2>err.txt
expect_contains err.txt "waitloop: error: missing RUN_ID"
expect_rc 2 "$WL" show a b 2>err.txt
expect_rc 0 "$WL" history --help >out.txt
expect_contains out.txt "usage: waitloop history [-w DIR] [--db FILE] [--status S] [--workflow W]"
expect_rc 0 "$WL" show --help >out.txt
expect_contains out.txt "usage: waitloop show RUN_ID|latest [-w DIR] [--db FILE] [--all] [--json]"
t_end
