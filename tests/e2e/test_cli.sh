# End-to-end: command dispatch, --help, --version, unknown commands.
# timeout: 60
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

t_begin cli_version
out=$("$WL" --version); expect_rc 0 true
expect_contains "$out" "waitloop $(cat "$ROOT/VERSION")"
t_end

t_begin cli_help_lists_commands
out=$("$WL" --help)
expect_contains "$out" "usage: waitloop <command>"
t_end

t_begin cli_no_args_is_usage_error
expect_rc 2 "$WL" 2>err.txt
expect_contains err.txt "usage: waitloop"
t_end

t_begin cli_unknown_command_suggests
"$WL" histroy 2>err.txt; rc=$?
expect_eq "$rc" 2
"$WL" --help | grep -q '^  history' && expect_contains err.txt "waitloop: error: unknown command 'histroy' (did you mean 'history'?)"
t_end

t_begin cli_unknown_option
expect_rc 2 "$WL" --frobnicate 2>err.txt
expect_contains err.txt "waitloop: error: unknown option '--frobnicate'"
t_end

# The CLI is built apart from the library (issue 17): libwaitloop.a holds
# the engine only; main and the commands are linked into the binary.
t_begin cli_library_without_commands
lib="$ROOT/build/libwaitloop.a"
if [ ! -f "$lib" ] || ! command -v nm >/dev/null; then
	t_skip "no $lib or no nm"
else
	nm -g --defined-only "$lib" 2>/dev/null | grep -E ' T (main|cmd_[a-z_]+|print_error|usage_error)$' >syms.txt
	[ -s syms.txt ] && t_fail "libwaitloop.a defines CLI symbols: $(tr '\n' ' ' <syms.txt)"
	nm -g --defined-only "$lib" 2>/dev/null | grep -q ' T runner_new$' || t_fail "libwaitloop.a lacks runner_new"
fi
t_end
