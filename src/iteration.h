/*
 * iteration: what one completion_check iteration decided, and what the step
 * does next (SPEC §4.5). The runner gathers the facts of an iteration (the
 * check's process result, the wait_policy guard's outcome, the files it
 * knows about) and asks this module; it never decides on its own.
 *
 * This is the seam for the decision sources of SPEC §4.5 (in order: the
 * guard's abort, a decision file, the check's exit code, a wait-failure.json
 * written by `waitloop wait`), convergence and fix.md; today it implements
 * the guard's abort and the exit code.
 *
 *   struct iteration_result res = ITERATION_RESULT_INIT;
 *   iteration_decide(&facts, &res);
 *   enum iter_next next = iteration_next(step, facts.iteration, facts.max_iterations,
 *                                        res.decision, &reason);  -- reason: caller frees
 *   iteration_result_release(&res);
 *
 * Ownership: facts are borrowed; the result owns its strings.
 */
#ifndef WAITLOOP_ITERATION_H
#define WAITLOOP_ITERATION_H
#include <stdint.h>

#include "proc.h"
#include "strvec.h"
#include "wait.h"
#include "workflow.h"

enum iter_decision {
	ITER_COMPLETE,
	ITER_INCOMPLETE,
	ITER_CHECK_FAILED,   /* the check itself failed: the step fails */
};

/* What the wait_policy guard of the check reported (copied from wait_result). */
struct guard_summary {
	int present;                  /* a guard watched the check */
	enum wait_outcome outcome;
	int early_abort;
	struct strvec fingerprints;
	struct strvec reasons;
	char *message;
	char *failure_file;
};

struct iteration_facts {
	const struct wl_step *step;
	const struct wl_wait_policy *guard_policy; /* resolved policy of the guard, or NULL */
	int iteration;                 /* 1-based */
	int max_iterations;
	const char *check_id;
	const char *step_dir;
	const char *decision_file;     /* absolute */
	const char *fix_file;          /* absolute */
	int64_t check_started_wall_ms;
	const struct proc_result *check; /* NULL when the check could not be started */
	const char *start_error;       /* why it could not be started */
	const struct guard_summary *guard; /* may be NULL */
	int undecidable_streak;        /* undecidable iterations in a row before this one */
};

struct iteration_result {
	enum iter_decision decision;
	const char *source;            /* "wait_policy", "exit_code", "check_error" (static) */
	struct strvec reasons;         /* redaction is the writer's job */
	struct strvec fingerprints;    /* sorted, unique */
	int undecidable;               /* no usable decision (counts towards the streak) */
};
#define ITERATION_RESULT_INIT {ITER_INCOMPLETE, "", STRVEC_INIT, STRVEC_INIT, 0}

void iteration_decide(const struct iteration_facts *f, struct iteration_result *out);
void iteration_result_release(struct iteration_result *res);
const char *iter_decision_name(enum iter_decision d);   /* "complete", "incomplete", "failed" */

enum iter_next {
	ITER_NEXT_ITERATION,   /* run the next iteration */
	ITER_DONE_SUCCEEDED,
	ITER_DONE_FAILED,
	ITER_DONE_INCOMPLETE,  /* on_iterations_exhausted: continue */
};
/* After a decision: go on, or end the step; *reason (caller frees) explains an end other than success. */
enum iter_next iteration_next(const struct wl_step *s, int iteration, int max_iterations, enum iter_decision d,
			      char **reason);

void guard_summary_release(struct guard_summary *g);

#endif
