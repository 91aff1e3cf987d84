/*
 * convergence: is an implement → verify loop getting anywhere? (SPEC §4.6,
 * roboppi-compatible). One handle per step, fed once per incomplete
 * iteration.
 *
 * Calling sequence (runner):
 *   struct convergence *c = convergence_new(&step->convergence, step->id,
 *                                           "<context>/<step>/convergence.json");
 *   for each iteration:
 *     prompt += convergence_append_instructions(c)   -- AGENT prompts only:
 *         the caller must never append it to a CUSTOM (shell) script;
 *     ... implementer runs, check runs, verdict decided ...
 *     if incomplete:
 *       st = convergence_observe(c, iteration, &verdict.fingerprints);
 *       if (st != CONVERGENCE_STOP && git tracking is on)
 *               st = convergence_note_changes(c, iteration, n_changed_files);
 *       convergence_write(c, &err);                  -- atomic, every iteration
 *       if (st == CONVERGENCE_STOP): the step FAILS with
 *               convergence_diagnosis(c) as reason and
 *               convergence_stop_fingerprint(c) added to its fingerprints;
 *       if (st == CONVERGENCE_STAGE_UP): emit an event; the next prompt gets
 *               the new stage's instructions.
 *   convergence_free(c);
 *
 * Rules:
 *   - the stage starts at 1. An iteration's fingerprint set (sorted, unique)
 *     equal to the previous iteration's extends a streak; when the streak
 *     reaches stall_threshold (default 2) the stage goes up by one and the
 *     streak restarts at 1 (so each stage gets its own attempt). A different
 *     set restarts the streak; an empty set (no evidence) clears it.
 *   - stage > max_stage (default 3): with fail_on_max_stage (default true)
 *     the loop stops (CONVERGENCE_STOP, fingerprint "loop/not-converging");
 *     otherwise the stage stays at max_stage and the loop goes on until
 *     max_iterations (the diagnosis is still recorded).
 *   - no_change_limit N: N iterations in a row whose implementer changed no
 *     file in the workspace → CONVERGENCE_STOP, fingerprint "loop/no-change".
 *     n_changed < 0 means "unknown" (no git) and neither counts nor resets.
 *   - a config that is absent (present == 0) or enabled: false yields a
 *     handle that never changes stage or stops and writes no file.
 *
 * Ownership: cfg is borrowed and must outlive c; step and path are copied.
 * Strings returned are owned by c (or static) and valid until the next call.
 */
#ifndef WAITLOOP_CONVERGENCE_H
#define WAITLOOP_CONVERGENCE_H

#include "error.h"
#include "strvec.h"
#include "workflow.h"

#define CONVERGENCE_SCHEMA "waitloop.convergence.v1"
#define CONVERGENCE_DEFAULT_STALL_THRESHOLD 2
#define CONVERGENCE_DEFAULT_MAX_STAGE 3
#define CONVERGENCE_FP_NOT_CONVERGING "loop/not-converging"
#define CONVERGENCE_FP_NO_CHANGE "loop/no-change"

enum convergence_status {
	CONVERGENCE_CONTINUE = 0,
	CONVERGENCE_STAGE_UP,
	CONVERGENCE_STOP,
};

struct convergence;

struct convergence *convergence_new(const struct wl_convergence *cfg, const char *step, const char *json_path);
void convergence_free(struct convergence *c);

int convergence_enabled(const struct convergence *c);
enum convergence_status convergence_observe(struct convergence *c, int iteration, const struct strvec *fingerprints);
enum convergence_status convergence_note_changes(struct convergence *c, int iteration, int n_changed_files);

int convergence_stage(const struct convergence *c);      /* 1.. */
int convergence_stopped(const struct convergence *c);
/* One line: why the loop is (or was) not converging; NULL while it is fine. */
const char *convergence_diagnosis(const struct convergence *c);
/* "loop/not-converging" or "loop/no-change" once stopped, else NULL. */
const char *convergence_stop_fingerprint(const struct convergence *c);

/*
 * Text to append to an AGENT prompt for the current stage: the stage's
 * configured append_instructions, else a built-in text for stages >= 2,
 * NULL at stage 1. Never append it to shell scripts.
 */
const char *convergence_append_instructions(const struct convergence *c);
/* The same for any stage of a config (cfg may be NULL: built-ins only). */
const char *convergence_stage_instructions(const struct wl_convergence *cfg, int stage);

/* Write <step_dir>/convergence.json (schema waitloop.convergence.v1) atomically. */
int convergence_write(const struct convergence *c, struct wl_err *err);

#endif
