# shellcheck shell=bash
# waitloop shell helpers — source this file from verify scripts:
#
#   . /usr/local/share/waitloop/retry.sh
#
#   retry_until_success MAX_WAIT INTERVAL CMD [ARG...]
#       Drop-in for the classic function (`until CMD; do [ elapsed -ge MAX_WAIT ]
#       && fail; sleep INTERVAL; done`): run CMD every INTERVAL seconds until it
#       succeeds or MAX_WAIT seconds have passed. What a script sees does not
#       change: CMD's stdout on stdout and its stderr on stderr, try after try
#       (so out=$(retry_until_success ...) captures what CMD printed), exit
#       status 0 when met and 124 on time-out. A try runs until CMD exits
#       (never cut at INTERVAL; at most the time left of MAX_WAIT, and at least
#       2 s for the last try). What waitloop adds: one progress line
#       per failed try on stderr (a live line on a terminal, a keepalive line
#       in long tries), a summary line when the wait did not succeed, and the
#       evidence files (wait-probe.log, wait-failure.json; under `waitloop run`
#       in <step dir>/waits/<name>/). A CMD that cannot be executed (a typo:
#       "command not found: kubctl", or a whole command quoted as one word)
#       returns 2 at once instead of being retried for the whole budget.
#
#   retry_with_probe [--probe CMD] [--target NAME] [--name NAME]
#                    [--max-wait DUR] [--interval DUR] [--condition-timeout DUR]
#                    [--builtin kubernetes] [--classify CMD] [--rules FILE]
#                    [--terminal-pattern RE]... [--stall-threshold N]
#                    [--fingerprint-prefix P] [--check-id ID] [--out DIR]
#                    [--probe-timeout DUR] [--ignore-field PATH]...
#                    [--quiet] [--verbose] [--json] [--summary WHEN]
#                    -- CMD [ARG...]
#       The same wait, probe-aware: ends at the first observation that shows
#       waiting is pointless (waitloop wait --mode probe_aware when anything
#       to observe is given).
#
# Durations may be bare seconds (600, 0.5) or waitloop durations (10m, 200ms);
# MAX_WAIT 0 means one try; an INTERVAL of 0 is taken as 100ms. Exit status: 0 met, 124 timeout, and for
# retry_with_probe's early aborts 1 terminal_fail and 3 stalled; 2 for a usage
# error or a command, probe or classifier that cannot be executed; 130/143
# when interrupted. The waitloop binary is $WAITLOOP_BIN, else `waitloop` on
# PATH. Differences from the classic loop: CMD's stdin is /dev/null, and CMD
# runs in its own process group (stopped with the wait).

_waitloop_bin() {
	if [ -n "${WAITLOOP_BIN:-}" ]; then
		printf '%s\n' "$WAITLOOP_BIN"
	elif command -v waitloop >/dev/null 2>&1; then
		command -v waitloop
	else
		echo "retry.sh: waitloop not found (set WAITLOOP_BIN or put waitloop on PATH)" >&2
		return 2
	fi
}

retry_until_success() {
	if [ "$#" -lt 3 ]; then
		echo "usage: retry_until_success MAX_WAIT INTERVAL CMD [ARG...]" >&2
		return 2
	fi
	local bin max_wait=$1 interval=$2
	bin=$(_waitloop_bin) || return 2
	shift 2
	case $interval in
	0 | 0.0 | 0s) interval=100ms ;; # `sleep 0` spins; a tenth of a second is as good as nothing
	esac
	"$bin" wait --mode timeout_only --summary failure --max-wait "$max_wait" --interval "$interval" -- "$@"
}

retry_with_probe() {
	local bin
	bin=$(_waitloop_bin) || return 2
	local -a opts=(--summary failure)
	while [ "$#" -gt 0 ]; do
		case $1 in
		--)
			shift
			break
			;;
		--quiet | -q | --verbose | -v | --json | --no-progress)
			opts+=("$1")
			shift
			;;
		--probe | --target | --name | --builtin | --classify | --rules | --terminal-pattern | \
			--stall-threshold | --fingerprint-prefix | --check-id | --out | --ignore-field | --phase | \
			--backoff-factor | --max-wait | --interval | --condition-timeout | --probe-timeout | \
			--max-interval | --mode | --summary)
			[ "$#" -ge 2 ] || {
				echo "retry_with_probe: $1 needs a value" >&2
				return 2
			}
			opts+=("$1" "$2")
			shift 2
			;;
		*)
			echo "retry_with_probe: unknown option '$1' (the command goes after --)" >&2
			return 2
			;;
		esac
	done
	if [ "$#" -eq 0 ]; then
		echo "retry_with_probe: no command (put it after --)" >&2
		return 2
	fi
	"$bin" wait "${opts[@]}" -- "$@"
}
