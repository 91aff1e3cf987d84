# Smoke-run every libFuzzer target over its seed corpus (and kept crashers):
# each input once, under ASan+UBSan. The long runs are `make fuzz`.
# timeout: 300
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2
for f in "$ROOT"/build/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	n=${f##*/fuzz_}
	t_begin "fuzz_smoke_$n"
	files=("$ROOT/tests/fuzz/corpus/$n"/*)
	if [ ! -e "${files[0]}" ]; then
		t_fail "no seed corpus in tests/fuzz/corpus/$n"
	elif ! "$f" -runs=0 "${files[@]}" >fuzz.log 2>&1; then
		t_fail "$n failed on its corpus:"; tail -n 30 fuzz.log >&2
	fi
	t_end
done
ls "$ROOT"/build/fuzz/fuzz_* >/dev/null 2>&1 || { t_begin fuzz_targets_built; t_fail "no fuzz target was built"; t_end; }
