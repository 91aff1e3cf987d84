# shellcheck shell=bash
# waitloop shell helpers — source this file from verify scripts:
#
#   . /usr/local/share/waitloop/retry.sh
#
#   retry_until_success MAX_WAIT INTERVAL CMD [ARG...]
#       Drop-in for the classic function: run CMD every INTERVAL seconds until
#       it succeeds or MAX_WAIT seconds have passed (waitloop wait --mode
#       timeout_only). Still leaves wait-failure.json behind on timeout.
#
#   retry_with_probe [--probe CMD] [--target NAME] [--max-wait DUR] [--interval DUR]
#                    [--builtin kubernetes] [--classify CMD] [--rules FILE]
#                    [--terminal-pattern RE]... [--stall-threshold N]
#                    [--fingerprint-prefix P] [--check-id ID] [--out DIR]
#                    [--probe-timeout DUR] [--ignore-field PATH]... [--quiet]
#                    -- CMD [ARG...]
#       The same wait, probe-aware: ends at the first observation that shows
#       waiting is pointless (waitloop wait --mode probe_aware).
#
# Durations may be bare numbers of seconds (600) or waitloop durations (10m,
# 200ms). Exit status: 0 met, 1 terminal_fail, 3 stalled, 124 timeout, 2 usage.
# The waitloop binary is $WAITLOOP_BIN, else `waitloop` on PATH.

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

# A bare number means seconds; anything else is passed as a waitloop duration.
_waitloop_dur() {
	case $1 in
	'' | *[!0-9]*) printf '%s\n' "$1" ;;
	*) printf '%ss\n' "$1" ;;
	esac
}

retry_until_success() {
	if [ "$#" -lt 3 ]; then
		echo "usage: retry_until_success MAX_WAIT INTERVAL CMD [ARG...]" >&2
		return 2
	fi
	local bin max_wait interval
	bin=$(_waitloop_bin) || return 2
	max_wait=$(_waitloop_dur "$1")
	interval=$(_waitloop_dur "$2")
	shift 2
	"$bin" wait --mode timeout_only --max-wait "$max_wait" --interval "$interval" -- "$@"
}

retry_with_probe() {
	local bin
	bin=$(_waitloop_bin) || return 2
	local -a opts=(--mode probe_aware)
	while [ "$#" -gt 0 ]; do
		case $1 in
		--)
			shift
			break
			;;
		--quiet)
			opts+=("$1")
			shift
			;;
		--max-wait | --interval | --probe-timeout | --max-interval)
			[ "$#" -ge 2 ] || { echo "retry_with_probe: $1 needs a value" >&2; return 2; }
			opts+=("$1" "$(_waitloop_dur "$2")")
			shift 2
			;;
		--probe | --target | --builtin | --classify | --rules | --terminal-pattern | --stall-threshold | \
			--fingerprint-prefix | --check-id | --out | --ignore-field | --phase | --backoff-factor)
			[ "$#" -ge 2 ] || { echo "retry_with_probe: $1 needs a value" >&2; return 2; }
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
