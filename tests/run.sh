#!/usr/bin/env bash
# Run every test: C unit tests (plain and ASan+UBSan builds) and end-to-end
# shell tests (against the ASan+UBSan binary). Each test file has its own
# timeout. Test files print "PASS name" / "FAIL name" lines; a file that
# crashes, exits non-zero without a FAIL line, or times out counts as one
# failure. Ends with "N passed, N failed".
#
#   bash tests/run.sh [FILTER]     FILTER: substring of test file names
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
filter=${1:-}
passed=0
failed=0
failures=()
logdir=$(mktemp -d /tmp/waitloop-tests.XXXXXX)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}
export WAITLOOP_ROOT="$root"
export WAITLOOP_TOOLS="$root/build/tools"
export WAITLOOP_BIN=${WAITLOOP_BIN:-$root/build/waitloop-asan}
export WAITLOOP_PLAIN_BIN="$root/build/waitloop"
export NO_COLOR=1

run_one() { # name timeout command...
	local name=$1 limit=$2
	shift 2
	local log="$logdir/${name//\//_}.log"
	local start=$SECONDS
	timeout -k 5 "$limit" "$@" >"$log" 2>&1
	local rc=$?
	local p f
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		f=$((f + 1))
		echo "FAIL $name: timed out after ${limit}s" >>"$log"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL $name: exited $rc" >>"$log"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-45s %3d passed %3d failed  %3ds\n' "$name" "$p" "$f" $((SECONDS - start))
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		sed -n '1,200p' "$log" | grep -v '^PASS ' | sed 's/^/    | /'
	fi
}

for t in build/tests/test_* build/tests-asan/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	run_one "${t#build/}" 120 "$t"
done
for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	case "$(basename "$t")" in lib.sh) continue ;; esac
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	limit=$(sed -n 's/^# timeout: *\([0-9]*\).*/\1/p' "$t" | head -n 1)
	run_one "${t#tests/}" "${limit:-120}" bash "$t"
done
rm -rf "$logdir"
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
