/* timeout: 60 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixfile.h"
#include "fsutil.h"
#include "harness.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-test-fixfile.XXXXXX";

static char *tp(const char *name)
{
	return fs_join(tmpdir, name);
}

static void put(const char *name, const char *text)
{
	char *p = tp(name);
	struct wl_err err = WL_ERR_INIT;
	CHECK(fs_write_atomic(p, text, strlen(text), &err) == 0);
	free(p);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Artifacts as the wait engine and a check leave them in a step directory. */
static void make_artifacts(void)
{
	struct strbuf log = STRBUF_INIT;
	for (int i = 1; i <= 14; i++)
		strbuf_addf(&log,
			    "{\"ts\":\"2026-11-21T04:30:%02d.000Z\",\"seq\":%d,\"elapsed_s\":%d.0,\"condition_exit\":1,"
			    "\"class\":\"%s\",\"digest\":\"d%d\",\"changed\":%s,\"no_progress\":%d,"
			    "\"fingerprints\":[%s],\"summary\":\"crd/widgets NotFound; HelmRelease capi %s\"}\n",
			    i, i, i * 10, i < 14 ? "retryable" : "terminal_fail", i < 3 ? i : 3,
			    i < 3 ? "true" : "false", i < 3 ? 0 : i - 2,
			    i < 14 ? "" : "\"k/helmrelease-failed/capi\"", i < 14 ? "Progressing" : "Failed: InstallFailed");
	strbuf_addstr(&log, "not json at all\n");
	put("wait-probe.log", log.buf);
	strbuf_release(&log);
	put("wait-failure.json", "{\"schema\":\"waitloop.wait-failure.v1\"}\n");

	/* implementer output first (before the check's offset), then 200 lines of check output */
	struct strbuf out = STRBUF_INIT;
	strbuf_addstr(&out, "IMPLEMENTER OUTPUT LINE\n");
	for (int i = 1; i <= 200; i++)
		strbuf_addf(&out, "\x1b[31mcheck line %d\x1b[0m\r\n", i);
	put("stdout.log", out.buf);
	strbuf_release(&out);
	put("stderr.log", "curl -H 'Authorization: Bearer abcdefghijklmnop0123456789' failed\n"
			  "Error from server (NotFound): customresourcedefinitions \"widgets.example.io\" not found\n");
}

static void fill(struct fixfile_params *p, struct verdict *v, char **paths)
{
	v->decision = VERDICT_INCOMPLETE;
	v->source = VERDICT_SRC_WAIT_POLICY;
	v->check_id = xstrdup("run7-deploy-check");
	v->iteration = 2;
	v->message = xstrdup("HelmRelease capi failed (InstallFailed); crd/widgets.example.io will never appear");
	verdict_list_add(&v->reasons, "HelmRelease capi failed (InstallFailed); crd/widgets.example.io will never appear");
	verdict_list_add(&v->reasons, "wait on crd/widgets.example.io aborted after 14 observations (140 s of 600 s)");
	verdict_list_add(&v->fingerprints, "k/crd-missing/widgets");
	verdict_list_add(&v->fingerprints, "k/helmrelease-failed/capi");
	strvec_sort_unique(&v->fingerprints);
	verdict_list_add(&v->hints, "check the chart version in charts/capi/Chart.yaml");
	paths[0] = tp("wait-probe.log");
	paths[1] = tp("wait-failure.json");
	paths[2] = tp("stdout.log");
	paths[3] = tp("stderr.log");
	paths[4] = tp("review.verdict");   /* does not exist: not listed */
	p->workspace = tmpdir;
	p->verdict = v;
	p->workflow = "demo";
	p->step = "deploy";
	p->iteration = 2;
	p->max_iterations = 5;
	p->probe_log = paths[0];
	p->wait_failure_file = paths[1];
	p->check_stdout = paths[2];
	p->check_stderr = paths[3];
	p->decision_file = paths[4];
	p->stdout_offset = (long long)strlen("IMPLEMENTER OUTPUT LINE\n");
}

static void test_render_from_artifacts(void)
{
	make_artifacts();
	struct fixfile_params p = FIXFILE_PARAMS_INIT;
	struct verdict v = VERDICT_INIT;
	char *paths[5];
	fill(&p, &v, paths);
	struct strvec changed = STRVEC_INIT;
	strvec_push(&changed, "charts/capi/values.yaml (+3 -1)");
	p.changed_files = &changed;
	struct wl_err err = WL_ERR_INIT;
	char *md = NULL;
	CHECK(fixfile_render(&p, &md, &err) == 0);
	if (getenv("SHOW_FIX"))
		fputs(md, stderr);

	/* the key lines, in order */
	const char *want[] = {
		"# Fix needed — step `deploy`, iteration 2 of 5\n",
		"**HelmRelease capi failed (InstallFailed); crd/widgets.example.io will never appear**\n",
		"Decision: **incomplete** (decided by wait_policy; check `run7-deploy-check`).\n",
		"again after you finish (iteration 3).",
		"1. HelmRelease capi failed (InstallFailed); crd/widgets.example.io will never appear\n"
		"2. wait on crd/widgets.example.io aborted after 14 observations (140 s of 600 s)\n",
		"- check the chart version in charts/capi/Chart.yaml\n",
		"- `k/crd-missing/widgets`\n- `k/helmrelease-failed/capi`\n",
		"- #1–#2 +10.0s…+20.0s (2×) retryable, changed, condition exit 1: crd/widgets NotFound; HelmRelease capi Progressing\n",
		"- #3–#13 +30.0s…+130.0s (11×) retryable, unchanged (no progress 1→11), condition exit 1: crd/widgets NotFound; "
		"HelmRelease capi Progressing\n",
		"- #14 +140.0s terminal_fail, unchanged (no progress 12), condition exit 1: crd/widgets NotFound; "
		"HelmRelease capi Failed: InstallFailed [k/helmrelease-failed/capi]\n",
		"stdout:\n\n```text\ncheck line 141\n",
		"check line 200\n```\n",
		"stderr:\n\n```text\ncurl -H",
		"Error from server (NotFound)",
		"- `charts/capi/values.yaml (+3 -1)`\n",
		"- wait failure (JSON): `",
	};
	const char *at = md;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *hit = at ? strstr(at, want[i]) : NULL;
		if (!hit)
			fprintf(stderr, "  missing (or out of order): %s\n", want[i]);
		CHECK(hit != NULL);
		if (hit)
			at = hit + strlen(want[i]);
	}
	/* bounded: last 60 lines, nothing before the check's offset */
	CHECK_INT(count(md, "\n- #"), 3);
	CHECK_INT(count(md, "check line "), 60);
	CHECK(!strstr(md, "check line 140\n"));
	CHECK(!strstr(md, "IMPLEMENTER OUTPUT"));
	CHECK(!strstr(md, "\x1b"));
	CHECK(!strstr(md, "\r"));
	CHECK(!strstr(md, "review.verdict"));    /* evidence lists only files that exist */
	CHECK(!strstr(md, "{{"));                /* every variable of the default template is filled */
	CHECK(!strstr(md, "abcdefghijklmnop0123456789"));   /* quoted output is redacted */
	CHECK_CONTAINS(md, "[REDACTED]");
	free(md);

	/* no git, no wait, no output */
	p.changed_files = NULL;
	p.probe_log = NULL;
	p.check_stdout = p.check_stderr = NULL;
	verdict_release(&v);
	v.decision = VERDICT_INCOMPLETE;
	v.source = VERDICT_SRC_EXIT_CODE;
	CHECK(fixfile_render(&p, &md, &err) == 0);
	CHECK_CONTAINS(md, "## Files changed in iteration 2\n\n(git tracking unavailable)\n");
	CHECK_CONTAINS(md, "(no wait observations in this iteration)");
	CHECK_CONTAINS(md, "(the check printed nothing)");
	CHECK_CONTAINS(md, "(no reasons were given)");
	CHECK_CONTAINS(md, "**The completion check did not pass.**");
	free(md);

	verdict_release(&v);
	strvec_clear(&changed);
	for (int i = 0; i < 5; i++)
		free(paths[i]);
}

static void test_templates_and_write(void)
{
	struct fixfile_params p = FIXFILE_PARAMS_INIT;
	struct verdict v = VERDICT_INIT;
	char *paths[5];
	fill(&p, &v, paths);
	struct wl_err err = WL_ERR_INIT;
	char *md = NULL;

	/* explicit template; caller variables; unknown {{...}} survive */
	put("my-fix.md", "step={{step}} it={{iteration}} fix={{fix_file}} keep={{.metadata.name}}\n{{fingerprints}}\n");
	struct template_vars vars = TEMPLATE_VARS_INIT;
	template_set(&vars, "fix_file", "context/deploy/fix.md");
	p.template_path = "my-fix.md";
	p.vars = &vars;
	CHECK(fixfile_render(&p, &md, &err) == 0);
	CHECK_STR(md, "step=deploy it=2 fix=context/deploy/fix.md keep={{.metadata.name}}\n"
		      "- `k/crd-missing/widgets`\n- `k/helmrelease-failed/capi`\n");
	free(md);
	/* a missing explicit template is an error */
	p.template_path = "missing.md";
	CHECK(fixfile_render(&p, &md, &err) < 0);
	CHECK_CONTAINS(err.msg, "fix_template");
	CHECK_CONTAINS(err.msg, "missing.md");
	/* <workspace>/prompts/fix.md overrides the built-in one */
	p.template_path = NULL;
	char *pd = tp("prompts");
	CHECK(fs_mkdir_p(pd, &err) == 0);
	put("prompts/fix.md", "LOCAL TEMPLATE {{decision}}\n");
	CHECK(fixfile_render(&p, &md, &err) == 0);
	CHECK_STR(md, "LOCAL TEMPLATE incomplete\n");
	free(md);
	char *lp = tp("prompts/fix.md");
	unlink(lp);
	free(lp);

	/* write: the checker's own notes (written during the check) are kept */
	char *fix = tp("fix.md");
	int64_t started = time_wall_ms() - 2000;
	put("fix.md", "1. test_login fails: the cookie is not set (src/auth.c:88)\n");
	p.check_started_wall_ms = started;
	CHECK(fixfile_write(fix, &p, &err) == 0);
	struct strbuf sb = STRBUF_INIT;
	CHECK(fs_read_file(fix, 1 << 20, &sb, &err) == 0);
	CHECK_CONTAINS(sb.buf, "## Notes from the checker\n\n1. test_login fails: the cookie is not set (src/auth.c:88)\n");
	CHECK_CONTAINS(sb.buf, "# Fix needed — step `deploy`");
	strbuf_reset(&sb);
	/* a fix.md older than the check (the previous render) is not quoted again */
	p.check_started_wall_ms = time_wall_ms() + 60000;
	CHECK(fixfile_write(fix, &p, &err) == 0);
	CHECK(fs_read_file(fix, 1 << 20, &sb, &err) == 0);
	CHECK(!strstr(sb.buf, "Notes from the checker"));
	strbuf_reset(&sb);

	/* clear on complete */
	CHECK(fixfile_clear(fix, &err) == 0);
	CHECK(fs_read_file(fix, 1 << 20, &sb, &err) == 0);
	CHECK_INT(sb.len, 0);
	strbuf_release(&sb);

	template_vars_release(&vars);
	free(fix);
	free(pd);
	verdict_release(&v);
	for (int i = 0; i < 5; i++)
		free(paths[i]);
}

/* Leak 4 of issue 15: a check printing a 70-line private key; the tail of
 * its output (cut far below the BEGIN line) shows none of it. */
static void test_tail_cut_after_redaction(void)
{
	struct strbuf out = STRBUF_INIT;
	strbuf_addstr(&out, "connecting\n-----BEGIN RSA PRIVATE KEY-----\n");
	for (int i = 0; i < 70; i++)
		strbuf_addf(&out, "KeyBodyLine%02d/MIIEowIBAAKCAQEAx2VeQ8Zk3mN7pQ\n", i);
	strbuf_addstr(&out, "-----END RSA PRIVATE KEY-----\nauth failed\n");
	put("pem.log", out.buf);
	strbuf_release(&out);
	struct fixfile_params p = FIXFILE_PARAMS_INIT;
	struct verdict v = VERDICT_INIT;
	char *paths[5];
	fill(&p, &v, paths);
	char *pem = tp("pem.log");
	p.check_stdout = pem;
	p.check_stderr = NULL;
	p.stdout_offset = 0;
	p.tail_lines = 20;
	struct wl_err err = WL_ERR_INIT;
	char *md = NULL;
	CHECK(fixfile_render(&p, &md, &err) == 0);
	CHECK(md && !strstr(md, "KeyBodyLine"));
	CHECK_CONTAINS(md, "auth failed");
	free(md);
	free(pem);
	verdict_release(&v);
	for (int i = 0; i < 5; i++)
		free(paths[i]);
}

static void test_long_lines_and_fences(void)
{
	/* a single huge line and backtick fences inside the output */
	struct strbuf out = STRBUF_INIT;
	strbuf_addstr(&out, "```\nfenced in output\n```\n");
	for (int i = 0; i < 20000; i++)
		strbuf_addch(&out, 'z');
	strbuf_addstr(&out, "\nlast line\n");
	put("big.log", out.buf);
	strbuf_release(&out);
	struct fixfile_params p = FIXFILE_PARAMS_INIT;
	struct verdict v = VERDICT_INIT;
	char *paths[5];
	fill(&p, &v, paths);
	char *big = tp("big.log");
	p.check_stdout = big;
	p.check_stderr = NULL;
	p.stdout_offset = 0;
	p.probe_log = NULL;
	struct wl_err err = WL_ERR_INIT;
	char *md = NULL;
	CHECK(fixfile_render(&p, &md, &err) == 0);
	CHECK_CONTAINS(md, "last line\n```\n");
	CHECK(strlen(md) < 16000);
	free(md);
	/* fences inside the output get a longer fence around them */
	put("fence.log", "before\n```\ninside\n```\nafter\n");
	char *fence = tp("fence.log");
	p.check_stdout = fence;
	CHECK(fixfile_render(&p, &md, &err) == 0);
	CHECK_CONTAINS(md, "````text\nbefore\n```\ninside\n```\nafter\n````\n");
	free(md);
	/* at most 10 timeline lines: the newest */
	struct strbuf log = STRBUF_INIT;
	for (int i = 1; i <= 15; i++)
		strbuf_addf(&log, "{\"seq\":%d,\"elapsed_s\":%d,\"class\":\"retryable\",\"changed\":true,\"summary\":\"state %d\"}\n",
			    i, i, i);
	put("many.log", log.buf);
	strbuf_release(&log);
	char *many = tp("many.log");
	p.probe_log = many;
	CHECK(fixfile_render(&p, &md, &err) == 0);
	CHECK_INT(count(md, "\n- #"), 10);
	CHECK(!strstr(md, "state 5\n"));
	CHECK_CONTAINS(md, "- #6 +6.0s retryable, changed: state 6\n");
	CHECK_CONTAINS(md, "- #15 +15.0s retryable, changed: state 15\n");
	free(md);
	free(many);
	free(fence);
	free(big);
	verdict_release(&v);
	for (int i = 0; i < 5; i++)
		free(paths[i]);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_render_from_artifacts);
	TEST(test_templates_and_write);
	TEST(test_long_lines_and_fences);
	TEST(test_tail_cut_after_redaction);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
