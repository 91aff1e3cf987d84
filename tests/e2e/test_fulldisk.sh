# End-to-end: a full disk loses nothing silently. A 1 MiB tmpfs holds the
# context directory; a step prints 3 MB. The lost log fails the step, every
# write error is reported, events.jsonl lines are whole, and history, the
# exit code, _workflow.json and _meta.json agree (docs/execution.md
# "Write errors").
# shellcheck shell=bash
# timeout: 120
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

mkdir -p mnt
if ! mount -t tmpfs -o size=1m tmpfs mnt 2>/dev/null; then
	t_begin full_disk_reported; echo "SKIP full_disk_reported: cannot mount a tmpfs (needs root)"; exit 0
fi
trap 'umount mnt 2>/dev/null; rm -rf "$T"' EXIT
jsonl_whole() { /usr/bin/python3 -c '
import json, sys
for i, l in enumerate(open(sys.argv[1]), 1):
    json.loads(l)
' "$1" || t_fail "$1 has a torn line"; }

cat > big.yaml <<'Y'
name: big
version: "1"
timeout: "1m"
steps:
  a:
    worker: CUSTOM
    instructions: |
      head -c 3000000 /dev/zero | tr '\0' 'x'
Y

t_begin full_disk_never_passes
"$WL" run big.yaml -w . --context mnt/ctx --db "$T/h.db" -q >out.txt 2>err.txt; rc=$?
expect_eq "$rc" 1
expect_contains err.txt "waitloop: warning: context directory: step 'a': output log lost: cannot write its stdout capture file: No space left on device"
expect_eq "$(sqlite3 h.db 'SELECT status, exit_code FROM runs')" "FAILED|1"
expect_contains "$(sqlite3 h.db 'SELECT status_reason FROM runs')" "artifacts lost:"
expect_eq "$(sqlite3 h.db "SELECT status FROM steps WHERE step = 'a'")" FAILED
expect_contains "$(sqlite3 h.db "SELECT reason FROM steps WHERE step = 'a'")" "output log lost"
ev=mnt/ctx/_workflow/events.jsonl
[ -f "$ev" ] && jsonl_whole "$ev"
if [ -f mnt/ctx/_workflow.json ]; then
	expect_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' mnt/ctx/_workflow.json)" FAILED
fi
if [ -f mnt/ctx/a/_meta.json ]; then
	expect_not_contains mnt/ctx/a/_meta.json '"RUNNING"'
fi
t_end

# Every artifact error is reported, not only the first: fill the disk, then
# a run whose events and metadata cannot be written at all.
t_begin every_write_error_reported
rm -rf mnt/ctx
head -c 2000000 /dev/zero > mnt/filler 2>/dev/null
"$WL" run big.yaml -w . --context mnt/ctx2 --db "$T/h2.db" -q >out2.txt 2>err2.txt; rc=$?
[ "$rc" -ne 0 ] || t_fail "a run on a full disk exited 0"
[ "$(grep -c 'waitloop: warning: context directory:' err2.txt)" -ge 2 ] || { t_fail "fewer than 2 write errors reported:"; cat err2.txt >&2; }
expect_eq "$(sqlite3 h2.db 'SELECT status FROM runs')" FAILED
[ -f mnt/ctx2/_workflow/events.jsonl ] && jsonl_whole mnt/ctx2/_workflow/events.jsonl
t_end
