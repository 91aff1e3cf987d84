# Habits of CI users (docs/history.md, docs/cli.md): history queries
# (--status, --workflow, --since, --limit, -w), `show latest`, `show --all`
# and long messages printed once, the stable `history --json`, and shell
# completion for bash and zsh.
# timeout: 120
# shellcheck shell=bash
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

FEED=$TOOLS/store_feed
DB=$T/h/history.db
feed() { "$FEED" "$DB" || t_fail "store_feed failed"; }

# Three runs at known ages: deploy FAILED 3 days ago, deploy SUCCEEDED 2 hours
# ago, verify TIMED_OUT 10 minutes ago (the newest).
feed <<'EOF'
{"type":"run_started","run_id":"20260101-100000-aaaaaa","ago_s":259200,"workflow":"deploy"}
{"type":"run_finished","run_id":"20260101-100000-aaaaaa","status":"FAILED","duration_s":3,"exit_code":1}
{"type":"run_started","run_id":"20260104-080000-bbbbbb","ago_s":7200,"workflow":"deploy"}
{"type":"run_finished","run_id":"20260104-080000-bbbbbb","status":"SUCCEEDED","duration_s":4,"exit_code":0}
{"type":"run_started","run_id":"20260104-095000-cccccc","ago_s":600,"workflow":"verify-db"}
{"type":"run_finished","run_id":"20260104-095000-cccccc","status":"TIMED_OUT","duration_s":5,"exit_code":3}
EOF
ids() { awk 'NR > 1 {print $1}' | tr '\n' ' '; }

t_begin history_filter_status
expect_eq "$("$WL" history --db "$DB" --status failed | ids)" "20260101-100000-aaaaaa "
expect_eq "$("$WL" history --db "$DB" -s FAILED,timed_out | ids)" "20260104-095000-cccccc 20260101-100000-aaaaaa "
expect_rc 2 "$WL" history --db "$DB" --status FIALED 2>err.txt
expect_contains err.txt "waitloop: error: unknown status 'FIALED' in --status (did you mean 'FAILED'?)"
t_end

t_begin history_filter_workflow_since_limit
expect_eq "$("$WL" history --db "$DB" --workflow deploy | ids)" "20260104-080000-bbbbbb 20260101-100000-aaaaaa "
expect_eq "$("$WL" history --db "$DB" --workflow 'verify-*' | ids)" "20260104-095000-cccccc "
expect_eq "$("$WL" history --db "$DB" --since 1d | ids)" "20260104-095000-cccccc 20260104-080000-bbbbbb "
expect_eq "$("$WL" history --db "$DB" --since 30m | ids)" "20260104-095000-cccccc "
expect_eq "$("$WL" history --db "$DB" --since 1w --workflow deploy --limit 1 | ids)" "20260104-080000-bbbbbb "
# an absolute UTC date: two days ago (date-only, midnight) keeps the two recent runs
since=$(date -u -d '2 days ago' +%Y-%m-%d)
expect_eq "$("$WL" history --db "$DB" --since "$since" | ids)" "20260104-095000-cccccc 20260104-080000-bbbbbb "
out=$("$WL" history --db "$DB" --status CRASHED)
expect_eq "$out" "no matching runs in '$DB'"
expect_rc 2 "$WL" history --db "$DB" --since yesterday 2>err.txt
expect_contains err.txt "waitloop: error: invalid --since 'yesterday' (a duration such as 2h or 7d, or a UTC date such as 2026-11-30 or 2026-11-30T08:00:00Z)"
t_end

t_begin history_json_is_the_documented_interface
"$WL" history --db "$DB" --json --status SUCCEEDED >h.json
expect_schema_valid history h.json
"$WL" schema history >schema.json
cmp -s schema.json "$ROOT/schema/history.schema.json" || t_fail "'waitloop schema history' differs from schema/history.schema.json"
expect_eq "$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d), d[0]["id"], d[0]["status"], d[0]["exit_code"])' h.json)" \
	"1 20260104-080000-bbbbbb SUCCEEDED 0"
t_end

t_begin history_and_show_workspace
# -w DIR reads what `run -w DIR` recorded, from any current directory
mkdir -p ws sub
( cd sub && "$WL" run "$ROOT/workflows/hello.yaml" -w ../ws -q >/dev/null 2>&1 ) || t_fail "hello run failed"
out=$(cd sub && "$WL" history -w ../ws | ids)
expect_eq "$(echo "$out" | wc -w)" 1
id=${out% }
expect_contains "$(cd sub && "$WL" show latest -w ../ws)" "Run        $id"
expect_contains "$(cd sub && "$WL" show @latest -w ../ws --json)" "\"id\":	\"$id\""
# without -w, the current directory's history (none here)
expect_rc 1 sh -c "cd sub && '$WL' show latest 2>/dev/null"
expect_rc 2 "$WL" history -w "$T/missing" 2>err.txt
expect_contains err.txt "waitloop: error: workspace '$T/missing' is not a directory"
t_end

t_begin show_latest_picks_newest
expect_contains "$("$WL" show latest --db "$DB")" "Run        20260104-095000-cccccc"
expect_rc 1 "$WL" show latest --db "$T/h2/none.db" 2>/dev/null
"$FEED" "$T/e/history.db" </dev/null || true
if [ -f "$T/e/history.db" ]; then
	expect_rc 1 "$WL" show latest --db "$T/e/history.db" 2>err.txt
	expect_contains err.txt "waitloop: error: no runs recorded in history database '$T/e/history.db'"
fi
t_end

# A wait with 14 observations whose long message repeats the reason.
long="HelmRelease flux-system/capi-operator is Failed (InstallFailed): Helm install failed: chart not found in repository"
{
	echo '{"type":"run_started","run_id":"20260105-100000-dddddd","ago_s":5,"workflow":"obs"}'
	echo '{"type":"step_state","run_id":"20260105-100000-dddddd","step":"check","status":"RUNNING"}'
	for i in $(seq 1 14); do
		printf '{"type":"observation","run_id":"20260105-100000-dddddd","step":"check","attempt":1,"seq":%d,"elapsed_s":%d,"class":"retryable","digest":"d%d","summary":"obs-%02d %s"}\n' "$i" "$i" "$i" "$i" "$(printf 'x%.0s' $(seq 1 200))"
	done
	printf '{"type":"wait_finished","run_id":"20260105-100000-dddddd","step":"check","attempt":1,"phase":"wait","target":"crd/x","outcome":"terminal_fail","elapsed_s":14,"observations":14,"early_abort":true,"fingerprints":["f/x"],"message":"%s"}\n' "$long"
	printf '{"type":"step_state","run_id":"20260105-100000-dddddd","step":"check","status":"FAILED","reason":"wait: %s"}\n' "$long"
	echo '{"type":"run_finished","run_id":"20260105-100000-dddddd","status":"FAILED","duration_s":14,"exit_code":1}'
} >obs.jsonl
feed <obs.jsonl

t_begin show_prints_long_messages_once
"$WL" show latest --db "$DB" >show.txt
expect_eq "$(grep -c -F "$long" show.txt)" 1
expect_contains show.txt "(message as above)"
# the last 10 observations, the earlier ones counted, summaries cut at 160
expect_eq "$(grep -c 'obs-[0-9][0-9]' show.txt)" 10
expect_contains show.txt "(4 earlier observations; --all shows them)"
expect_not_contains show.txt "obs-04 "
expect_contains show.txt "obs-05 "
expect_eq "$(grep 'obs-14' show.txt | grep -o 'x*' | awk '{ if (length > m) m = length } END { print m }')" 153
t_end

t_begin show_all_prints_every_observation
"$WL" show latest --db "$DB" --all >all.txt
expect_eq "$(grep -c 'obs-[0-9][0-9]' all.txt)" 14
expect_not_contains all.txt "earlier observation"
expect_eq "$(grep 'obs-14' all.txt | grep -o 'x*' | awk '{ if (length > m) m = length } END { print m }')" 200
t_end

t_begin completion_bash
"$WL" completion bash >wl.bash
if command -v shellcheck >/dev/null; then shellcheck -s bash wl.bash || t_fail "shellcheck wl.bash"; fi
comp() { # cwd words... -> COMPREPLY of the last word
	( cd "$1" && shift && bash -c '. "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _waitloop; printf "%s\n" "${COMPREPLY[@]}"' "$T/wl.bash" "$@" ) | sort | tr '\n' ' '
}
expect_eq "$(comp . waitloop hi)" "history "
expect_eq "$(comp . waitloop co)" "completion "
expect_eq "$(comp . waitloop run --j)" "--json --junit "
expect_eq "$(comp . waitloop history --status TI)" "TIMED_OUT "
expect_eq "$(comp . waitloop schema su)" "summary "
expect_eq "$(comp . waitloop wait --mode p)" "probe_aware "
mkdir -p wfs/sub && : >wfs/a.yaml && : >wfs/b.yml && : >wfs/c.txt
expect_eq "$(comp wfs waitloop run '')" "a.yaml b.yml sub/ "
expect_eq "$(comp wfs waitloop validate a)" "a.yaml "
t_end

t_begin completion_knows_every_option
# every --option that a command's --help names completes (run's help also
# names roboppi's flags, which `workflow` takes)
for c in workflow validate wait verdict history show stats tune; do
	for o in $("$WL" "$c" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		case " $(comp . waitloop "$c" "$o") " in
		*" $o "*) ;;
		*) t_fail "'waitloop $c $o' does not complete" ;;
		esac
	done
done
expect_eq "$(comp . waitloop run --ag)" "--agents "
expect_eq "$(comp . waitloop wait --summary f)" "failure "
t_end

t_begin completion_zsh
"$WL" completion zsh >_waitloop
if command -v zsh >/dev/null; then
	zsh -n _waitloop || t_fail "zsh -n _waitloop"
	out=$(zsh -f -c 'autoload -U compinit; compinit -u -D; source ./_waitloop; print -r -- ${_comps[waitloop]}' 2>&1)
	expect_eq "$out" "_waitloop"
	# the function's answers, with compadd/_files stubbed (they only work inside a widget)
	zcomp() { # current-word-index words...
		zsh -f -c 'compadd() { print -r -- "$@"; }; _files() { print -r -- FILES "$@"; }; compdef() { :; }
			source ./_waitloop; CURRENT=$1; shift; words=("$@"); _waitloop' _ "$@"
	}
	expect_contains "$(zcomp 2 waitloop hi)" " history "
	expect_contains "$(zcomp 2 waitloop hi)" " completion "
	expect_eq "$(zcomp 4 waitloop history --status x)" "-- SUCCEEDED FAILED TIMED_OUT CANCELLED CRASHED RUNNING"
	expect_contains "$(zcomp 3 waitloop run --j)" " --junit "
	expect_eq "$(zcomp 3 waitloop run f)" "FILES -g *.(yaml|yml)"
	expect_eq "$(zcomp 5 waitloop run x.yaml -w '')" "FILES -/"
	t_end
else
	echo "SKIP completion_zsh: zsh not installed"
fi

t_begin completion_usage
expect_rc 2 "$WL" completion powershell 2>err.txt
expect_contains err.txt "waitloop: error: unknown shell 'powershell' (bash or zsh)"
expect_rc 2 "$WL" completion bsh 2>err.txt
expect_contains err.txt "waitloop: error: unknown shell 'bsh' (did you mean 'bash'?)"
expect_contains "$("$WL" --help)" "completion"
t_end
