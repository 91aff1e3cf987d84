/*
 * branchctx: roboppi's branch context at start-up (its
 * src/workflow/branch-context.ts), for `waitloop workflow`.
 *
 * In a git workspace: the startup branch, HEAD and top level, the effective
 * base branch (--base-branch > $BASE_BRANCH > the current branch; a
 * detached HEAD needs one of the first two) and its commit, the expected
 * work branch (expected_work_branch, else the startup branch), and the
 * protected-branch guard: with create_branch false, an expected work branch
 * matching the protected patterns (--protected-branches >
 * $ROBOPPI_PROTECTED_BRANCHES > "main,master,release/STAR") refuses the run
 * unless --allow-protected-branch or $ROBOPPI_ALLOW_PROTECTED_BRANCH=1.
 * Not a git workspace: the lock is disabled (a note says so).
 *
 * The result is roboppi's environment for every step (BASE_BRANCH,
 * ROBOPPI_EFFECTIVE_BASE_BRANCH/_SOURCE, ROBOPPI_EFFECTIVE_BASE_SHA,
 * ROBOPPI_STARTUP_BRANCH/_HEAD_SHA/_TOPLEVEL, ROBOPPI_EXPECTED_WORK_BRANCH,
 * ROBOPPI_EXPECTED_CURRENT_BRANCH, ROBOPPI_CREATE_BRANCH,
 * ROBOPPI_PROTECTED_BRANCHES, ROBOPPI_ALLOW_PROTECTED_BRANCH) as NAME=VALUE
 * entries.
 *
 * The branch lock (executor.ts assertBranchLock), before every attempt of a
 * step when ROBOPPI_STARTUP_TOPLEVEL is set: the workspace's top level must
 * still be the startup one and its current branch the expected one. After
 * the branch_transition_step succeeds (with create_branch), the branch it
 * left checked out becomes the expected one.
 */
#ifndef WAITLOOP_BRANCHCTX_H
#define WAITLOOP_BRANCHCTX_H
#include "error.h"
#include "strvec.h"

struct branchctx_opts {
	const char *workspace;
	const char *cli_base_branch;          /* --base-branch, or NULL */
	const char *cli_protected_branches;   /* --protected-branches CSV, or NULL */
	int cli_allow_protected;              /* --allow-protected-branch */
	int create_branch;                    /* the workflow's create_branch */
	const char *expected_work_branch;     /* the workflow's expected_work_branch, or NULL */
};

/* 0: env filled, *note a line for the user or NULL (caller frees);
 * -1: refused or git failed, err says why (roboppi's words). */
int branchctx_resolve(const struct branchctx_opts *o, struct strvec *env, char **note, struct wl_err *err);

/* 0: the lock holds; -1: err in roboppi's words ("Branch drift detected
 * before step ..."). */
int branchctx_check_lock(const char *workspace, const char *toplevel, const char *expected, const char *step_id,
			 struct wl_err *err);

/* The named branch checked out after step_id (the transition step): 0 and
 * *branch (caller frees), or -1 and err (a detached HEAD included). */
int branchctx_transition(const char *workspace, const char *step_id, char **branch, struct wl_err *err);

#endif
