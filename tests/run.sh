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
#      WAITLOOP_TEST_JOBS  test files run at the same time (default: CPUs + 1;
#        most files spend their time waiting on children); a file with a
#        "# serial" line runs alone, after the others
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
jobs=${WAITLOOP_TEST_JOBS:-$(($(nproc 2>/dev/null || echo 1) + 1))}
case $jobs in '' | *[!0-9]* | 0) echo "tests/run.sh: WAITLOOP_TEST_JOBS must be a positive integer, not '$jobs'" >&2; exit 2 ;; esac

# What the checkout looks like before the tests (empty outside a git checkout).
in_git=0
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	in_git=1
	git -C "$root" status --porcelain --untracked-files=all | sort >"$logdir/git-before"
fi

# One test file: runs it with its timeout and writes, for the summary,
# "$logdir/N.cnt" (passed failed skipped) and "$logdir/N.out" (its table line
# and, if it failed or skipped, the lines that say why).
run_one() { # index name timeout dir command...   dir "" = a fresh directory of its own
	local idx=$1 name=$2 limit
	limit=$(awk -v t="$3" -v m="$mult" 'BEGIN { v = t * m; printf "%d", (v < 1 ? 1 : v + 0.999) }')
	local dir=${4:-$logdir/${name//\//_}.d}
	shift 4
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
	{
		printf '%-45s %3d passed %3d failed %3d skipped  %3ds / %ds\n' "$name" "$p" "$f" "$s" $((SECONDS - start)) "$limit"
		if [ "$f" -gt 0 ]; then
			sed -n '1,200p' "$log" | grep -v '^PASS ' | sed 's/^/    | /'
		elif [ "$s" -gt 0 ]; then
			grep '^SKIP ' "$log" | sed 's/^/    | /'
		fi
	} >"$logdir/$idx.out"
	echo "$p $f $s" >"$logdir/$idx.cnt.tmp" && mv "$logdir/$idx.cnt.tmp" "$logdir/$idx.cnt"
}

# The test files, in the order the summary lists them.
names=() limits=() dirs=() files=() serial=()
add_test() { # name timeout dir serial(0|1) file   (an executable, or a .sh run by bash)
	names+=("$1") limits+=("$2") dirs+=("$3") serial+=("$4") files+=("$5")
}
for t in build/tests/test_* build/tests-asan/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	add_test "${t#build/}" 120 "$root" 0 "$root/$t"
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
	s=0
	grep -q '^# serial' "$t" && s=1
	add_test "${t#tests/}" "${limit:-120}" "" "$s" "$root/$t"
done

# Start the longest budgets first (they bound the run), at most $jobs at a
# time; a "# serial" file runs alone. Results are printed in list order as
# soon as every earlier file has finished.
order=$(for i in "${!names[@]}"; do echo "${serial[$i]} ${limits[$i]} $i"; done | sort -k1,1n -k2,2nr | cut -d' ' -f3)
next_print=0
print_ready() {
	while [ "$next_print" -lt "${#names[@]}" ] && [ -f "$logdir/$next_print.cnt" ]; do
		local p f s
		read -r p f s <"$logdir/$next_print.cnt"
		cat "$logdir/$next_print.out"
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + s))
		[ "$f" -gt 0 ] && failures+=("${names[$next_print]}")
		next_print=$((next_print + 1))
	done
}
running=0
for i in $order; do
	want=$jobs
	[ "${serial[$i]}" -eq 1 ] && want=1
	while [ "$running" -ge "$want" ]; do
		wait -n
		running=$((running - 1))
		print_ready
	done
	case ${files[$i]} in
	*.sh) run_one "$i" "${names[$i]}" "${limits[$i]}" "${dirs[$i]}" bash "${files[$i]}" & ;;
	*) run_one "$i" "${names[$i]}" "${limits[$i]}" "${dirs[$i]}" "${files[$i]}" & ;;
	esac
	running=$((running + 1))
done
wait
print_ready

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
