# End-to-end: roboppi's branch lock under `waitloop workflow` (issue 18 item
# 8; roboppi src/workflow/executor.ts assertBranchLock and
# maybeUpdateExpectedBranchAfterTransition). Before every attempt the git
# workspace must still be on the expected branch; a drift fails the step
# FATAL with roboppi's words and skips its dependents. With create_branch,
# the branch_transition_step's branch becomes the expected one.
# shellcheck shell=bash
# timeout: 120
. "$WAITLOOP_ROOT/tests/e2e/lib.sh"

new_repo() { # dir: a repository on branch "work" with one commit
	rm -rf "$1" && mkdir -p "$1" &&
		git -C "$1" init -q -b work &&
		git -C "$1" -c user.email=t@example.com -c user.name=t commit -q --allow-empty -m init
}
cat > lock.yaml <<'Y'
name: lock
version: "1"
timeout: "1m"
steps:
  a:
    worker: CUSTOM
    instructions: git checkout -q -B other
  b:
    worker: CUSTOM
    depends_on: [a]
    instructions: echo "b ran"
  c:
    worker: CUSTOM
    depends_on: [b]
    instructions: echo "c ran"
Y

t_begin branch_drift_fails_the_next_step
new_repo ws1
"$WL" workflow lock.yaml --workspace ws1 >out1.txt 2>&1; rc=$?
expect_eq "$rc" 1
expect_contains out1.txt "PASS  a"
expect_contains out1.txt 'FAIL  b — Branch drift detected before step "b": expected branch "work" but found "other". Recovery: git checkout "work" and retry.'
expect_contains out1.txt "SKIP  c"
expect_not_contains out1.txt "b ran"
t_end

t_begin transition_step_moves_the_expected_branch
new_repo ws2
sed 's/^steps:/create_branch: true\nbranch_transition_step: a\nsteps:/' lock.yaml >lock2.yaml
"$WL" workflow lock2.yaml --workspace ws2 >out2.txt 2>&1; rc=$?
expect_eq "$rc" 0
expect_contains out2.txt "PASS  b"
expect_contains out2.txt "PASS  c"
t_end

t_begin transition_needs_create_branch
# as roboppi: without create_branch the transition step moves nothing
new_repo ws3
sed 's/^steps:/branch_transition_step: a\nsteps:/' lock.yaml >lock3.yaml
"$WL" workflow lock3.yaml --workspace ws3 >out3.txt 2>&1; rc=$?
expect_eq "$rc" 1
expect_contains out3.txt 'FAIL  b — Branch drift detected before step "b"'
t_end

t_begin transition_step_must_exist
sed 's/branch_transition_step: a/branch_transition_step: nope/' lock2.yaml >lock4.yaml
"$WL" validate lock4.yaml >out4.txt 2>&1; rc=$?
[ "$rc" -ne 0 ] || t_fail "validate accepted an unknown transition step"
expect_contains out4.txt 'lock4.yaml:5:25: error: "branch_transition_step" references unknown step "nope"'
t_end

t_begin no_lock_outside_git_or_under_run
# not a repository: the lock is off (a notice says so); `waitloop run`: no lock
mkdir -p plain
"$WL" workflow lock.yaml --workspace plain >out5.txt 2>&1; rc=$?
expect_contains out5.txt "branch lock disabled"
new_repo ws6
"$WL" run lock.yaml -w ws6 -q >out6.txt 2>&1; rc=$?
expect_eq "$rc" 0
t_end
