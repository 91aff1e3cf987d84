/*
 * branchctx: roboppi's start-up branch context. See branchctx.h.
 */
#include "branchctx.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "gitwork.h"
#include "strbuf.h"
#include "xalloc.h"

#define DEFAULT_PROTECTED "main,master,release/*"

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

static int env_true(const char *v)
{
	return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

/* "a, b ,c" -> "a,b,c" (empty items dropped); NULL when nothing is left. */
static char *csv_clean(const char *csv)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = csv;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n) {
			if (sb.len)
				strbuf_addch(&sb, ',');
			strbuf_add(&sb, p, n);
		}
		if (!e)
			break;
		p = e + 1;
	}
	if (!sb.len) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
}

/* roboppi's isBranchProtected: exact names, or globs where * matches anything. */
static int is_protected(const char *branch, const char *csv)
{
	char *list = xstrdup(csv);
	int hit = 0;
	for (char *save = NULL, *pat = strtok_r(list, ",", &save); pat && !hit; pat = strtok_r(NULL, ",", &save))
		hit = strchr(pat, '*') ? fnmatch(pat, branch, 0) == 0 : !strcmp(pat, branch);
	free(list);
	return hit;
}

int branchctx_resolve(const struct branchctx_opts *o, struct strvec *env, char **note, struct wl_err *err)
{
	*note = NULL;
	const char *cli = nonempty(o->cli_protected_branches), *envp = nonempty(getenv("ROBOPPI_PROTECTED_BRANCHES"));
	char *protected = csv_clean(cli ? cli : envp ? envp : DEFAULT_PROTECTED);
	if (!protected)
		return err_set(err, "protected branches %s value is empty", cli ? "cli" : "env");
	int allow = o->cli_allow_protected || env_true(getenv("ROBOPPI_ALLOW_PROTECTED_BRANCH"));
	strvec_setenv(env, "ROBOPPI_CREATE_BRANCH", o->create_branch ? "1" : "0");
	strvec_setenv(env, "ROBOPPI_PROTECTED_BRANCHES", protected);
	strvec_setenv(env, "ROBOPPI_ALLOW_PROTECTED_BRANCH", allow ? "1" : "0");

	struct wl_err gerr = WL_ERR_INIT;
	struct gitwork *gw = gitwork_open(o->workspace, &gerr);
	if (!gw) {
		free(protected);
		if (gitwork_err_is_not_repo(&gerr)) {
			*note = xstrdup("branch lock disabled: workspace is not a git repository");
			if (nonempty(o->expected_work_branch)) {
				strvec_setenv(env, "ROBOPPI_EXPECTED_WORK_BRANCH", o->expected_work_branch);
				strvec_setenv(env, "ROBOPPI_EXPECTED_CURRENT_BRANCH", o->expected_work_branch);
			}
			return 0;
		}
		return err_set(err, "%s", gerr.msg);
	}
	int rc = 0;
	char head[41] = "", base_sha[41] = "";
	char *branch = NULL;
	gitwork_head(gw, head, &branch);
	const char *startup = branch ? branch : "HEAD";   /* git rev-parse --abbrev-ref HEAD */
	const char *base = nonempty(o->cli_base_branch), *source = "cli";
	if (!base && (base = nonempty(getenv("BASE_BRANCH"))))
		source = "env";
	if (!base) {
		source = "current";
		base = startup;
		if (!branch)
			rc = err_set(err, "detached HEAD is not allowed without explicit BASE_BRANCH/--base-branch");
	}
	if (rc == 0 && gitwork_rev_commit(gw, base, base_sha, &gerr) < 0)
		rc = err_set(err, "failed to resolve effective_base_sha from base branch \"%s\": %s", base, gerr.msg);
	const char *expected = nonempty(o->expected_work_branch) ? o->expected_work_branch : startup;
	if (rc == 0 && !o->create_branch && is_protected(expected, protected) && !allow)
		rc = err_set(err,
			     "blocked: expected_work_branch \"%s\" is protected (protected_branches=%s). Use "
			     "--allow-protected-branch or ROBOPPI_ALLOW_PROTECTED_BRANCH=1 to override.",
			     expected, protected);
	if (rc == 0) {
		strvec_setenv(env, "BASE_BRANCH", base);
		strvec_setenv(env, "ROBOPPI_EFFECTIVE_BASE_BRANCH", base);
		strvec_setenv(env, "ROBOPPI_EFFECTIVE_BASE_BRANCH_SOURCE", source);
		strvec_setenv(env, "ROBOPPI_EFFECTIVE_BASE_SHA", base_sha);
		strvec_setenv(env, "ROBOPPI_STARTUP_BRANCH", startup);
		strvec_setenv(env, "ROBOPPI_STARTUP_HEAD_SHA", head);
		strvec_setenv(env, "ROBOPPI_STARTUP_TOPLEVEL", gitwork_root(gw));
		strvec_setenv(env, "ROBOPPI_EXPECTED_WORK_BRANCH", expected);
		strvec_setenv(env, "ROBOPPI_EXPECTED_CURRENT_BRANCH", expected);
		if (allow)
			*note = xstrdup("allow_protected_branch=true (protected branch guard is disabled)");
	}
	free(branch);
	free(protected);
	gitwork_close(gw);
	return rc;
}

int branchctx_check_lock(const char *workspace, const char *toplevel, const char *expected, const char *step_id,
			 struct wl_err *err)
{
	struct wl_err gerr = WL_ERR_INIT;
	struct gitwork *gw = gitwork_open(workspace, &gerr);
	if (!gw)
		return err_set(err, "Branch lock failed before step \"%s\": cannot resolve current repo toplevel (%s).",
			       step_id, gerr.msg);
	int rc = 0;
	if (strcmp(gitwork_root(gw), toplevel))
		rc = err_set(err,
			     "Branch drift detected before step \"%s\": repo toplevel mismatch (expected \"%s\", actual "
			     "\"%s\"). Recovery: run from \"%s\" and retry.",
			     step_id, toplevel, gitwork_root(gw), toplevel);
	char head[41] = "";
	char *branch = NULL;
	gitwork_head(gw, head, &branch);
	const char *current = branch ? branch : "HEAD";   /* git rev-parse --abbrev-ref HEAD */
	if (rc == 0 && expected && *expected && strcmp(current, expected))
		rc = err_set(err,
			     "Branch drift detected before step \"%s\": expected branch \"%s\" but found \"%s\". "
			     "Recovery: git checkout \"%s\" and retry.",
			     step_id, expected, current, expected);
	free(branch);
	gitwork_close(gw);
	return rc;
}

int branchctx_transition(const char *workspace, const char *step_id, char **branch, struct wl_err *err)
{
	*branch = NULL;
	struct wl_err gerr = WL_ERR_INIT;
	struct gitwork *gw = gitwork_open(workspace, &gerr);
	if (!gw)
		return err_set(err, "Branch transition failed after step \"%s\": cannot resolve current branch (%s).",
			       step_id, gerr.msg);
	char head[41] = "";
	gitwork_head(gw, head, branch);
	gitwork_close(gw);
	if (!*branch)
		return err_set(err, "Branch transition failed after step \"%s\": expected a named branch but got \"HEAD\".",
			       step_id);
	return 0;
}
