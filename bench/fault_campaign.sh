#!/usr/bin/env bash
# Fault campaign (issue 16): N runs SIGKILLed at a random moment mid-step,
# one workspace and history database. After each kill, `waitloop history`
# (the watchdog) runs, then every invariant is checked:
#   - the database passes PRAGMA integrity_check and foreign_key_check;
#   - the killed run is CRASHED, every earlier run keeps its status;
#   - no process whose environment names the killed run is left (0 orphans,
#     setsid escapees and group members included);
#   - every events.jsonl line and every *.json artifact parses (0 torn JSON).
# Prints one line per violation and a summary line; exit 1 on any violation.
#
#   bash bench/fault_campaign.sh [N]     (default N=100; env: WAITLOOP_BIN)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
WL=${WAITLOOP_BIN:-$root/build/waitloop}
N=${1:-100}
tmp=$(mktemp -d /tmp/wl-fault-campaign.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2
mkdir -p ws
DB=$tmp/ws/.waitloop/history.db
cat > wf.yaml <<'Y'
name: campaign
version: "1"
timeout: "1m"
steps:
  a:
    worker: CUSTOM
    instructions: |
      setsid sh -c 'exec sleep 300' </dev/null >/dev/null 2>&1 &
      sh -c 'exec sleep 300' &
      i=0; while [ $i -lt 40 ]; do echo "line $i"; i=$((i + 1)); sleep 0.01; done
  b:
    worker: CUSTOM
    depends_on: [a]
    instructions: |
      sh -c 'exec sleep 300' &
      i=0; while [ $i -lt 40 ]; do echo "line $i"; i=$((i + 1)); sleep 0.01; done
      sleep 0.3
Y
violations=0
bad() { echo "VIOLATION run $1: $2"; violations=$((violations + 1)); }
orphans_of() { grep -lz "^WAITLOOP_RUN_ID=$1\$" /proc/[0-9]*/environ 2>/dev/null | wc -l; }

# One run that finishes: it must stay intact through every kill after it.
"$WL" run wf.yaml -w ws -q >/dev/null 2>&1
declare -A expect
while IFS='|' read -r id st; do expect[$id]=$st; done < <(sqlite3 "$DB" 'SELECT id, status FROM runs')
crashed=0 killed=0
for k in $(seq 1 "$N"); do
	"$WL" run wf.yaml -w ws -q >/dev/null 2>&1 &
	pid=$!
	# random moment: 50..1200 ms into the run
	sleep "0.$(printf '%03d' $(( (RANDOM % 1150) + 50 )))" 2>/dev/null || sleep 1
	kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
	wait "$pid" 2>/dev/null
	"$WL" history --db "$DB" -n 1000 >/dev/null 2>"hist.err" || bad "$k" "history failed: $(head -1 hist.err)"
	[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || bad "$k" "integrity_check failed"
	[ -z "$(sqlite3 "$DB" 'PRAGMA foreign_key_check')" ] || bad "$k" "foreign_key_check failed"
	id=$(sqlite3 "$DB" 'SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1')
	st=$(sqlite3 "$DB" "SELECT status FROM runs WHERE id = '$id'")
	if [ -n "${expect[$id]:-}" ]; then
		: # killed before its run row was written: nothing of it recorded
	elif [ "$st" = CRASHED ]; then
		crashed=$((crashed + 1))
	elif [ "$st" != SUCCEEDED ]; then
		bad "$k" "killed run $id is $st"
	fi
	[ -n "$id" ] && expect[$id]=$st
	for e in "${!expect[@]}"; do
		now=$(sqlite3 "$DB" "SELECT status FROM runs WHERE id = '$e'")
		[ "$now" = "${expect[$e]}" ] || bad "$k" "earlier run $e changed from ${expect[$e]} to $now"
	done
	sleep 0.2   # the watchdog's SIGKILLs are delivered
	n=$(orphans_of "$id")
	[ "$n" -eq 0 ] || bad "$k" "$n processes of run $id left"
	while IFS= read -r -d '' f; do
		python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$f" 2>/dev/null || bad "$k" "torn line in $f"
	done < <(find ws -name events.jsonl -print0 2>/dev/null)
	while IFS= read -r -d '' f; do
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null || bad "$k" "torn JSON $f"
	done < <(find ws -name '*.json' -newer wf.yaml -print0 2>/dev/null)
done
# (by workspace: another campaign may run on the machine at the same time)
left=$(grep -lz "^WAITLOOP_WORKSPACE=$tmp/ws\$" /proc/[0-9]*/environ 2>/dev/null | wc -l)
[ "$left" -eq 0 ] || bad all "$left campaign processes left at the end"
echo "fault campaign: $N SIGKILLs ($killed delivered), $crashed runs CRASHED, $violations violations"
[ "$violations" -eq 0 ]
