/*
 * iteration: the implement → verify loop of one step (SPEC §4.5–§4.7, §9).
 *
 * The runner runs the processes; this module keeps the loop's state (git
 * snapshot, convergence, the undecidable streak, the check's evidence) and
 * turns the facts of one iteration into ONE decision through
 * verdict_decide() (verdict.h), then applies the loop's own rules (git
 * scope, convergence) and writes the iteration's artifacts.
 *
 * Calling sequence (runner), for a step with a completion_check:
 *
 *   struct iter_loop *l = iter_loop_new(&run, step, step_dir, decision_file, fix_file, max_iterations);
 *   per iteration n:
 *     iter_loop_begin(l, n, &err);       -- git snapshot; the previous iteration's
 *                                           wait-probe.log / wait-failure.json / waits/ go
 *     prompt += iter_loop_agent_append(l) -- AGENT implementers only, never CUSTOM scripts
 *     ... implementer attempts ...
 *     iter_loop_check_begin(l, check_id, stdout_log, stderr_log, &err);
 *                                        -- right before spawning the check: discards the
 *                                           decision file, notes the wall start and log offsets
 *     ... the check runs, maybe guarded: the guard's wait_params get
 *         on_done = iter_loop_guard_done, done_arg = l (its result comes
 *         here, not through the runner) ...
 *     then, in any order (each wait writes its own files: the guard the
 *     top-level wait-failure.json / wait-probe.log, the check's own
 *     `waitloop wait`s waits/<name>/, so neither reads the other's):
 *       iter_loop_check_exited(l, res);  -- reads the decision file and waits/
 *       iter_loop_guard_done(l, wr);     -- from wait_guard_finish(), when guarded
 *       iter_loop_sentinel_stopped(l, wr, on_abort);   -- roboppi's Sentinel stopped it
 *     when the check never ran (cannot start, cannot be guarded):
 *       iter_loop_check_not_started(l, why);
 *     struct iter_end end = ITER_END_INIT;
 *     iter_loop_conclude(l, &vars, &end);
 *         -- decide (verdict_decide), git changes + scope, convergence,
 *            review.verdict, fix.md, <step_dir>/iterations/<n>/ archive
 *     emit end.git_changes (EV_GIT_CHANGES), end.convergence (EV_CONVERGENCE),
 *     end.finished (EV_ITERATION_FINISHED); act on end.next;
 *     iter_end_release(&end);
 *   iter_loop_free(l);
 *
 * Loop rules applied after the check's decision (docs/loop.md):
 *   - git scope (convergence.allowed_paths / ignored_paths / max_changed_files):
 *     a violation adds scope/outside-allowed-paths, scope/file/<path> or
 *     diff-budget/exceeded and turns COMPLETE into INCOMPLETE (source "convergence");
 *   - convergence (stall_threshold / max_stage / no_change_limit) observes
 *     every incomplete iteration; a stop makes the decision FAILED (source
 *     "convergence") with the diagnosis as reason and loop/not-converging or
 *     loop/no-change as fingerprint.
 *
 * Ownership: run (and everything it points to), step and vars are borrowed
 * and must outlive the loop / the call; paths are copied. iter_end owns its
 * strings and JSON; release with iter_end_release().
 */
#ifndef WAITLOOP_ITERATION_H
#define WAITLOOP_ITERATION_H
#include <cjson/cJSON.h>
#include <stdint.h>

#include "error.h"
#include "proc.h"
#include "template.h"
#include "verdict.h"
#include "wait.h"
#include "workflow.h"

struct gitwork;
struct redactor;

/* Run-level facts every loop of the run borrows. */
struct iter_run {
	const struct wl_workflow *wf;
	const char *run_id;
	const char *workspace;        /* absolute; base of fix_template */
	struct gitwork *git;          /* NULL: git tracking is off */
	const struct redactor *rd;
	const char *history_db;       /* for the premature-stall hint (insights.h); NULL: none */
};

enum iter_next {
	ITER_NEXT_ITERATION,   /* run the next iteration */
	ITER_DONE_SUCCEEDED,
	ITER_DONE_FAILED,
	ITER_DONE_INCOMPLETE,  /* max_iterations reached with on_iterations_exhausted: continue */
};

struct iter_end {
	enum iter_next next;
	enum verdict_decision decision;
	char *reason;          /* why the step ends (DONE_FAILED / DONE_INCOMPLETE), else NULL */
	char *summary;         /* one line: what this iteration decided and why (NULL when complete) */
	cJSON *git_changes;    /* EV_GIT_CHANGES data, or NULL (git off or unavailable) */
	cJSON *convergence;    /* EV_CONVERGENCE data (stage change or stop), or NULL */
	cJSON *finished;       /* EV_ITERATION_FINISHED data: decision, source, check_id, exit_code,
				  message, reasons[], fingerprints[], hints[], changed_files, stage */
	char *warning;         /* the first artifact that could not be written, or NULL */
};
#define ITER_END_INIT {ITER_NEXT_ITERATION, VERDICT_NONE, NULL, NULL, NULL, NULL, NULL, NULL}

struct iter_loop;

struct iter_loop *iter_loop_new(const struct iter_run *run, const struct wl_step *step, const char *step_dir,
				const char *decision_file, const char *fix_file, int max_iterations);
void iter_loop_free(struct iter_loop *l);

/* Iteration n starts. -1 + err when git could not snapshot (this iteration is then untracked). */
int iter_loop_begin(struct iter_loop *l, int iteration, struct wl_err *err);
/* The convergence stage's text to append to an AGENT implementer's prompt, or NULL. */
const char *iter_loop_agent_append(const struct iter_loop *l);

/* The check is about to start. -1 + err when a stale decision file cannot be removed. */
int iter_loop_check_begin(struct iter_loop *l, const char *check_id, const char *stdout_log, const char *stderr_log,
			  struct wl_err *err);
/* The check process exited: read its decision file and the wait-failure.json
 * files of its own waits (waits/<name>/). */
void iter_loop_check_exited(struct iter_loop *l, const struct proc_result *res);
/* The check's wait_policy guard ended: a wait_done_fn (wait.h) for the guard's
 * wait_params.on_done, done_arg = the loop. wr->settings (on_terminal / on_stall)
 * says what an abort means. */
void iter_loop_guard_done(void *loop, const struct wait_result *wr);
/* roboppi's Sentinel stopped the check: its trigger as a wait_result, and what the abort means. */
void iter_loop_sentinel_stopped(struct iter_loop *l, const struct wait_result *wr, enum wl_on_abort on_abort);
/* The check never ran: the step fails with this reason. */
void iter_loop_check_not_started(struct iter_loop *l, const char *why);

/* Decide and write the iteration's artifacts (see above). Never fails; see end->warning. */
void iter_loop_conclude(struct iter_loop *l, const struct template_vars *vars, struct iter_end *end);
void iter_end_release(struct iter_end *end);

#endif
