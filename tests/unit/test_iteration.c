/* timeout: 60 */
/* iteration: one step's implement → verify loop, driven with real files (no git). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "harness.h"
#include "iteration.h"
#include "jsonutil.h"
#include "strbuf.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-test-iteration.XXXXXX";

static char *tp(const char *name)
{
	return fs_join(tmpdir, name);
}

static char *slurp(const char *name)
{
	char *p = tp(name);
	struct strbuf sb = STRBUF_INIT;
	struct wl_err err = WL_ERR_INIT;
	if (fs_read_file(p, 1 << 20, &sb, &err) < 0)
		strbuf_addstr(&sb, "(missing)");
	free(p);
	return strbuf_detach(&sb);
}

static void put(const char *name, const char *text)
{
	char *p = tp(name);
	struct wl_err err = WL_ERR_INIT;
	CHECK(fs_write_atomic(p, text, strlen(text), &err) == 0);
	free(p);
}

static struct proc_result exited(int code)
{
	struct proc_result r;
	memset(&r, 0, sizeof(r));
	r.exited = 1;
	r.exit_code = code;
	return r;
}

static struct proc_result killed(int sig)
{
	struct proc_result r;
	memset(&r, 0, sizeof(r));
	r.signaled = 1;
	r.signo = sig;
	return r;
}

struct fixture {
	struct wl_workflow wf;
	struct wl_step s;
	struct iter_run run;
	struct iter_loop *l;
	char *dir, *verdict, *fix;
};

static void fixture_init(struct fixture *f, int max_iterations, int converge)
{
	memset(f, 0, sizeof(*f));
	f->wf.name = (char *)"wf";
	f->s.id = (char *)"build";
	f->s.on_iterations_exhausted = ON_EXHAUSTED_ABORT;
	f->s.check.present = 1;
	if (converge) {
		f->s.convergence.present = 1;
		f->s.convergence.enabled = WL_UNSET;
		f->s.convergence.stall_threshold = WL_UNSET;
		f->s.convergence.max_stage = WL_UNSET;
		f->s.convergence.fail_on_max_stage = WL_UNSET;
		f->s.convergence.max_changed_files = WL_UNSET;
		f->s.convergence.no_change_limit = WL_UNSET;
	}
	f->run.wf = &f->wf;
	f->run.run_id = "r1";
	f->run.workspace = tmpdir;
	f->dir = xstrdup(tmpdir);
	f->verdict = tp("review.verdict");
	f->fix = tp("fix.md");
	/* no fix.md of an earlier test (the tests share one directory): written
	 * in the millisecond a check begins, it would count as the checker's notes */
	unlink(f->fix);
	f->l = iter_loop_new(&f->run, &f->s, f->dir, f->verdict, f->fix, max_iterations);
}

static void fixture_release(struct fixture *f)
{
	iter_loop_free(f->l);
	free(f->dir);
	free(f->verdict);
	free(f->fix);
}

/* One iteration: begin, check begin, (check writes files via fn), exit, conclude. */
static void iterate(struct fixture *f, int n, const struct proc_result *res, const char *decision_text,
		    struct iter_end *end)
{
	struct wl_err err = WL_ERR_INIT;
	CHECK(iter_loop_begin(f->l, n, &err) == 0);
	char id[64];
	snprintf(id, sizeof(id), "r1:build:%d", n);
	char *out = tp("check.stdout.log"), *errp = tp("check.stderr.log");
	CHECK(iter_loop_check_begin(f->l, id, out, errp, &err) == 0);
	free(out);
	free(errp);
	if (decision_text)
		put("review.verdict", decision_text);
	iter_loop_check_exited(f->l, res);
	iter_loop_conclude(f->l, NULL, end);
}

/* A string or number field of a JSON file in tmpdir, as text (caller frees). */
static char *jfield(const char *name, const char *key)
{
	char *text = slurp(name);
	cJSON *o = cJSON_Parse(text);
	free(text);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char *r = cJSON_IsString(v) ? xstrdup(v->valuestring)
		  : cJSON_IsNumber(v) ? xasprintf("%d", v->valueint) : xstrdup("(none)");
	cJSON_Delete(o);
	return r;
}

static const char *ev_str(const cJSON *o, const char *k)
{
	const char *s = json_get_string(o, k);
	return s ? s : "";
}

static void test_exit_code_and_artifacts(void)
{
	struct fixture f;
	fixture_init(&f, 3, 0);
	struct iter_end end = ITER_END_INIT;
	struct proc_result r = exited(1);
	iterate(&f, 1, &r, NULL, &end);
	CHECK_INT(end.next, ITER_NEXT_ITERATION);
	CHECK_STR(ev_str(end.finished, "decision"), "incomplete");
	CHECK_STR(ev_str(end.finished, "source"), "exit_code");
	CHECK(end.git_changes == NULL);
	char *v = jfield("review.verdict", "check_id");
	CHECK_STR(v, "r1:build:1");
	free(v);
	v = jfield("review.verdict", "decision");
	CHECK_STR(v, "incomplete");
	free(v);
	char *fix = slurp("fix.md");
	CHECK_CONTAINS(fix, "exited with status 1");
	CHECK_CONTAINS(fix, "(git tracking unavailable)");
	free(fix);
	char *arch = jfield("iterations/1/review.verdict", "iteration");
	CHECK_STR(arch, "1");
	free(arch);
	arch = slurp("iterations/1/fix.md");
	CHECK_CONTAINS(arch, "exited with status 1");
	free(arch);
	iter_end_release(&end);

	r = exited(0);
	iterate(&f, 2, &r, NULL, &end);
	CHECK_INT(end.next, ITER_DONE_SUCCEEDED);
	CHECK(end.reason == NULL);
	fix = slurp("fix.md");
	CHECK_STR(fix, "");     /* emptied on complete */
	free(fix);
	arch = slurp("iterations/1/fix.md");   /* the archive keeps iteration 1's */
	CHECK_CONTAINS(arch, "exited with status 1");
	free(arch);
	iter_end_release(&end);
	fixture_release(&f);
}

static void test_decision_file_wins_and_stale_ignored(void)
{
	struct fixture f;
	fixture_init(&f, 3, 0);
	struct iter_end end = ITER_END_INIT;
	struct proc_result r = exited(0);
	iterate(&f, 1, &r, "{\"decision\":\"incomplete\",\"check_id\":\"r1:build:1\",\"reasons\":[\"tests fail\"],"
			   "\"fingerprints\":[\"test/unit\"]}", &end);
	CHECK_STR(ev_str(end.finished, "source"), "decision_file");
	CHECK_STR(ev_str(end.finished, "decision"), "incomplete");
	iter_end_release(&end);
	/* another check's id: stale, the exit code decides */
	iterate(&f, 2, &r, "{\"decision\":\"incomplete\",\"check_id\":\"other\"}", &end);
	CHECK_STR(ev_str(end.finished, "source"), "exit_code");
	CHECK_INT(end.next, ITER_DONE_SUCCEEDED);
	iter_end_release(&end);
	fixture_release(&f);
}

static void test_undecidable_twice_fails(void)
{
	struct fixture f;
	fixture_init(&f, 5, 0);
	struct iter_end end = ITER_END_INIT;
	struct proc_result r = killed(SIGKILL);
	iterate(&f, 1, &r, NULL, &end);
	CHECK_INT(end.next, ITER_NEXT_ITERATION);
	CHECK_STR(ev_str(end.finished, "source"), "undecidable");
	iter_end_release(&end);
	iterate(&f, 2, &r, NULL, &end);
	CHECK_INT(end.next, ITER_DONE_FAILED);
	CHECK_CONTAINS(end.reason, "two undecidable iterations");
	iter_end_release(&end);
	fixture_release(&f);
}

static void test_guard_and_not_started(void)
{
	struct fixture f;
	fixture_init(&f, 3, 0);
	struct iter_end end = ITER_END_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK(iter_loop_begin(f.l, 1, &err) == 0);
	CHECK(iter_loop_check_begin(f.l, "r1:build:1", NULL, NULL, &err) == 0);
	struct proc_result r = killed(SIGTERM);
	iter_loop_check_exited(f.l, &r);
	struct wait_result wr;
	memset(&wr, 0, sizeof(wr));
	wr.outcome = WAIT_TERMINAL_FAIL;
	wr.message = "HelmRelease capi failed";
	strvec_push(&wr.fingerprints, "k/helmrelease-failed/capi");
	struct wait_settings ws;
	wait_policy_init(&ws.p);
	ws.p.on_terminal = ON_ABORT_FAIL;
	wr.settings = &ws;
	iter_loop_guard_done(f.l, &wr);   /* a wait_done_fn: the guard's on_done, arg = the loop */
	strvec_clear(&wr.fingerprints);
	iter_loop_conclude(f.l, NULL, &end);
	CHECK_STR(ev_str(end.finished, "decision"), "failed");
	CHECK_STR(ev_str(end.finished, "source"), "wait_policy");
	CHECK_INT(end.next, ITER_DONE_FAILED);
	CHECK_CONTAINS(end.reason, "HelmRelease capi failed");
	iter_end_release(&end);

	CHECK(iter_loop_begin(f.l, 2, &err) == 0);
	CHECK(iter_loop_check_begin(f.l, "r1:build:2", NULL, NULL, &err) == 0);
	iter_loop_check_not_started(f.l, "worker CLAUDE_CODE needs 'claude', which is not on PATH");
	iter_loop_conclude(f.l, NULL, &end);
	CHECK_INT(end.next, ITER_DONE_FAILED);
	CHECK_STR(end.reason, "the completion check could not start: worker CLAUDE_CODE needs 'claude', which is not on PATH");
	iter_end_release(&end);
	fixture_release(&f);
}

/* What the guard's wait engine does when it finishes: write its
 * wait-failure.json at the top of the step directory, then call on_done. */
static void guard_finishes(struct fixture *f)
{
	put("wait-failure.json", "{\"schema\":\"waitloop.wait-failure.v1\",\"name\":\"build-check\","
				 "\"reason\":\"stalled\",\"probe\":\"kubectl get hr capi -o json\","
				 "\"message\":\"stalled after 6 observations (3.0s): no progress in 6 observations\","
				 "\"fingerprints\":[\"guard/stalled/no-progress\"]}");
	struct wait_result wr;
	memset(&wr, 0, sizeof(wr));
	wr.outcome = WAIT_STALLED;
	wr.name = "build-check";
	wr.message = "stalled after 6 observations (3.0s): no progress in 6 observations";
	strvec_push(&wr.fingerprints, "guard/stalled/no-progress");
	struct wait_settings ws;
	wait_policy_init(&ws.p);
	ws.p.probe = (char *)"kubectl get hr capi -o json";
	wr.settings = &ws;
	iter_loop_guard_done(f->l, &wr);
	strvec_clear(&wr.fingerprints);
}

/*
 * A guarded check whose own `waitloop wait` gave up (waits/inner/): the
 * check's exit and the guard's result reach the iteration in either order
 * with the same verdict and fix.md — each wait has its own files, and the
 * guard's top-level wait-failure.json is never read as the check's own.
 */
static void test_guard_and_script_wait_any_order(void)
{
	char *verdicts[2], *fixes[2];
	for (int order = 0; order < 2; order++) {
		struct fixture f;
		fixture_init(&f, 3, 0);
		struct iter_end end = ITER_END_INIT;
		struct wl_err err = WL_ERR_INIT;
		CHECK(iter_loop_begin(f.l, 1, &err) == 0);
		CHECK(iter_loop_check_begin(f.l, "r1:build:1", NULL, NULL, &err) == 0);
		char *wdir = tp("waits/inner");
		CHECK(fs_mkdir_p(wdir, &err) == 0);
		free(wdir);
		put("waits/inner/wait-probe.log", "{\"seq\":1,\"class\":\"terminal_fail\"}\n");
		put("waits/inner/wait-failure.json",
		    "{\"schema\":\"waitloop.wait-failure.v1\",\"name\":\"inner\",\"reason\":\"terminal_fail\","
		    "\"condition\":\"kubectl get crd x\",\"message\":\"terminal_fail after 1 observation (0.1s): chart not found\","
		    "\"fingerprints\":[\"inner/terminal/chart-not-found\"]}");
		struct proc_result r = killed(SIGINT);   /* the guard stopped it */
		if (order == 0) {
			iter_loop_check_exited(f.l, &r);
			guard_finishes(&f);
		} else {
			guard_finishes(&f);
			iter_loop_check_exited(f.l, &r);
		}
		iter_loop_conclude(f.l, NULL, &end);
		CHECK_STR(ev_str(end.finished, "source"), "wait_policy");
		CHECK_STR(ev_str(end.finished, "decision"), "incomplete");
		char *fps = json_compact(cJSON_GetObjectItemCaseSensitive(end.finished, "fingerprints"));
		CHECK_STR(fps, "[\"guard/stalled/no-progress\",\"inner/terminal/chart-not-found\"]");
		free(fps);
		char *reasons = json_compact(cJSON_GetObjectItemCaseSensitive(end.finished, "reasons"));
		CHECK_CONTAINS(reasons, "wait `build-check` (probe: kubectl get hr capi -o json): stalled");
		CHECK_CONTAINS(reasons, "wait `inner` (kubectl get crd x): terminal_fail");
		/* the guard's evidence once, never again as one of the check's own waits */
		const char *second = strstr(strstr(reasons, "wait `build-check`") + 1, "wait `build-check`");
		CHECK(second == NULL);
		free(reasons);
		/* both files, each in its place, in the archive */
		char *name = jfield("iterations/1/wait-failure.json", "name");
		CHECK_STR(name, "build-check");
		free(name);
		name = jfield("iterations/1/waits/inner/wait-failure.json", "name");
		CHECK_STR(name, "inner");
		free(name);
		verdicts[order] = jfield("review.verdict", "message");
		fixes[order] = slurp("fix.md");
		CHECK_CONTAINS(fixes[order], "guard/stalled/no-progress");
		CHECK_CONTAINS(fixes[order], "inner/terminal/chart-not-found");
		iter_end_release(&end);
		fixture_release(&f);
	}
	CHECK_STR(verdicts[0], verdicts[1]);
	CHECK_STR(fixes[0], fixes[1]);
	for (int i = 0; i < 2; i++) {
		free(verdicts[i]);
		free(fixes[i]);
	}
}

static void test_convergence_stops(void)
{
	struct fixture f;
	fixture_init(&f, 10, 1);
	struct iter_end end = ITER_END_INIT;
	struct proc_result r = exited(1);
	const char *same = "{\"decision\":\"fail\",\"fingerprints\":[\"test/same\"]}";
	int n, stage_events = 0;
	for (n = 1; n <= 10; n++) {
		iterate(&f, n, &r, same, &end);
		if (end.convergence)
			stage_events++;
		if (end.next != ITER_NEXT_ITERATION)
			break;
		iter_end_release(&end);
	}
	CHECK_INT(n, 4);   /* stage 2 after 2, stage 3 after 3, stop after 4 */
	CHECK_INT(stage_events, 3);
	CHECK_INT(end.next, ITER_DONE_FAILED);
	CHECK_STR(ev_str(end.finished, "source"), "convergence");
	CHECK_CONTAINS(end.reason, "convergence: not converging");
	char *v = slurp("review.verdict");
	CHECK_CONTAINS(v, "loop/not-converging");
	free(v);
	char *c = slurp("convergence.json");
	CHECK_CONTAINS(c, "not converging");
	free(c);
	iter_end_release(&end);
	fixture_release(&f);
}

static void test_exhausted(void)
{
	struct fixture f;
	fixture_init(&f, 2, 0);
	f.s.on_iterations_exhausted = ON_EXHAUSTED_CONTINUE;
	struct iter_end end = ITER_END_INIT;
	struct proc_result r = exited(1);
	iterate(&f, 1, &r, NULL, &end);
	iter_end_release(&end);
	iterate(&f, 2, &r, NULL, &end);
	CHECK_INT(end.next, ITER_DONE_INCOMPLETE);
	CHECK_STR(end.reason, "max_iterations (2) reached, still incomplete");
	iter_end_release(&end);
	fixture_release(&f);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 2;
	TEST(test_exit_code_and_artifacts);
	TEST(test_decision_file_wins_and_stale_ignored);
	TEST(test_undecidable_twice_fails);
	TEST(test_guard_and_not_started);
	TEST(test_guard_and_script_wait_any_order);
	TEST(test_convergence_stops);
	TEST(test_exhausted);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
