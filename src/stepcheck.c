/*
 * stepcheck: the verify half of a step's implement -> verify loop -- start
 * the completion_check, read what it (and its guard or Sentinel) decided,
 * and conclude the iteration (iteration.h): next iteration, SUCCEEDED,
 * INCOMPLETE or FAILED.
 */
#include "runner_int.h"

#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "xalloc.h"

void iteration_start(struct step_run *sr)
{
	sr->attempt = 0;
	if (sr->il) {
		struct wl_err err = WL_ERR_INIT;
		if (iter_loop_begin(sr->il, sr->iteration, &err) < 0)
			run_keep_artifact_error(sr->r, err.msg);
		cJSON *d = cJSON_CreateObject();
		cJSON_AddNumberToObject(d, "max_iterations", sr->max_iterations);
		run_emit(sr->r, EV_ITERATION_STARTED, sr, d);
	}
	attempt_start(sr);
}

/* The iteration is over: decide (iteration.h), publish, and go on or end the step. */
static void check_decided(struct step_run *sr)
{
	struct runner *r = sr->r;
	if (step_finish_if_stopping(sr))
		return;
	struct template_vars vars = TEMPLATE_VARS_INIT;
	worker_template_vars(sr, &vars);
	struct iter_end end = ITER_END_INIT;
	iter_loop_conclude(sr->il, &vars, &end);
	template_vars_release(&vars);
	if (end.warning)
		run_keep_artifact_error(r, end.warning);
	step_record_outcome(sr, end.decision != VERDICT_COMPLETE, end.summary);
	/* run_emit() takes the data */
	if (end.git_changes)
		run_emit(r, EV_GIT_CHANGES, sr, end.git_changes);
	if (end.convergence)
		run_emit(r, EV_CONVERGENCE, sr, end.convergence);
	cJSON_AddNumberToObject(end.finished, "consecutive_failures", alert_consecutive(&sr->alert));
	run_emit(r, EV_ITERATION_FINISHED, sr, end.finished);
	end.git_changes = end.convergence = end.finished = NULL;
	switch (end.next) {
	case ITER_NEXT_ITERATION:
		if (run_stopping_for(sr)) {
			step_set_status(sr, STEP_CANCELLED, "run stopping");
			break;
		}
		sr->iteration++;
		rundoc_meta_changed(sr);
		iteration_start(sr);
		break;
	case ITER_DONE_SUCCEEDED:
		step_succeeded(sr);
		break;
	case ITER_DONE_INCOMPLETE:
		step_set_status(sr, STEP_INCOMPLETE, end.reason);
		break;
	case ITER_DONE_FAILED:
		step_fail(sr, end.reason);
		break;
	}
	iter_end_release(&end);
}

/* The Sentinel stopped the check: as_incomplete -> the iteration is
 * INCOMPLETE (the loop goes on), else the step fails (roboppi executor). */
static void sentinel_to_iteration(struct step_run *sr)
{
	const struct sentinel_trigger *t = &sr->strig;
	struct wait_result wr;
	memset(&wr, 0, sizeof(wr));
	int terminal = !strcmp(t->kind, "terminal");
	wr.outcome = terminal ? WAIT_TERMINAL_FAIL : WAIT_STALLED;
	wr.early_abort = 1;
	strvec_copy(&wr.fingerprints, &t->fingerprints);
	strvec_copy(&wr.reasons, &t->reasons);
	char *msg = t->as_incomplete ? xasprintf("Sentinel: %s", t->reason)
				     : xasprintf("Sentinel %s during completion check: %s", t->kind, t->reason);
	wr.message = msg;
	iter_loop_sentinel_stopped(sr->il, &wr, t->as_incomplete ? ON_ABORT_INCOMPLETE : ON_ABORT_FAIL);
	sr->fatal = !t->as_incomplete && t->error_class == ERROR_CLASS_FATAL;
	free(msg);
	strvec_clear(&wr.fingerprints);
	strvec_clear(&wr.reasons);
}

void stepcheck_on_exit(void *arg, const struct proc_result *res)
{
	struct step_run *sr = arg;
	/* The guard (if any) finishes here and hands its result to the
	 * iteration itself; the check's own evidence is in files of its own
	 * (iteration.h): the two are independent of each other's order. */
	attempt_proc_done(sr, res);
	if (!sr->guard_error)
		iter_loop_check_exited(sr->il, res);
	if (sr->sentinel_fired && !sr->stopping)
		sentinel_to_iteration(sr);
	sr->exit_code = res->exited ? res->exit_code : -1;
	char *reason = attempt_result_reason(res, workflow_check_timeout(sr->r->wf, sr->s));
	if (sr->guard_error) {
		free(reason);
		reason = sr->guard_error;
		sr->guard_error = NULL;
		iter_loop_check_not_started(sr->il, reason);
	}
	attempt_emit_finished(sr, "completion_check", res, reason);
	free(reason);
	struct wl_err oerr = WL_ERR_INIT;
	if (sr->s->noutputs && !sr->stopping && stepio_copy_outputs(sr, &oerr) < 0) {
		/* a required output is missing: the step fails whatever the check said */
		step_record_outcome(sr, 1, oerr.msg);
		step_fail(sr, oerr.msg);
		return;
	}
	check_decided(sr);
}

void stepcheck_start(struct step_run *sr)
{
	struct runner *r = sr->r;
	free(sr->check_id);
	sr->check_id = xasprintf("%s:%s:%d", r->run_id, sr->s->id, sr->iteration);
	clear_guard(sr);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "phase", "completion_check");
	cJSON_AddStringToObject(d, "check_id", sr->check_id);
	run_emit(r, EV_ATTEMPT_STARTED, sr, d);
	struct wl_err err = WL_ERR_INIT;
	char *out_log = fs_join(sr->dir, "check.stdout.log"), *err_log = fs_join(sr->dir, "check.stderr.log");
	if (iter_loop_check_begin(sr->il, sr->check_id, out_log, err_log, &err) < 0)
		run_keep_artifact_error(r, err.msg);
	free(out_log);
	free(err_log);
	err.msg[0] = '\0';
	if (attempt_spawn(sr, 1, &err) < 0) {
		sr->phase = PH_IDLE;
		attempt_emit_finished(sr, "completion_check", NULL, err.msg);
		iter_loop_check_not_started(sr->il, err.msg);
		check_decided(sr);
		return;
	}
	rundoc_meta_changed(sr);
}
