# Shared helpers for end-to-end tests (sourced). Each test runs in a fresh
# temporary directory (never in the repository: it refuses to start without
# a root, and cds into its own directory); t_end prints the PASS / FAIL /
# SKIP lines tests/run.sh counts. A test file starts with
#   . "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2
# shellcheck shell=bash
set -u
WL=${WAITLOOP_BIN:?WAITLOOP_BIN is not set (run the tests with tests/run.sh)}
ROOT=${WAITLOOP_ROOT:?WAITLOOP_ROOT is not set (run the tests with tests/run.sh)}
[ -f "$ROOT/tests/e2e/lib.sh" ] || { echo "FAIL setup: WAITLOOP_ROOT='$ROOT' is not a waitloop checkout" >&2; exit 2; }
TOOLS=${WAITLOOP_TOOLS:-$ROOT/build/tools}
T=$(mktemp -d /tmp/wl-e2e.XXXXXX) || exit 2
[ -n "$T" ] && [ -d "$T" ] || exit 2
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
_case_failed=0
_case_skipped=""

# t_begin NAME — start a case; t_end — report it. t_skip WHY — the case
# could not run here (reported as "SKIP name: why", never as PASS); a case
# that also failed reports FAIL.
t_begin() { _case=$1; _case_failed=0; _case_skipped=""; }
t_fail() { echo "  [$_case] $*" >&2; _case_failed=1; }
t_skip() { _case_skipped=$*; }
t_end() {
	if [ "$_case_failed" -ne 0 ]; then echo "FAIL $_case"
	elif [ -n "$_case_skipped" ]; then echo "SKIP $_case: $_case_skipped"
	else echo "PASS $_case"; fi
}

# can_strace: 0 when strace can trace here, else the case is skipped (why)
can_strace() {
	if ! command -v strace >/dev/null 2>&1; then
		t_skip "strace not installed (make deps: DEB_TEST_PKGS)"
		return 1
	elif ! strace -o /dev/null true 2>/dev/null; then
		t_skip "strace cannot trace here (ptrace not permitted)"
		return 1
	fi
}

expect_rc() { # want cmd...
	local want=$1; shift
	"$@"; local rc=$?
	[ "$rc" -eq "$want" ] || t_fail "expected exit $want, got $rc: $*"
}
expect_contains() { # file-or-string needle
	if [ -f "$1" ]; then grep -qF -- "$2" "$1" || { t_fail "'$2' not in $1:"; sed 's/^/      /' "$1" | head -40 >&2; }
	else case "$1" in *"$2"*) ;; *) t_fail "'$2' not in: $1" ;; esac; fi
}
# expect_not_contains FILE NEEDLE — FILE must exist (a missing file is a
# failure, not a pass). For text, expect_not_contains_text TEXT NEEDLE.
expect_not_contains() {
	if [ -f "$1" ]; then ! grep -qF -- "$2" "$1" || t_fail "'$2' unexpectedly in $1"
	else t_fail "expect_not_contains: no file '$1'"; fi
}
expect_not_contains_text() {
	case "$1" in *"$2"*) t_fail "'$2' unexpectedly in: $1" ;; esac
}
expect_eq() { [ "$1" = "$2" ] || t_fail "expected '$2', got '$1'"; }
# Validate a JSON file against a schema in schema/ with a real validator.
expect_schema_valid() { # schema-name json-file
	/usr/bin/python3 - "$ROOT/schema/$1.schema.json" "$2" <<'PY' || t_fail "$2 does not match schema $1"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
errs = list(Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))))
for e in errs: print("   ", list(e.path), e.message, file=sys.stderr)
sys.exit(1 if errs else 0)
PY
}

# gen_true_steps N parallel(0|1) -> a workflow of N CUSTOM steps running
# `true`: a chain (each depends on the previous) or all independent
gen_true_steps() {
	echo "name: true-steps"
	echo 'version: "1"'
	echo 'timeout: 5m'
	echo "steps:"
	local i
	for ((i = 1; i <= $1; i++)); do
		echo "  s$i:"
		echo "    worker: CUSTOM"
		echo '    instructions: "true"'
		if [ "$2" = 0 ] && [ "$i" -gt 1 ]; then echo "    depends_on: [s$((i - 1))]"; fi
	done
}
