/* iteration: the decision of one completion_check iteration and what follows. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "iteration.h"
#include "workflow.h"

static struct wl_step step_with(enum wl_on_exhausted ex)
{
	struct wl_step s;
	memset(&s, 0, sizeof(s));
	s.id = (char *)"verify";
	s.on_iterations_exhausted = ex;
	return s;
}

static struct proc_result exited(int code)
{
	struct proc_result r;
	memset(&r, 0, sizeof(r));
	r.exited = 1;
	r.exit_code = code;
	return r;
}

static void decide(const struct proc_result *res, const struct guard_summary *g, const struct wl_wait_policy *gp,
		   int streak, struct iteration_result *out)
{
	struct wl_step s = step_with(ON_EXHAUSTED_ABORT);
	struct iteration_facts f;
	memset(&f, 0, sizeof(f));
	f.step = &s;
	f.iteration = 1;
	f.max_iterations = 3;
	f.check_id = "run:verify:1";
	f.check = res;
	f.start_error = res ? NULL : "command not found: 'x'";
	f.guard = g;
	f.guard_policy = gp;
	f.undecidable_streak = streak;
	iteration_decide(&f, out);
}

static void test_exit_codes(void)
{
	struct iteration_result r = ITERATION_RESULT_INIT;
	struct proc_result p = exited(0);
	decide(&p, NULL, NULL, 0, &r);
	CHECK_INT(r.decision, ITER_COMPLETE);
	CHECK_STR(r.source, "exit_code");
	iteration_result_release(&r);

	p = exited(1);
	decide(&p, NULL, NULL, 0, &r);
	CHECK_INT(r.decision, ITER_INCOMPLETE);
	CHECK_INT(r.undecidable, 0);
	iteration_result_release(&r);

	p = exited(2);
	decide(&p, NULL, NULL, 0, &r);
	CHECK_INT(r.decision, ITER_CHECK_FAILED);
	CHECK_STR(r.reasons.v[0], "completion_check failed with exit code 2");
	iteration_result_release(&r);
}

static void test_start_failure(void)
{
	struct iteration_result r = ITERATION_RESULT_INIT;
	decide(NULL, NULL, NULL, 0, &r);
	CHECK_INT(r.decision, ITER_CHECK_FAILED);
	CHECK_STR(r.source, "check_error");
	CHECK_STR(r.reasons.v[0], "completion_check could not start: command not found: 'x'");
	iteration_result_release(&r);
}

static void test_undecidable_twice_fails(void)
{
	struct iteration_result r = ITERATION_RESULT_INIT;
	struct proc_result p;
	memset(&p, 0, sizeof(p));
	p.signaled = 1;
	p.signo = SIGKILL;
	p.timed_out = 1;
	decide(&p, NULL, NULL, 0, &r);
	CHECK_INT(r.decision, ITER_INCOMPLETE);
	CHECK_INT(r.undecidable, 1);
	CHECK_STR(r.reasons.v[0], "completion_check timed out");
	iteration_result_release(&r);
	decide(&p, NULL, NULL, 1, &r);
	CHECK_INT(r.decision, ITER_CHECK_FAILED);
	iteration_result_release(&r);
}

static void test_guard_abort_wins(void)
{
	struct guard_summary g;
	memset(&g, 0, sizeof(g));
	g.present = 1;
	g.outcome = WAIT_TERMINAL_FAIL;
	g.early_abort = 1;
	strvec_push(&g.fingerprints, "kest/control/helmrelease-failed/capi");
	strvec_push(&g.fingerprints, "kest/control/crd-missing/x");
	strvec_push(&g.reasons, "dependency helmrelease/capi is Failed");
	struct proc_result p;
	memset(&p, 0, sizeof(p));
	p.signaled = 1;
	p.signo = SIGINT;
	struct wl_wait_policy pol;
	wait_policy_init(&pol);

	struct iteration_result r = ITERATION_RESULT_INIT;
	decide(&p, &g, &pol, 1, &r);   /* a streak does not matter: the guard decided */
	CHECK_INT(r.decision, ITER_INCOMPLETE);
	CHECK_STR(r.source, "wait_policy");
	CHECK_INT(r.fingerprints.n, 2);
	CHECK_STR(r.fingerprints.v[0], "kest/control/crd-missing/x");   /* sorted */
	CHECK_STR(r.reasons.v[0], "dependency helmrelease/capi is Failed");
	iteration_result_release(&r);

	pol.on_terminal = ON_ABORT_FAIL;
	decide(&p, &g, &pol, 0, &r);
	CHECK_INT(r.decision, ITER_CHECK_FAILED);
	iteration_result_release(&r);

	g.outcome = WAIT_STALLED;     /* on_stall unset: incomplete */
	decide(&p, &g, &pol, 0, &r);
	CHECK_INT(r.decision, ITER_INCOMPLETE);
	iteration_result_release(&r);

	g.outcome = WAIT_MET;         /* a guard that never aborted: the exit code decides */
	struct proc_result ok = exited(0);
	decide(&ok, &g, &pol, 0, &r);
	CHECK_INT(r.decision, ITER_COMPLETE);
	iteration_result_release(&r);
	guard_summary_release(&g);
}

static void test_next(void)
{
	struct wl_step abort_s = step_with(ON_EXHAUSTED_ABORT), cont = step_with(ON_EXHAUSTED_CONTINUE);
	char *reason = NULL;
	CHECK_INT(iteration_next(&abort_s, 1, 3, ITER_COMPLETE, &reason), ITER_DONE_SUCCEEDED);
	CHECK(reason == NULL);
	CHECK_INT(iteration_next(&abort_s, 2, 3, ITER_INCOMPLETE, &reason), ITER_NEXT_ITERATION);
	CHECK_INT(iteration_next(&abort_s, 3, 3, ITER_INCOMPLETE, &reason), ITER_DONE_FAILED);
	CHECK_STR(reason, "max_iterations (3) reached without completion");
	free(reason);
	CHECK_INT(iteration_next(&cont, 3, 3, ITER_INCOMPLETE, &reason), ITER_DONE_INCOMPLETE);
	CHECK_STR(reason, "max_iterations (3) reached, still incomplete");
	free(reason);
	CHECK_INT(iteration_next(&cont, 1, 3, ITER_CHECK_FAILED, &reason), ITER_DONE_FAILED);
	CHECK_STR(reason, "completion_check failed");
	free(reason);
}

int main(void)
{
	TEST(test_exit_codes);
	TEST(test_start_failure);
	TEST(test_undecidable_twice_fails);
	TEST(test_guard_abort_wins);
	TEST(test_next);
	return tests_done();
}
