#!/usr/bin/env bash
# pg-probe.sh — a wait_policy probe for a PostgreSQL server that is starting.
#
# Prints ONE JSON object (schema/probe.schema.json):
#
#   {"target":{"kind":"PostgreSQL","name":"HOST:PORT","status":"Ready|Progressing|NotRunning",
#              "reason":"<pg_isready's answer>"},
#    "log":{"lines":N},
#    "errors":["FATAL/PANIC lines of the server log, newest last"]}
#
#   pg-probe.sh [--host H] [--port P] [--log FILE]
#   (defaults: $PGHOST or localhost, $PGPORT or 5432, $PGLOG)
#
# Status: pg_isready exit 0 -> Ready; 1 (rejecting connections: starting up,
# recovering) -> Progressing; 2/3 (no response, no attempt) -> NotRunning.
# The number of log lines is part of the object, so a server that is still
# writing its log (recovery, checkpoints) shows progress to the digest.
# Connection-time FATALs that are normal while a server starts ("the database
# system is starting up") are left out of errors. Exit 0 whenever it printed
# the JSON. No jq: bash and sed only.
set -u
host=${PGHOST:-localhost}
port=${PGPORT:-5432}
log=${PGLOG:-}
while [ $# -gt 0 ]; do
	case $1 in
	--host) host=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	*) echo "pg-probe.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done

json_str() { # a JSON string literal, control characters dropped, at most 300 chars
	local s=${1:0:300}
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=$(printf '%s' "$s" | tr -d '\000-\037')
	printf '"%s"' "$s"
}

answer=$(pg_isready -h "$host" -p "$port" 2>&1)
case $? in
0) status=Ready ;;
1) status=Progressing ;;
*) status=NotRunning ;;
esac

lines=0
errors=""
if [ -n "$log" ] && [ -r "$log" ]; then
	lines=$(wc -l <"$log")
	while IFS= read -r line; do
		errors="$errors${errors:+,}$(json_str "$line")"
	done < <(tail -n 200 "$log" | grep -E '(FATAL|PANIC): ' |
		grep -vE 'the database system is (starting up|shutting down|in recovery mode)' | tail -n 5)
fi

printf '{"target":{"kind":"PostgreSQL","name":%s,"status":"%s","reason":%s},' \
	"$(json_str "$host:$port")" "$status" "$(json_str "$answer")"
printf '"log":{"lines":%d},"errors":[%s]}\n' "$lines" "$errors"
