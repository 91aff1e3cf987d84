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

# ---- the image (Dockerfile): no Docker daemon here, so its install step runs
# into a temporary root and the README's container example runs against it.
R=$T/root
t_begin dockerfile_install_step_into_root
step=$(grep -o 'make install DESTDIR=/out PREFIX=/usr/local' "$ROOT/Dockerfile")
expect_eq "$step" "make install DESTDIR=/out PREFIX=/usr/local"
grep -q '^COPY --from=build /out/ /$' "$ROOT/Dockerfile" || t_fail "the runtime stage does not copy /out"
make -s -C "$ROOT" -o build/waitloop install DESTDIR="$R" PREFIX=/usr/local >install2.out 2>&1 || { t_fail "make install DESTDIR failed:"; sed 's/^/      /' install2.out >&2; }
U=$R/usr/local
for p in "$ROOT"/workflows/probes/*.sh; do
	f=$U/share/waitloop/probes/$(basename "$p")
	[ -x "$f" ] || t_fail "probe $(basename "$p") not installed executable"
	cmp -s "$p" "$f" || t_fail "probe $(basename "$p") differs"
done
[ -s "$U/share/bash-completion/completions/waitloop" ] || t_fail "no bash completion installed"
[ -s "$U/share/zsh/site-functions/_waitloop" ] || t_fail "no zsh completion installed"
[ -x "$U/bin/waitloop" ] || t_fail "no binary in the root"
t_end

t_begin dockerfile_runtime_packages_cover_the_binary
# every shared library the binary needs (and libgit2, loaded on first use)
# comes from a package the runtime stage installs
runtime=$(sed -n '/^FROM debian:bookworm-slim$/,$p' "$ROOT/Dockerfile")
libs=$(objdump -p "$U/bin/waitloop" | awk '/NEEDED/ {print $2}' | grep -v '^libc\.so\|^libm\.so')
libs="$libs $(strings "$U/bin/waitloop" | grep -m 1 '^libgit2\.so\.')"
for lib in $libs; do
	path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
	[ -n "$path" ] || { t_fail "cannot resolve $lib"; continue; }
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
	[ -n "$pkg" ] || pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
	case "$runtime" in *" $pkg "*) ;; *) t_fail "$lib ($pkg) is not installed by the runtime stage" ;; esac
done
t_end

t_begin dockerfile_kubectl_nonroot_dockerignore
df=$ROOT/Dockerfile
# shellcheck disable=SC2016 # literal ${KUBECTL_MINOR}, as in the Dockerfile
grep -q 'https://pkgs.k8s.io/core:/stable:/${KUBECTL_MINOR}/deb/Release.key' "$df" || t_fail "kubectl's key is not fetched from pkgs.k8s.io"
# shellcheck disable=SC2016
grep -q 'deb \[signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg\] https://pkgs.k8s.io/core:/stable:/${KUBECTL_MINOR}/deb/ /' "$df" || t_fail "no signed pkgs.k8s.io apt source"
grep -q 'apt-get install -y -qq --no-install-recommends kubectl' "$df" || t_fail "kubectl is not installed with apt"
# the last USER is numeric and not root
user=$(awk '$1 == "USER" {u = $2} END {print u}' "$df")
case "$user" in 0|0:*|root*|"") t_fail "the image runs as '$user'" ;; [0-9]*) ;; *) t_fail "USER '$user' is not numeric (runAsNonRoot)" ;; esac
grep -q "useradd --uid ${user%%:*} " "$df" || t_fail "uid ${user%%:*} is not created"
di=$ROOT/.dockerignore
for p in .git build/ context/ .waitloop/; do
	grep -qxF "$p" "$di" || t_fail ".dockerignore lacks $p"
done
t_end

t_begin readme_container_example_runs
# The README's workflow (as run in the image), with /usr/local meaning the root above,
# against a simulated cluster (tests/fixtures/image/kubectl on PATH).
ws=$T/cws
mkdir -p "$ws" "$T/kbin"
cp "$ROOT/tests/fixtures/image/kubectl" "$T/kbin/kubectl"
# the first yaml block after "## A minimal workflow"
awk '/^## A minimal workflow/ {sec = 1} sec && /^```yaml$/ {on = 1; next} on && /^```$/ {exit} on {print}' \
	"$ROOT/README.md" | sed "s#/usr/local/#$U/#g" >"$ws/crd-ready.yaml"
grep -q '^name: crd-ready$' "$ws/crd-ready.yaml" || t_fail "README example not found"
if ! grep -q "$U/share/waitloop/probes/k8s-probe.sh" "$ws/crd-ready.yaml"; then
	t_fail "README example does not use the installed probe"
	t_end
	exit 0
fi
echo failed >"$T/cluster"
FAKE_CLUSTER=$T/cluster PATH="$T/kbin:$PATH" "$U/bin/waitloop" run "$ws/crd-ready.yaml" -w "$ws" --json >c1.json 2>c1.err
expect_eq "$?" 1
fps=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["steps"][0]; print(s["status"], " ".join(s["fingerprints"]), d["early_aborts"], int(s["duration_s"] < 60))' c1.json 2>&1)
expect_eq "$fps" "FAILED crd-missing/k0smotrondockerclusters helmrelease-failed/k0smotron 1 1"
# a healthy cluster: the same example succeeds
echo ready >"$T/cluster"
FAKE_CLUSTER=$T/cluster PATH="$T/kbin:$PATH" "$U/bin/waitloop" run "$ws/crd-ready.yaml" -w "$ws" -q >c2.out 2>c2.err
expect_eq "$?" 0
expect_contains c2.out "Workflow: SUCCEEDED"
t_end
