# End-to-end: the runner never hangs on what it reads — bounded regexes
# (PCRE2 under limits) and bounded parsing (YAML/JSON nesting).
# shellcheck shell=bash
# timeout: 300
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

now_ms() { date +%s%3N; }
jq_() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
PLAIN=${WAITLOOP_PLAIN_BIN:-$WL}
python3 -c "import sys; sys.stdout.write('a'*3000 + '!b\n')" > out3k.txt
python3 -c "import sys; sys.stdout.write('a'*61440 + 'cb\n')" > out60k.txt

# 1. A backreference on 3 KB: glibc ran 324 s past a 2 s max_wait.
t_begin regex_backreference_ends_within_max_wait
start=$(now_ms)
"$WL" wait --terminal-pattern '([a-z]+)\1b' --interval 200ms --max-wait 2s --stall-threshold 1000 --out o1 \
	-- sh -c "cat '$T/out3k.txt'; exit 1" 2>err1.txt
rc=$?; took=$(( $(now_ms) - start ))
expect_eq "$rc" 124
[ "$took" -lt 20000 ] || t_fail "took ${took}ms for a 2s max_wait"
expect_eq "$(jq_ o1/wait-failure.json 'd["reason"]')" timeout
expect_eq "$(grep -c "terminal pattern '(\[a-z\]+)\\\\1b' hit the regex match limit" err1.txt)" 1
expect_contains o1/wait-probe.log '"warnings":'
t_end

# 2. Exponential patterns on 60 KB: glibc grew to 12.6 GB. Memory stays bounded.
t_begin regex_exponential_bounded_memory
start=$(now_ms)
/usr/bin/time -f '%M' -o rss.txt "$PLAIN" wait --terminal-pattern '(a|a)*(a|a)*b' \
	--terminal-pattern '(a{1,200}){1,200}b' --terminal-pattern '(.*a){20}' --terminal-pattern 'never' \
	--interval 200ms --max-wait 2s --stall-threshold 1000 --out o2 -- sh -c "cat '$T/out60k.txt'; exit 1" 2>err2.txt
rc=$?; took=$(( $(now_ms) - start ))
expect_eq "$rc" 124
[ "$took" -lt 20000 ] || t_fail "took ${took}ms for a 2s max_wait"
rss=$(tail -1 rss.txt)
[ "$rss" -lt 200000 ] || t_fail "peak RSS ${rss} KB"
expect_eq "$(grep -c 'hit the regex match limit' err2.txt)" 3
t_end

# 3. SIGTERM is honoured whatever is being matched.
t_begin regex_sigterm_honoured
"$WL" wait --terminal-pattern '(a|a)*(a|a)*b' --terminal-pattern '([a-z]+)\1b' \
	--terminal-pattern '(a{1,200}){1,200}b' --terminal-pattern '(x+x+)+y' \
	--interval 100ms --max-wait 120s --stall-threshold 1000 --out o3 \
	-- sh -c "cat '$T/out60k.txt'; exit 1" 2>err3.txt &
pid=$!
sleep 2
start=$(now_ms)
kill -TERM "$pid"
wait "$pid"; rc=$?
took=$(( $(now_ms) - start ))
[ "$took" -lt 10000 ] || t_fail "SIGTERM took ${took}ms to end the wait"
[ "$rc" -ne 0 ] || t_fail "exit 0 after SIGTERM"
t_end

# 4. validate warns about a pattern that hits the limit, not about plain ones.
t_begin validate_warns_on_catastrophic_pattern
cat > wf.yaml <<'Y'
version: "1"
name: re
timeout: 1m
steps:
  a:
    worker: CUSTOM
    instructions: "true"
    wait_policy:
      terminal_patterns: ['(a|a)*(a|a)*b', '(?i)chart not found', '[[:alpha:]]+ [0-9]{3}']
Y
"$WL" validate wf.yaml >v.txt 2>&1; rc=$?
expect_eq "$rc" 0
expect_contains v.txt "wf.yaml:9:27: warning: regular expression '(a|a)*(a|a)*b' hits the match limit"
expect_eq "$(grep -c 'hits the match limit' v.txt)" 1
t_end

# 5. A NUL byte in output does not hide what follows from terminal_patterns.
t_begin regex_nul_byte_whole_buffer
"$WL" wait --terminal-pattern 'chart not found' --interval 200ms --max-wait 30s --out o5 \
	-- sh -c "printf 'starting\0Error: chart not found\n'; exit 1" 2>err5.txt
rc=$?
expect_eq "$rc" 1
expect_eq "$(jq_ o5/wait-failure.json 'd["reason"]')" terminal_fail
t_end

# 6. POSIX ERE workflows keep their meaning (bracket backslash, \< \>).
t_begin regex_posix_compat
"$WL" wait --terminal-pattern '\<fatal\>: [^\"]+' --interval 200ms --max-wait 30s --out o6 \
	-- sh -c 'echo "fatal: no such chart"; exit 1' 2>err6.txt
expect_eq "$?" 1
expect_eq "$(jq_ o6/wait-failure.json 'd["reason"]')" terminal_fail
expect_eq "$(jq_ o6/wait-failure.json 'd["fingerprints"][0]')" "terminal/fatal:-no-such-chart-"
t_end

# 7. YAML nested 520k deep (1 MB, under the cap): refused at once.
t_begin yaml_nesting_bounded
python3 -c "
import sys
sys.stdout.write('version: \"1\"\nname: deep\ntimeout: 1m\nsteps:\n  a:\n    worker: CUSTOM\n    instructions: x\n    env: ' + '['*520000 + ']'*520000 + '\n')" > deep.yaml
start=$(now_ms)
"$WL" validate deep.yaml >d.txt 2>&1; rc=$?
took=$(( $(now_ms) - start ))
expect_eq "$rc" 2
expect_contains d.txt "deep.yaml:8:263: error: nesting deeper than 256"
[ "$took" -lt 10000 ] || t_fail "took ${took}ms"
python3 -c "
import sys
sys.stdout.write('version: \"1\"\nname: ok\ntimeout: 1m\nsteps:\n  a:\n    worker: CUSTOM\n    instructions: x\n    description: ' + '['*200 + ']'*200 + '\n')" > ok.yaml
"$WL" validate ok.yaml >ok.txt 2>&1
expect_not_contains ok.txt "nesting deeper"
t_end

# 8. Probe JSON nested deeper than 256: a probe error, not a parse of 100k levels.
t_begin probe_json_nesting_bounded
python3 -c "import sys; sys.stdout.write('{\"a\":' * 300 + '1' + '}' * 300)" > deep.json
"$WL" wait --probe "cat '$T/deep.json'" --terminal-pattern zzz --interval 200ms --max-wait 1s --out o8 -- false 2>/dev/null
expect_contains o8/wait-probe.log "probe output nests deeper than 256"
t_end
