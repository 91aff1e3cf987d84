# Shared helpers for end-to-end tests (sourced). Each test runs in a fresh
# temporary directory; ok/fail print the PASS/FAIL lines tests/run.sh counts.
# shellcheck shell=bash
set -u
WL=${WAITLOOP_BIN:?}
ROOT=${WAITLOOP_ROOT:?}
TOOLS=${WAITLOOP_TOOLS:-$ROOT/build/tools}
T=$(mktemp -d /tmp/wl-e2e.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
_case_failed=0

# t_begin NAME — start a case; t_end — report it.
t_begin() { _case=$1; _case_failed=0; }
t_fail() { echo "  [$_case] $*" >&2; _case_failed=1; }
t_end() { if [ "$_case_failed" -eq 0 ]; then echo "PASS $_case"; else echo "FAIL $_case"; fi; }

expect_rc() { # want cmd...
	local want=$1; shift
	"$@"; local rc=$?
	[ "$rc" -eq "$want" ] || t_fail "expected exit $want, got $rc: $*"
}
expect_contains() { # file-or-string needle
	if [ -f "$1" ]; then grep -qF -- "$2" "$1" || { t_fail "'$2' not in $1:"; sed 's/^/      /' "$1" | head -40 >&2; }
	else case "$1" in *"$2"*) ;; *) t_fail "'$2' not in: $1" ;; esac; fi
}
expect_not_contains() {
	if [ -f "$1" ]; then ! grep -qF -- "$2" "$1" || t_fail "'$2' unexpectedly in $1"
	else case "$1" in *"$2"*) t_fail "'$2' unexpectedly in: $1" ;; esac; fi
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
