# Documentation against the binary: every option each command's --help
# prints is documented in docs/cli.md and in the man page; the man page
# renders without warnings; every complete workflow in a ```yaml block of
# README.md and docs/*.md validates (fragments of steps are wrapped in a
# header first; other fragments are skipped); every doc is reachable from
# docs/index.md and the README; relative links point at files that exist.
# (Every workflows/*.yaml validates: test_validate.sh.)
# timeout: 120
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

CLI=$ROOT/docs/cli.md
MAN=$ROOT/docs/waitloop.1
commands="run workflow validate wait verdict history show schema"

# Options printed by a help text: --long and -x words (not '--' alone).
help_options() {
	grep -oE '(^|[^A-Za-z0-9_-])(--[a-z][a-z-]*|-[a-zA-Z])\b' | sed -E 's/^[^-]//' | sort -u
}

t_begin docs_help_options_in_cli_md_and_man_page
command -v man >/dev/null || t_fail "man is not installed (man-db)"
MANWIDTH=200 man -l "$MAN" >man.txt 2>/dev/null || t_fail "man -l failed"
n=0
for c in "" $commands; do
	# shellcheck disable=SC2086
	"$WL" $c --help >help.txt 2>&1 || t_fail "waitloop $c --help exited non-zero"
	while read -r opt; do
		n=$((n + 1))
		grep -qF -- "$opt" "$CLI" || t_fail "'waitloop $c' option $opt is not in docs/cli.md"
		grep -qF -- "$opt" man.txt || t_fail "'waitloop $c' option $opt is not in the man page"
	done < <(help_options <help.txt)
done
[ "$n" -gt 40 ] || t_fail "only $n options found in the help texts"
# every command is a section of cli.md and of the man page
for c in $commands; do
	[ "$c" = workflow ] && continue
	grep -q "^## \`waitloop $c" "$CLI" || t_fail "docs/cli.md has no section for '$c'"
	grep -q "^   waitloop $c" man.txt || t_fail "the man page has no COMMANDS entry for '$c'"
done
t_end

t_begin docs_exit_codes_in_cli_md_and_man_page
for code in 0 1 2 3 124 130 143; do
	grep -qE "^\| ([0-9]+ / )?$code( / [0-9]+)? \|" "$CLI" || t_fail "exit code $code not in docs/cli.md"
	grep -qw -- "$code" man.txt || t_fail "exit code $code not in the man page"
done
for v in WAITLOOP_DB NO_COLOR WAITLOOP_KEEPALIVE_S WAITLOOP_STEP_DIR WAITLOOP_CHECK_ID WAITLOOP_PHASE \
	WAITLOOP_DECISION_FILE WAITLOOP_FIX_FILE WAITLOOP_BIN ROBOPPI_COMPLETION_CHECK_ID; do
	grep -qF "$v" "$CLI" || t_fail "$v not in docs/cli.md"
	grep -qF "$v" man.txt || t_fail "$v not in the man page"
done
# the schema names the binary knows are the ones documented
"$WL" schema --help >schema.txt
for s in workflow verdict wait-failure probe event run meta convergence; do
	grep -q "^  $s " schema.txt || t_fail "waitloop schema --help does not list $s"
	"$WL" schema "$s" >/dev/null || t_fail "waitloop schema $s failed"
	grep -qF "| \`$s\` |" "$CLI" || t_fail "schema $s not in docs/cli.md"
done
t_end

t_begin docs_man_page_renders_without_warnings
warn=$(MANWIDTH=80 man --warnings -l "$MAN" 2>&1 >/dev/null)
[ -z "$warn" ] || t_fail "man --warnings: $warn"
for s in NAME SYNOPSIS DESCRIPTION COMMANDS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
	grep -q "^$s" man.txt || t_fail "man page section $s missing"
done
t_end

t_begin docs_yaml_examples_validate
/usr/bin/python3 - "$T/blocks" "$ROOT/README.md" "$ROOT"/docs/*.md >blocks.txt <<'PY'
import os, re, sys, yaml
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
header = 'name: doc-example\nversion: "1"\ntimeout: 10m\n'
for path in sys.argv[2:]:
    text = open(path).read()
    for m in re.finditer(r'^```ya?ml\n(.*?)^```', text, re.S | re.M):
        body = m.group(1)
        line = text[:m.start()].count('\n') + 2
        try:
            doc = yaml.safe_load(body)
        except yaml.YAMLError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get('steps'), dict):
            continue
        if 'name' not in doc:
            # a fragment of steps: checked when every step is complete
            steps = doc['steps'].values()
            if not all(isinstance(s, dict) and ('wait' in s or ('worker' in s and
                       ('instructions' in s or 'instructions_file' in s))) for s in steps):
                continue
            body = header + body
        name = '%s_line%d.yaml' % (os.path.basename(path)[:-3], line)
        open(os.path.join(out, name), 'w').write(body)
        print(name)
PY
[ "$(wc -l <blocks.txt)" -ge 4 ] || t_fail "only $(wc -l <blocks.txt) workflow examples found in the docs"
grep -q '^README_line' blocks.txt || t_fail "the README's workflow was not found"
while read -r b; do
	"$WL" validate "blocks/$b" >v.out 2>v.err || { t_fail "example $b does not validate:"; sed 's/^/      /' v.err >&2; }
done <blocks.txt
t_end

# The other YAML examples (CI jobs, Kubernetes Job, Argo template, alert
# rules excerpts) cannot be run here: they must at least be valid YAML, and
# the Kubernetes ones must name apiVersion and kind.
t_begin docs_every_yaml_block_parses
/usr/bin/python3 - "$ROOT/README.md" "$ROOT"/docs/*.md >yaml.txt 2>&1 <<'PY' || t_fail "$(cat yaml.txt)"
import re, sys, yaml
bad = 0
for path in sys.argv[1:]:
    text = open(path).read()
    for m in re.finditer(r'^```ya?ml\n(.*?)^```', text, re.S | re.M):
        line = text[:m.start()].count('\n') + 2
        try:
            docs = [d for d in yaml.safe_load_all(m.group(1)) if d is not None]
        except yaml.YAMLError as e:
            print('%s:%d: %s' % (path, line, str(e).splitlines()[0])); bad += 1; continue
        for d in docs:
            if isinstance(d, dict) and ('spec' in d or 'apiVersion' in d) and not ('apiVersion' in d and 'kind' in d):
                print('%s:%d: a Kubernetes manifest without apiVersion/kind' % (path, line)); bad += 1
sys.exit(1 if bad else 0)
PY
t_end

t_begin docs_every_doc_linked_from_index_and_readme
for f in "$ROOT"/docs/*.md; do
	b=$(basename "$f")
	[ "$b" = index.md ] && continue
	grep -qF "($b)" "$ROOT/docs/index.md" || t_fail "docs/index.md does not link $b"
	grep -qF "(docs/$b)" "$ROOT/README.md" || t_fail "README.md does not link docs/$b"
done
grep -qF "(docs/index.md)" "$ROOT/README.md" || t_fail "README.md does not link docs/index.md"
[ "$(wc -l <"$ROOT/README.md")" -le 60 ] || t_fail "README.md is longer than one screen (60 lines)"
t_end

t_begin docs_relative_links_resolve
for f in "$ROOT/README.md" "$ROOT"/docs/*.md; do
	dir=$(dirname "$f")
	while read -r link; do
		target=${link%%#*}
		[ -n "$target" ] || continue
		[ -e "$dir/$target" ] || t_fail "$(basename "$f"): broken link ($link)"
	done < <(grep -oE '\]\([^)#: ]+(#[^)]*)?\)' "$f" | sed -E 's/^\]\(//; s/\)$//' | grep -v '^https\?:')
done
t_end

t_begin docs_readme_commands_exist
# every `waitloop X` and `make X` the README names is real
while read -r c; do
	"$WL" "$c" --help >/dev/null 2>&1 || t_fail "README names 'waitloop $c', which has no --help"
done < <(grep -oE 'waitloop [a-z]+' "$ROOT/README.md" | awk '{print $2}' | sort -u)
while read -r t; do
	grep -qE "^$t:" "$ROOT/Makefile" || t_fail "README names 'make $t', which is not a Makefile target"
done < <(grep -oE 'make [a-z]+' "$ROOT/README.md" | awk '{print $2}' | sort -u)
t_end

t_begin docs_every_example_workflow_runs_in_a_test
# Every non-agent workflow in workflows/ is run (not only validated) by an
# end-to-end test — directly, or through a script of workflows/ that runs it.
while read -r wf; do
	base=$(basename "$wf")
	names=$base
	while read -r s; do names="$names|$(basename "$s")"; done < <(grep -rlF "$base" "$ROOT/workflows" --include='*.sh')
	grep -qE "(run|bash).*($names)" "$ROOT"/tests/e2e/test_*.sh || t_fail "no e2e test runs workflows/$base"
done < <(/usr/bin/python3 - "$ROOT"/workflows/*.yaml <<'PY'
import sys, yaml
agents = {"CLAUDE_CODE", "CODEX_CLI", "OPENCODE"}
for path in sys.argv[1:]:
    d = yaml.safe_load(open(path))
    steps = (d or {}).get("steps") or {}
    workers = {s.get("worker") for s in steps.values() if isinstance(s, dict)}
    workers |= {(s.get("completion_check") or {}).get("worker") for s in steps.values() if isinstance(s, dict)}
    if not workers & agents:
        print(path)
PY
)
t_end
