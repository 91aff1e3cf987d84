#include "iteration.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"


const char *iter_decision_name(enum iter_decision d)
{
	switch (d) {
	case ITER_COMPLETE: return "complete";
	case ITER_INCOMPLETE: return "incomplete";
	case ITER_CHECK_FAILED: return "failed";
	}
	return "";
}

void iteration_result_release(struct iteration_result *res)
{
	strvec_clear(&res->reasons);
	strvec_clear(&res->fingerprints);
}

void guard_summary_release(struct guard_summary *g)
{
	strvec_clear(&g->fingerprints);
	strvec_clear(&g->reasons);
	free(g->message);
	free(g->failure_file);
	memset(g, 0, sizeof(*g));
}

/* 1. The guard stopped the check: incomplete, or failed when the policy says so. */
static int decide_from_guard(const struct iteration_facts *f, struct iteration_result *out)
{
	const struct guard_summary *g = f->guard;
	if (!g || !g->present || g->outcome == WAIT_MET || g->outcome == WAIT_CANCELLED)
		return 0;
	enum wl_on_abort how = ON_ABORT_INCOMPLETE;
	if (f->guard_policy) {
		if (g->outcome == WAIT_TERMINAL_FAIL && f->guard_policy->on_terminal == ON_ABORT_FAIL)
			how = ON_ABORT_FAIL;
		if ((g->outcome == WAIT_STALLED || g->outcome == WAIT_NO_OUTPUT) &&
		    f->guard_policy->on_stall == ON_ABORT_FAIL)
			how = ON_ABORT_FAIL;
	}
	out->decision = how == ON_ABORT_FAIL ? ITER_CHECK_FAILED : ITER_INCOMPLETE;
	out->source = "wait_policy";
	strvec_copy(&out->reasons, &g->reasons);
	if (!g->reasons.n)
		strvec_pushf(&out->reasons, "wait_policy ended the check: %s", wait_outcome_name(g->outcome));
	strvec_copy(&out->fingerprints, &g->fingerprints);
	return 1;
}

/* 3. The check's exit code: 0 complete, 1 incomplete, anything else failed. */
static void decide_from_exit(const struct iteration_facts *f, struct iteration_result *out)
{
	const struct proc_result *c = f->check;
	out->source = "exit_code";
	if (!c) {
		out->decision = ITER_CHECK_FAILED;
		out->source = "check_error";
		strvec_pushf(&out->reasons, "completion_check could not start: %s",
			     f->start_error ? f->start_error : "unknown error");
		return;
	}
	if (c->exec_failed) {
		out->decision = ITER_CHECK_FAILED;
		out->source = "check_error";
		strvec_pushf(&out->reasons, "completion_check could not start: %s", c->exec_error);
		return;
	}
	if (c->exited && !c->timed_out) {
		if (c->exit_code == 0) {
			out->decision = ITER_COMPLETE;
		} else if (c->exit_code == 1) {
			out->decision = ITER_INCOMPLETE;
			strvec_push(&out->reasons, "completion_check exited 1 (incomplete)");
		} else {
			out->decision = ITER_CHECK_FAILED;
			strvec_pushf(&out->reasons, "completion_check failed with exit code %d", c->exit_code);
		}
		return;
	}
	/* Timed out or killed: no usable decision. Once is incomplete, twice in a row fails. */
	out->undecidable = 1;
	if (c->timed_out)
		strvec_push(&out->reasons, "completion_check timed out");
	else if (c->signaled)
		strvec_pushf(&out->reasons, "completion_check killed by signal %s", sigabbrev_np(c->signo)
			     ? sigabbrev_np(c->signo) : "?");
	else
		strvec_push(&out->reasons, "completion_check gave no decision");
	if (f->undecidable_streak + 1 >= 2) {
		out->decision = ITER_CHECK_FAILED;
		strvec_push(&out->reasons, "two consecutive undecidable iterations");
	} else {
		out->decision = ITER_INCOMPLETE;
	}
}

void iteration_decide(const struct iteration_facts *f, struct iteration_result *out)
{
	out->decision = ITER_INCOMPLETE;
	out->source = "";
	out->undecidable = 0;
	if (!decide_from_guard(f, out))
		decide_from_exit(f, out);
	strvec_sort_unique(&out->fingerprints);
}

enum iter_next iteration_next(const struct wl_step *s, int iteration, int max_iterations, enum iter_decision d,
			      char **reason)
{
	*reason = NULL;
	if (d == ITER_COMPLETE)
		return ITER_DONE_SUCCEEDED;
	if (d == ITER_CHECK_FAILED) {
		*reason = xstrdup("completion_check failed");
		return ITER_DONE_FAILED;
	}
	if (iteration < max_iterations)
		return ITER_NEXT_ITERATION;
	if (s->on_iterations_exhausted == ON_EXHAUSTED_CONTINUE) {
		*reason = xasprintf("max_iterations (%d) reached, still incomplete", max_iterations);
		return ITER_DONE_INCOMPLETE;
	}
	*reason = xasprintf("max_iterations (%d) reached without completion", max_iterations);
	return ITER_DONE_FAILED;
}
