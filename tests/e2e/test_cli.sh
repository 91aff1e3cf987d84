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

# `waitloop run` parses with getopt_long (issue 17): every form of every
# option, operands anywhere, "--", and the errors as docs/cli.md words them.
cat >forms.yaml <<'YAML'
name: forms
version: "1"
timeout: 1m
steps:
  env:
    worker: CUSTOM
    instructions: printf '%s|%s\n' "$A" "$B" > seen.txt
YAML
t_begin cli_run_option_forms
mkdir -p ws1 ws2 ws3
# short attached, long with '=', clustered short flags, options before the file
"$WL" run -wws1 --context=ctx1 --db=h1.db --set=A=x=y --set B=2 -qv --no-progress --json forms.yaml \
	>f1.out 2>f1.err
expect_eq "$?" 0
expect_eq "$(cat ws1/seen.txt 2>/dev/null)" "x=y|2"
[ -d ctx1/env ] || t_fail "--context=ctx1: no step directory in ctx1"
[ -f h1.db ] || t_fail "--db=h1.db: no history database"
grep -q '"status":.*"SUCCEEDED"' f1.out || t_fail "--json: no SUCCEEDED summary on stdout"
expect_contains f1.err "[env] "   # -qv: the last one wins (verbose)
# long with a separate value, the file first, "--" before a file that looks like an option
cp forms.yaml ./-v.yaml
"$WL" run --workspace ws2 --db "$T/h2.db" -q -- -v.yaml >f2.out 2>f2.err
expect_eq "$?" 0
expect_eq "$(cat ws2/seen.txt 2>/dev/null)" "|"
expect_not_contains f2.err "[env] "
# the environment defaults lose to the command line
WAITLOOP_VERBOSITY=verbose "$WL" run forms.yaml -w ws3 --db h3.db --quiet >f3.out 2>f3.err
expect_eq "$?" 0
[ -s f3.err ] && t_fail "--quiet after WAITLOOP_VERBOSITY=verbose printed: $(head -n 3 f3.err)"
t_end

t_begin cli_run_option_errors
check_err() { # expected-first-line cmd...   (exit 2; 1 under `workflow`, as roboppi)
	local want=$1 want_rc=2; shift
	[ "$1" = workflow ] && want_rc=1
	"$WL" "$@" >/dev/null 2>err.txt
	local rc=$?
	[ "$rc" -eq "$want_rc" ] || t_fail "exit $rc (want $want_rc): waitloop $*"
	expect_eq "$(head -n 1 err.txt)" "$want"
	expect_eq "$(sed -n 2p err.txt)" "Try 'waitloop $1 --help'."
}
check_err "waitloop: error: option '--db' needs a value" run forms.yaml --db
check_err "waitloop: error: option '-w' needs a value" run forms.yaml -w
check_err "waitloop: error: option '-w' needs a value" run forms.yaml -qw
check_err "waitloop: error: option '--junit' needs a value" run forms.yaml --junit=
check_err "waitloop: error: option '--json' takes no value" run forms.yaml --json=yes
check_err "waitloop: error: unknown option '-x'" run forms.yaml -vx
check_err "waitloop: error: unknown option '-x'" run forms.yaml -xv
check_err "waitloop: error: unknown option '--no-tui'" run forms.yaml --no-tui
check_err "waitloop: error: option '--co' is ambiguous (--context, --core, --core-entrypoint)" \
	workflow forms.yaml --co x
check_err "waitloop: error: more than one workflow file given ('forms.yaml', 'b.yaml')" run forms.yaml -q b.yaml
check_err "waitloop: error: more than one workflow file given ('forms.yaml', '-q')" run forms.yaml -- -q
check_err "waitloop: error: no workflow file given" run -q --
check_err "waitloop: error: --set expects KEY=VALUE with KEY a variable name, got '1A=b'" run forms.yaml --set=1A=b
[ -d context ] && t_fail "a usage error created a context directory"
# the other commands word their getopt errors the same way (cmdutil.c)
check_err "waitloop: error: option '--json' takes no value" history --json=1
check_err "waitloop: error: option '--w' is ambiguous (--workflow, --window)" stats --w x
check_err "waitloop: error: option '--json' takes no value" validate --json=yes forms.yaml
check_err "waitloop: error: unknown option '-x'" wait -qx -- true
check_err "waitloop: error: option '--max-wait' needs a value" wait --max-wait
check_err "waitloop: error: --interval must be positive, got '0'" wait --interval 0 -- true
check_err "waitloop: error: invalid duration '5x' for --probe-timeout (e.g. 200ms, 10s, 5m, or bare seconds)" \
	wait --probe-timeout=5x -- true
check_err "waitloop: error: unknown option '--hlep' (did you mean '--help'?)" schema --hlep
t_end

# roboppi's flags under `waitloop workflow`, in both forms (exit 0: accepted)
t_begin cli_workflow_roboppi_option_forms
git init -q -b main repo && git -C repo -c user.name=t -c user.email=t@t commit -q --allow-empty -m init
"$WL" workflow forms.yaml --workspace=repo --no-tui --keepalive-interval=10s --core x \
	--base-branch=main --protected-branches=release >wf.out 2>wf.err
expect_eq "$?" 0
expect_eq "$(cat repo/seen.txt 2>/dev/null)" "|"
"$WL" workflow forms.yaml --workspace repo --protected-branches main >wf2.out 2>wf2.err
expect_eq "$?" 1   # main is protected: refused, as roboppi
"$WL" workflow forms.yaml --workspace=repo --protected-branches=main --allow-protected-branch >wf3.out 2>wf3.err
expect_eq "$?" 0
t_end
