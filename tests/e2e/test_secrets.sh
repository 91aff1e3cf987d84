# End-to-end: secrets never leave (SPEC §7, issue 15). A corpus of planted
# secrets of 36 kinds is put in every place a secret can come from (step
# output, condition and probe output, check output, env, --set, the runner's
# environment, workflow fields, error messages, file names) and every sink is
# searched, case-insensitively: every file under the context directory
# (iteration archives included) and .waitloop, the history database as
# `sqlite3 .dump`, events.jsonl, the notify file and command stdin, the
# metrics file, the runner's stdout/stderr with and without -v, --json
# outputs and validation errors. Zero hits.
#
# Raw by design (SPEC §7, docs/artifacts.md): a step's own stdout.log,
# stderr.log, check.stdout.log and check.stderr.log. They are not searched
# (they must hold the planted secrets, which proves the corpus reached them).
# timeout: 120
# shellcheck shell=bash
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

# ---------------------------------------------------------------------------
# The corpus: NAME|TEXT-AS-PRINTED|NEEDLE (the part that must never appear).
PEM_RSA_BODY=""
for i in $(seq -w 1 70); do PEM_RSA_BODY="$PEM_RSA_BODY
PlantedRsaKeyLine${i}MIIEowIBAAKCAQEAx2VeQ8Zk3mN7pQ"; done
CORPUS=$(
	cat <<'EOF'
aws-key|aws AKIAPLANTEDAWSKEY001 here|PLANTEDAWSKEY001
aws-sts|sts ASIAPLANTEDSTSKEY002 x|PLANTEDSTSKEY002
github-ghp|gh ghp_PlantedGithubToken0123456789abcdef done|PlantedGithubToken
github-pat|pat github_pat_11PLANTEDPAT0123456789_abcdefghijklm ok|PLANTEDPAT0123456789
gitlab|gl glpat-PlantedGitlabTok0123456789 ok|PlantedGitlabTok
slack-bot|slack xoxb-123456789012-PlantedSlackBot0123 ok|PlantedSlackBot
slack-user|slack xoxp-2222222222-PlantedSlackUser0123 ok|PlantedSlackUser
stripe-live|stripe sk_live_PlantedStripeLive0123456 ok|PlantedStripeLive
stripe-restricted|stripe rk_live_PlantedStripeRestr0123456 ok|PlantedStripeRestr
npm|npm npm_PlantedNpmToken0123456789abcdefghijk ok|PlantedNpmToken
google|google AIzaSyPlantedGoogleKey0123456789abcdefgh ok|PlantedGoogleKey
openai|openai sk-proj-PlantedOpenAIKey0123456789abcd ok|PlantedOpenAIKey
anthropic|anthropic sk-ant-api03-PlantedAnthropicKey0123456 ok|PlantedAnthropicKey
jwt|jwt eyJhbGciOiJIUzI1NiJ9.eyJQbGFudGVkSldUIjoxfQ.PlantedJwtSignature01 ok|eyJQbGFudGVkSldUIjoxfQ
bearer|Authorization: Bearer PlantedBearerTok0123456|PlantedBearerTok
basic|Proxy-Authorization: Basic UGxhbnRlZEJhc2ljMDEyMw==|UGxhbnRlZEJhc2ljMDEyMw
kv-password|login password=PlantedPwKv0123 user=bob|PlantedPwKv
yaml-secret|client_secret: PlantedYamlSecret0123|PlantedYamlSecret
json-apikey|{"api_key": "PlantedJsonApiKey0123", "name": "web"}|PlantedJsonApiKey
postgres-url|db postgres://app:PlantedPgPass0123@db:5432/app up|PlantedPgPass
redis-url|cache redis://:PlantedRedisPass0123@cache:6379/0 up|PlantedRedisPass
https-url|git https://deploy:PlantedHttpsPass0123@git.example.com/x.git ok|PlantedHttpsPass
cli-password|psql --password PlantedCliPass0123 --host db|PlantedCliPass
mysql|mysql -u root -pPlantedMysqlPass0123 -h db app|PlantedMysqlPass
curl-user|curl -fsS -u admin:PlantedCurlPass0123 https://api.example.com|PlantedCurlPass
cookie|Cookie: session=PlantedCookieSess0123; theme=dark|PlantedCookieSess
set-cookie|Set-Cookie: sid=PlantedSetCookie0123; Path=/; HttpOnly|PlantedSetCookie
azure|DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=PlantedAzureKey0123==;EndpointSuffix=core.windows.net|PlantedAzureKey
kubeconfig|    client-key-data: PlantedKubeKeyData0123|PlantedKubeKeyData
custom-pattern|ticket corp-31415926 opened|31415926
EOF
)
# Literal secrets: values of secret-named variables (two steps share a name:
# leak 2), --set, the runner's environment. Not recognisable by shape.
LIT_STEP_A=PlantedEnvStepAvalue01
LIT_STEP_B=PlantedEnvStepBvalue02
LIT_SET=PlantedSetValue03xyz
LIT_RUNNER=PlantedRunnerEnv04xyz
LIT_WF=PlantedWfEnvValue05xyz
NEEDLES=$(printf '%s\n' "$CORPUS" | cut -d'|' -f3)
NEEDLES="$NEEDLES
PlantedRsaKeyLine
PlantedOpensshLine
PlantedEcKeyLine
FILENAMEPLANT001
$LIT_STEP_A
$LIT_STEP_B
$LIT_SET
$LIT_RUNNER
$LIT_WF"
printf '%s\n' "$NEEDLES" | grep -v '^$' >needles.txt
[ "$(wc -l <needles.txt)" -ge 37 ] || { echo "FAIL corpus_size: $(wc -l <needles.txt) kinds"; exit 1; }

# The printer every placement uses: all kinds, three private keys, the literals.
mkdir -p bin
{
	echo '#!/bin/sh'
	echo "cat <<'CORPUS_EOF'"
	printf '%s\n' "$CORPUS" | cut -d'|' -f2
	echo "-----BEGIN RSA PRIVATE KEY-----$PEM_RSA_BODY"
	echo "-----END RSA PRIVATE KEY-----"
	echo "-----BEGIN OPENSSH PRIVATE KEY-----"
	for i in 1 2 3 4 5; do echo "PlantedOpensshLine${i}b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"; done
	echo "-----END OPENSSH PRIVATE KEY-----"
	echo "-----BEGIN EC PRIVATE KEY-----"
	echo "PlantedEcKeyLine1MHcCAQEEIBkg"
	echo "-----END EC PRIVATE KEY-----"
	echo "login rejected: key AKIAPLANTEDAWSKEY001 pw $LIT_STEP_A"
	echo "CORPUS_EOF"
	# shellcheck disable=SC2016 # expanded by the step, not here
	echo 'echo "env: a=$STEP_A_TOKEN b=$DEPLOY_TOKEN set=$DB_PASSWORD runner=$MY_RUNNER_SECRET wf=$WF_API_KEY"'
} >bin/corpus
chmod +x bin/corpus
CORPUS_BIN=$PWD/bin/corpus

# A probe printing one JSON object with secrets in every value type (leak 6).
cat >bin/probe <<EOF
#!/bin/sh
cat <<'J'
{"status":"Failed","summary":"login rejected: key AKIAPLANTEDAWSKEY001","message":"Authorization: Bearer PlantedBearerTok0123456 xoxb-123456789012-PlantedSlackBot0123",
 "password":["PlantedPwKv0123"],"token":{"value":"PlantedGithubToken"},"apiKey":12345678901234,
 "conditions":[{"type":"Ready","message":"mysql -u root -pPlantedMysqlPass0123 -h db"}]}
J
EOF
chmod +x bin/probe

# The notify command keeps its stdin (a sink).
cat >bin/notify <<EOF
#!/bin/sh
cat >>"$PWD/notify-stdin.jsonl"
echo >>"$PWD/notify-stdin.jsonl"
EOF
chmod +x bin/notify

write_workflow() { # file
	cat >"$1" <<EOF
name: secrets-corpus
version: "1"
timeout: 2m
env:
  WF_API_KEY: "$LIT_WF"
redact: ['corp-[0-9]{8}']
metrics: {file: metrics/run.prom}
notify:
  targets:
    inbox: {type: file, path: notify/inbox.jsonl}
    hook: {type: command, command: $PWD/bin/notify}
  events: [early_abort, alert, iteration_finished, run_started, run_finished]
steps:
  out-a:
    worker: CUSTOM
    env: {DEPLOY_TOKEN: "$LIT_STEP_A"}
    instructions: |
      $CORPUS_BIN
      $CORPUS_BIN >&2
  out-b:
    worker: CUSTOM
    depends_on: [out-a]
    env: {DEPLOY_TOKEN: "$LIT_STEP_B"}
    instructions: |
      # a workflow field holding secrets: curl -u admin:PlantedCurlPass0123 https://x token=PlantedPwKv0123
      $CORPUS_BIN
      echo "second step token $LIT_STEP_B"
  doomed:
    depends_on: [out-b]
    on_failure: continue
    wait:
      condition: '$CORPUS_BIN; false'
      target: helmrelease/doomed?token=$LIT_STEP_B
    wait_policy:
      mode: probe_aware
      interval: 200ms
      max_wait: 30s
      probe: $PWD/bin/probe
      terminal_patterns: ['login rejected: .*']
  kube:
    depends_on: [doomed]
    on_failure: continue
    wait:
      condition: 'echo "Error: secret login rejected: key AKIAPLANTEDAWSKEY001 pw $LIT_STEP_A"; false'
      target: kube
    wait_policy:
      mode: probe_aware
      interval: 200ms
      max_wait: 30s
      rules:
        - match: 'login rejected: key ([^ ]+) pw ([^ ]+)'
          class: terminal_fail
          fingerprint: 'auth/{1}/{2}'
  guarded:
    depends_on: [kube]
    on_failure: continue
    worker: CUSTOM
    instructions: '$CORPUS_BIN; sleep 20'
    timeout: 40s
    wait_policy:
      mode: probe_aware
      interval: 300ms
      terminal_patterns: ['login rejected: .*']
      grace: 1s
  loop:
    depends_on: [guarded]
    worker: CUSTOM
    instructions: |
      echo "iteration \$WAITLOOP_ITERATION"
      touch "AKIAFILENAMEPLANT001.txt" "out-$LIT_STEP_A.txt"
    max_iterations: 2
    completion_check:
      worker: CUSTOM
      instructions: |
        $CORPUS_BIN
        if [ "\$WAITLOOP_ITERATION" = 1 ]; then
          "\$WAITLOOP_BIN" verdict write --decision incomplete \\
            --reason "401 for AKIAPLANTEDAWSKEY001 ticket corp-31415926 set $LIT_SET" \\
            --fingerprint "auth/corp-31415926/$LIT_STEP_A" --hint "rotate xoxb-123456789012-PlantedSlackBot0123"
          "\$WAITLOOP_BIN" wait --condition "$CORPUS_BIN; echo ticket corp-31415926; false" \\
            --max-wait 1s --interval 200ms --target "api corp-31415926" --quiet || true
          exit 1
        fi
EOF
}

mkrepo() { # dir
	mkdir -p "$1"
	git -C "$1" init -q
	git -C "$1" -c user.email=t@t -c user.name=t commit -q --allow-empty -m init
}

# Every file of dir (but the step's raw logs and the database itself), plus extra files.
search() { # label files-or-dirs...
	local label=$1 hits
	shift
	hits=$(grep -rliF -f needles.txt "$@" 2>/dev/null |
		grep -vE '/(stdout|stderr|check\.stdout|check\.stderr)\.log$|/history\.db(-wal|-shm)?$' || true)
	if [ -n "$hits" ]; then
		t_fail "$label: planted secret in: $(echo "$hits" | tr '\n' ' ')"
		for f in $hits; do grep -oiF -f needles.txt "$f" | sort -u | head -5 | sed "s|^|      $f: |" >&2; done
	fi
}

run_corpus() { # name extra-args...
	local name=$1
	shift
	mkrepo "ws-$name"
	mkdir -p "ws-$name/notify" "ws-$name/metrics"
	write_workflow "ws-$name/wf.yaml"
	MY_RUNNER_SECRET=$LIT_RUNNER "$WL" run "ws-$name/wf.yaml" -w "ws-$name" --no-progress \
		--set "DB_PASSWORD=$LIT_SET" "$@" >"$name.out" 2>"$name.err"
	rc=$?
}

# ---------------------------------------------------------------------------
t_begin secrets_corpus_run_quiet
SECONDS=0
: >notify-stdin.jsonl
run_corpus q
[ "$rc" -le 1 ] || t_fail "run exited $rc"
expect_contains q.out "doomed"
# the corpus reached the raw logs (else the test proves nothing)
grep -qF PlantedRsaKeyLine70 ws-q/context/out-a/stdout.log || t_fail "corpus not printed (test is void)"
grep -qF "$LIT_STEP_B" ws-q/context/out-b/stdout.log || t_fail "step b env not printed (test is void)"
grep -qF PlantedMysqlPass ws-q/context/loop/check.stdout.log || t_fail "check corpus not printed (test is void)"
[ -f ws-q/context/doomed/wait-failure.json ] || t_fail "no wait-failure.json for the condition wait"
[ -f ws-q/context/loop/iterations/1/fix.md ] || t_fail "no archived fix.md"
grep -q REDACTED ws-q/context/loop/iterations/1/fix.md || t_fail "fix.md shows nothing redacted (test is void)"
grep -q 'out-\[REDACTED\]\.txt' ws-q/context/loop/iterations/1/fix.md || t_fail "changed file names not in fix.md (test is void)"
grep -q REDACTED ws-q/context/doomed/wait-failure.json || t_fail "wait-failure.json shows nothing redacted (test is void)"
sqlite3 ws-q/.waitloop/history.db .dump >q.dump || t_fail "no history database"
grep -q 'auth/' q.dump || t_fail "fingerprints not in the database (test is void)"
[ "$(sqlite3 ws-q/.waitloop/history.db "SELECT count(*) FROM observations o JOIN waits w ON o.wait_id = w.id
	WHERE w.script = 1")" -gt 0 ] || t_fail "the check's own wait not in the database (test is void)"
[ -s ws-q/notify/inbox.jsonl ] || t_fail "notify file empty (test is void)"
[ -s notify-stdin.jsonl ] || t_fail "notify command got nothing (test is void)"
[ -s ws-q/metrics/run.prom ] || t_fail "no metrics file"
"$WL" history --db ws-q/.waitloop/history.db --json >q.history.json 2>&1
"$WL" show --db ws-q/.waitloop/history.db --json >q.show.json 2>&1
search "quiet run" ws-q/context ws-q/.waitloop ws-q/notify ws-q/metrics q.dump q.out q.err notify-stdin.jsonl \
	q.history.json q.show.json
echo "  quiet run: ${SECONDS}s" >&2   # a hang is the file timeout's to catch, not a clock bound
t_end

t_begin secrets_corpus_run_verbose_json
: >notify-stdin.jsonl
run_corpus v -v --json
[ "$rc" -le 1 ] || t_fail "run exited $rc"
grep -q '\[out-a\]' v.err v.out || t_fail "-v printed no step output (test is void)"
grep -q REDACTED v.err v.out || t_fail "-v shows nothing redacted (test is void)"
sqlite3 ws-v/.waitloop/history.db .dump >v.dump
search "verbose run" ws-v/context ws-v/.waitloop ws-v/notify ws-v/metrics v.dump v.out v.err notify-stdin.jsonl
t_end

# Preflight: a failing named check prints a private key and secrets; -v shows its tail.
t_begin secrets_preflight_verbose
mkdir -p ws-p
cat >ws-p/wf.yaml <<EOF
name: secrets-preflight
version: "1"
timeout: 1m
env: {STEP_A_TOKEN: "$LIT_STEP_A"}
redact: ['corp-[0-9]{8}']
preflight:
  - name: creds
    command: '$CORPUS_BIN; false'
    fingerprint: preflight/creds
steps:
  a: {worker: CUSTOM, instructions: "true"}
EOF
MY_RUNNER_SECRET=$LIT_RUNNER "$WL" run ws-p/wf.yaml -w ws-p -v --set "DB_PASSWORD=$LIT_SET" >p.out 2>p.err
expect_eq "$?" 2
expect_contains p.err "preflight failed"
grep -q REDACTED p.err || t_fail "-v shows no check output (test is void)"
sqlite3 ws-p/.waitloop/history.db .dump >p.dump 2>/dev/null || true
search "preflight" ws-p/context ws-p/.waitloop p.dump p.out p.err
t_end

# Validation errors quote no value that could be a secret (leak 7), text and --json.
t_begin secrets_validation_errors
cat >bad.yaml <<EOF
name: bad
version: "1"
timeout: AKIAPLANTEDAWSKEY001
steps:
  a:
    worker: CUSTOM
    instructions: "true"
    timeout: $LIT_STEP_A
    on_failure: sk_live_PlantedStripeLive0123456
    wait_policy: {mode: ghp_PlantedGithubToken0123456789abcdef}
EOF
"$WL" validate bad.yaml >val.out 2>val.err
expect_eq "$?" 2
"$WL" validate --json bad.yaml >valj.out 2>valj.err
"$WL" run bad.yaml -w . >valr.out 2>valr.err
expect_contains val.err "invalid duration"
expect_contains valj.out "invalid duration"
search "validation" val.out val.err valj.out valj.err valr.out valr.err
t_end

# Fingerprints are made from redacted text (leak 1): the lower-cased,
# dashed forms of the planted secrets are searched for too.
t_begin secrets_fingerprints_normalised
lc=$(tr '[:upper:]' '[:lower:]' <needles.txt | tr ' ' '-')
hits=$(grep -rhoiF "$lc" ws-q/context/doomed/wait-failure.json ws-q/context/kube/wait-failure.json q.dump 2>/dev/null | head -3)
[ -z "$hits" ] || t_fail "a normalised secret in a fingerprint: $hits"
grep -q 'terminal/login-rejected' ws-q/context/doomed/wait-failure.json ||
	t_fail "the terminal fingerprint is missing (test is void)"
grep -qF '[REDACTED]' ws-q/context/doomed/wait-failure.json || t_fail "redaction marker lost in normalisation"
t_end

# Leak 2: one secret-named variable in two steps: both values are secrets.
t_begin secrets_same_name_two_steps
mkdir -p ws-2
cat >ws-2/wf.yaml <<'EOF'
name: two-steps
version: "1"
timeout: 1m
steps:
  first:
    worker: CUSTOM
    env: {SHARED_TOKEN: "FirstStepValue77abc"}
    on_failure: continue
    instructions: 'echo "using $SHARED_TOKEN"; sleep 20'
    timeout: 40s
    wait_policy: {mode: probe_aware, interval: 200ms, terminal_patterns: ['using .*'], grace: 1s}
  second:
    worker: CUSTOM
    depends_on: [first]
    env: {SHARED_TOKEN: "SecondStepValue88abc"}
    instructions: 'echo "using $SHARED_TOKEN"'
EOF
"$WL" run ws-2/wf.yaml -w ws-2 -v >two.out 2>two.err
grep -qF FirstStepValue77abc ws-2/context/first/stdout.log || t_fail "step did not print its value (test is void)"
grep -q 'terminal' ws-2/context/first/wait-failure.json || t_fail "the guard did not fire (test is void)"
hits=$(grep -rlF FirstStepValue77abc ws-2/context ws-2/.waitloop two.out two.err | grep -vE '/(stdout|stderr)\.log$|\.db$' || true)
[ -z "$hits" ] || t_fail "the first step's value leaked into: $hits"
t_end

# Leak 3: run -v redacts output as a stream: a private key stays hidden from
# BEGIN to END, and a line longer than the 4 KiB display cut shows no prefix
# of a secret straddling the cut.
t_begin secrets_verbose_stream
mkdir -p ws-3
cat >ws-3/gen.sh <<'EOF'
#!/bin/sh
echo "-----BEGIN PRIVATE KEY-----"
i=0; while [ $i -lt 40 ]; do echo "StreamKeyBody$i/MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"; i=$((i + 1)); done
echo "-----END PRIVATE KEY-----"
i=0; while [ $i -lt 816 ]; do printf 'word '; i=$((i + 1)); done
echo "AKIACUTPLANTED000001 tail"
EOF
chmod +x ws-3/gen.sh
cat >ws-3/wf.yaml <<'EOF'
name: stream
version: "1"
timeout: 1m
steps:
  gen: {worker: CUSTOM, instructions: ./gen.sh}
EOF
"$WL" run ws-3/wf.yaml -w ws-3 -v >s3.out 2>s3.err
expect_eq "$?" 0
grep -q 'StreamKeyBody39' ws-3/context/gen/stdout.log || t_fail "key not printed (test is void)"
grep -q '\[gen\] word word' s3.out s3.err || t_fail "-v printed no output (test is void)"
grep -qF -e StreamKeyBody -e AKIACUTPLANT s3.out s3.err && t_fail "-v output shows a key line or a cut secret's prefix"
t_end

# Standalone `waitloop wait`: the corpus in its condition and probe, a
# secret-named variable, and a run's hand-over (WAITLOOP_REDACT) with a
# pattern of its own (leak 5).
t_begin secrets_wait_cli
mkdir -p wcli
DEPLOY_TOKEN=$LIT_STEP_A MY_RUNNER_SECRET=$LIT_RUNNER \
	WAITLOOP_REDACT='{"patterns":["corp-[0-9]{8}"],"literals":["'"$LIT_SET"'","'"$LIT_WF"'"]}' \
	"$WL" wait --condition "$CORPUS_BIN; echo set=$LIT_SET wf=$LIT_WF; false" --probe "$PWD/bin/probe" \
	--terminal-pattern 'login rejected: .*' --max-wait 5s --interval 200ms --target "corp-31415926" \
	--out wcli >wcli.out 2>wcli.err
expect_eq "$?" 1
[ -f wcli/wait-failure.json ] || t_fail "no wait-failure.json"
grep -q 'REDACTED' wcli/wait-failure.json || t_fail "nothing redacted (test is void)"
# The condition's own stdout/stderr pass through raw, as the classic shell loop
# prints them (a script may capture them: out=$(waitloop wait -- ...), issue 14),
# like a step's stdout.log; every line waitloop writes itself is redacted.
grep '^waitloop' wcli.err >wcli.own
grep -qF "$LIT_SET" wcli.out || t_fail "the condition's stdout did not pass through (test is void)"
search "waitloop wait" wcli wcli.own
t_end

# A step id equal to a secret: the events carry it redacted (the bus is the
# one redaction boundary; events.jsonl, history and notifications get no
# second pass, issue 19).
t_begin secrets_step_id_in_events
mkdir -p sid
printf 'name: sid\nversion: "1"\ntimeout: 1m\nsteps:\n  stepsecret-4711:\n    worker: CUSTOM\n    instructions: "echo hi"\n' >sid/w.yaml
MY_TOKEN=stepsecret-4711 "$WL" run sid/w.yaml -w sid -q --context sid/ctx --db sid/h.db >sid.out 2>sid.err
expect_eq "$?" 0
expect_contains sid/ctx/_workflow/events.jsonl '"step":"[REDACTED]"'
expect_not_contains sid/ctx/_workflow/events.jsonl 'stepsecret-4711'
t_end
