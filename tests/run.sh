#!/usr/bin/env bash
# Run every test: C unit tests (plain and ASan+UBSan builds) and end-to-end
# shell tests (against the ASan+UBSan binary). Each test file runs in its own
# temporary directory with its own timeout. Test files print "PASS name",
# "FAIL name" and "SKIP name: why" lines; a file that crashes, exits non-zero
# without a FAIL line, or times out counts as one failure. A run that leaves
# anything new in the git checkout (`git status --porcelain`) fails too.
# Ends with "N passed, N failed, N skipped".
#
#   bash tests/run.sh [FILTER]     FILTER: substring of test file names
#
# env: WAITLOOP_TEST_TIMEOUT_MULTIPLIER  scales every timeout (default 1; e.g. 3
#        on a slow or loaded machine, as libuv's UV_TEST_TIMEOUT_MULTIPLIER)
#      WAITLOOP_TEST_SLOW=1  the exhaustive sweeps (`make test-slow`); a file's
#        "# slow-timeout: N" line, if any, replaces its "# timeout: N" then
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
filter=${1:-}
mult=${WAITLOOP_TEST_TIMEOUT_MULTIPLIER:-1}
case $mult in
'' | *[!0-9.]* | .* | *.*.*) echo "tests/run.sh: WAITLOOP_TEST_TIMEOUT_MULTIPLIER must be a positive number, not '$mult'" >&2; exit 2 ;;
esac
passed=0
failed=0
skipped=0
failures=()
logdir=$(mktemp -d /tmp/waitloop-tests.XXXXXX) || exit 2
trap 'rm -rf "$logdir"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}
export WAITLOOP_ROOT="$root"
export WAITLOOP_TOOLS="$root/build/tools"
export WAITLOOP_BIN=${WAITLOOP_BIN:-$root/build/waitloop-asan}
export WAITLOOP_PLAIN_BIN="$root/build/waitloop"
export WAITLOOP_TEST_TIMEOUT_MULTIPLIER=$mult
export NO_COLOR=1

# What the checkout looks like before the tests (empty outside a git checkout).
in_git=0
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	in_git=1
	git -C "$root" status --porcelain --untracked-files=all | sort >"$logdir/git-before"
fi

run_one() { # name timeout dir command...   dir "" = a fresh directory of its own
	local name=$1 limit
	limit=$(awk -v t="$2" -v m="$mult" 'BEGIN { v = t * m; printf "%d", (v < 1 ? 1 : v + 0.999) }')
	local dir=${3:-$logdir/${name//\//_}.d}
	shift 3
	local log="$logdir/${name//\//_}.log"
	local start=$SECONDS
	mkdir -p "$dir"
	# e2e files start in a directory of their own (a test that forgot to cd
	# would write there, not into the checkout); unit tests read fixtures
	# relative to the root and make their own temporary directories.
	(cd "$dir" && exec timeout -k 5 "$limit" "$@") >"$log" 2>&1
	local rc=$?
	local p f s
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(grep -c '^SKIP [^ ]*: ' "$log")
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		f=$((f + 1))
		echo "FAIL $name: timed out after ${limit}s" >>"$log"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL $name: exited $rc" >>"$log"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	printf '%-45s %3d passed %3d failed %3d skipped  %3ds / %ds\n' "$name" "$p" "$f" "$s" $((SECONDS - start)) "$limit"
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		sed -n '1,200p' "$log" | grep -v '^PASS ' | sed 's/^/    | /'
	elif [ "$s" -gt 0 ]; then
		grep '^SKIP ' "$log" | sed 's/^/    | /'
	fi
}

for t in build/tests/test_* build/tests-asan/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	run_one "${t#build/}" 120 "$root" "$root/$t"
done
for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	case "$(basename "$t")" in lib.sh) continue ;; esac
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	limit=$(sed -n 's/^# timeout: *\([0-9]*\).*/\1/p' "$t" | head -n 1)
	if [ -n "${WAITLOOP_TEST_SLOW:-}" ]; then
		slow=$(sed -n 's/^# slow-timeout: *\([0-9]*\).*/\1/p' "$t" | head -n 1)
		limit=${slow:-$limit}
	fi
	run_one "${t#tests/}" "${limit:-120}" "" bash "$root/$t"
done

if [ "$in_git" -eq 1 ]; then
	git -C "$root" status --porcelain --untracked-files=all | sort >"$logdir/git-after"
	new=$(comm -13 "$logdir/git-before" "$logdir/git-after" | cut -c4- | tr '\n' ' ')
	if [ -n "$new" ]; then
		echo "FAIL repository_unchanged: new in git status after the tests (written by a test, or edited during the run): $new"
		failed=$((failed + 1))
		failures+=("repository_unchanged")
	fi
fi
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
