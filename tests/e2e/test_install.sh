# `make install PREFIX=…` installs the binary, the man page, the schemas,
# the prompts and retry.sh (SPEC §2), and what it installed works: the
# binary runs, `man` finds the page through the prefix, retry.sh sources.
# Uses the already built build/waitloop (make -o: never rebuilds here).
# timeout: 120
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

P=$T/prefix
t_begin install_prefix_layout
[ -x "$ROOT/build/waitloop" ] || t_fail "build/waitloop is not built"
make -s -C "$ROOT" -o build/waitloop install PREFIX="$P" >install.out 2>&1 || { t_fail "make install failed:"; sed 's/^/      /' install.out >&2; }
[ -x "$P/bin/waitloop" ] || t_fail "no $P/bin/waitloop"
[ -f "$P/share/man/man1/waitloop.1" ] || t_fail "no man page installed"
[ -f "$P/share/waitloop/retry.sh" ] || t_fail "no retry.sh installed"
for f in "$ROOT"/schema/*.json; do
	cmp -s "$f" "$P/share/waitloop/schema/$(basename "$f")" || t_fail "schema $(basename "$f") not installed"
done
for f in "$ROOT"/prompts/*.md; do
	cmp -s "$f" "$P/share/waitloop/prompts/$(basename "$f")" || t_fail "prompt $(basename "$f") not installed"
done
[ -f "$P/share/waitloop/schema/run.schema.json" ] || t_fail "run.schema.json not installed"
t_end

t_begin install_installed_files_work
expect_eq "$("$P/bin/waitloop" --version)" "waitloop $(cat "$ROOT/VERSION")"
expect_rc 0 "$P/bin/waitloop" validate "$ROOT/workflows/hello.yaml" >/dev/null
page=$(MANPATH="$P/share/man" man -w waitloop 2>/dev/null)
expect_eq "$page" "$P/share/man/man1/waitloop.1"
MANPATH="$P/share/man" MANWIDTH=80 man waitloop 2>/dev/null | grep -q 'waitloop verdict write' || t_fail "man waitloop does not render the page"
# retry.sh sources cleanly and defines both functions
out=$(bash -c '. "$1"; type -t retry_until_success; type -t retry_with_probe' _ "$P/share/waitloop/retry.sh")
expect_eq "$out" "function
function"
t_end
