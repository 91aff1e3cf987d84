# End-to-end: workflows/db-startup.yaml against a real PostgreSQL server —
# a healthy start (the wait is met, a query runs) and a broken
# postgresql.conf (the probe sees the FATAL line in the server log and the
# wait ends with terminal_fail at once instead of after max_wait).
# Needs PostgreSQL's server binaries (initdb, pg_ctl; Debian:
# /usr/lib/postgresql/*/bin) and pg_isready/psql (Debian package
# 'postgresql', which `make test` installs); without them each case is
# reported as SKIP. As root the server runs as 'nobody', in the test's
# temporary directory, on a free loopback port.
# timeout: 180
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

pgbin=""
for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
	[ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && { pgbin=$d; break; }
done
if [ -z "$pgbin" ] && command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
	pgbin=$(dirname "$(command -v pg_ctl)")
fi
if [ -z "$pgbin" ] || ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
	for c in db_startup_healthy_start_met db_startup_broken_config_terminal_fail_early; do
		echo "SKIP $c: PostgreSQL server binaries or pg_isready/psql not found (Debian package 'postgresql')"
	done
	exit 0
fi

as_db=""
if [ "$(id -u)" -eq 0 ]; then
	if ! id nobody >/dev/null 2>&1; then
		for c in db_startup_healthy_start_met db_startup_broken_config_terminal_fail_early; do
			echo "SKIP $c: running as root and there is no user 'nobody' to run the server as"
		done
		exit 0
	fi
	as_db="runuser -u nobody --"
	chmod 755 "$T"
fi
servers=()
cleanup() {
	local d
	for d in "${servers[@]}"; do $as_db "$pgbin/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1; done
	rm -rf "$T"
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1 (a busy one would make the "healthy" case
# meet someone else's server).
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 30000))
		pg_isready -q -h 127.0.0.1 -p "$p" -t 1; [ $? -eq 2 ] && { echo "$p"; return; }
	done
	echo 55432
}
# run NAME [--set ...] — the workflow in workspace ws-NAME; sets rc.
run() {
	local name=$1
	shift
	mkdir -p "ws-$name/pg"
	[ -z "$as_db" ] || chown nobody "ws-$name/pg"
	servers+=("$T/ws-$name/pg/data")
	"$WL" run "$ROOT/workflows/db-startup.yaml" -w "ws-$name" --no-progress \
		--set "PROBES=$ROOT/workflows/probes" --set "PGPORT=$(free_port)" \
		--set "PG_CTL=$as_db $pgbin/pg_ctl" --set "INITDB=$as_db $pgbin/initdb" \
		"$@" >"$name.out" 2>"$name.err"
	rc=$?
}
json_get() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

t_begin db_startup_healthy_start_met
run ok
expect_eq "$rc" 0
expect_contains ok.out "PASS  start-db"
expect_contains ok.out "PASS  wait-db"
expect_contains ok.out "PASS  smoke"
expect_contains ws-ok/context/smoke/stdout.log "1"
[ ! -e ws-ok/context/wait-db/wait-failure.json ] || t_fail "wait-failure.json written for a met wait"
expect_eq "$(tail -n 1 ws-ok/context/wait-db/wait-probe.log | /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["class"])')" met
[ "$rc" -eq 0 ] || sed 's/^/    /' ok.err ws-ok/pg/postgres.log >&2 2>/dev/null
t_end

t_begin db_startup_broken_config_terminal_fail_early
mkdir -p ws-bad/pg
[ -z "$as_db" ] || chown nobody ws-bad/pg
$as_db "$pgbin/initdb" -D "$T/ws-bad/pg/data" -U postgres -A trust >/dev/null 2>&1 || t_fail "initdb failed"
echo "max_connections = lots" >>ws-bad/pg/data/postgresql.conf
run bad
expect_eq "$rc" 1
expect_contains bad.out "FAIL  wait-db — wait: terminal_fail"
expect_contains bad.out "SKIP  smoke"
wf=ws-bad/context/wait-db/wait-failure.json
expect_schema_valid wait-failure "$wf"
expect_eq "$(json_get "$wf" 'd["reason"], d["fingerprints"], d["phase"], d["max_wait_s"]')" \
	"terminal_fail ['db/postgres/config-error'] wait 120"
expect_contains "$wf" 'contains errors'
expect_contains "$wf" 'fix the setting named in the server log'
# The failure is visible at the first observations (counted, not timed:
# max_wait 120 s at a 1 s interval would be ~120 observations).
[ "$(json_get "$wf" 'int(d["observations"] <= 10)')" = 1 ] || t_fail "abort not early: $(json_get "$wf" 'd["elapsed_s"], d["observations"]')"
t_end
