/*
 * runner: the run engine. See runner.h for the calling sequence.
 *
 * Shape: one struct step_run per step, driven by callbacks of the loop
 * (proc exits, wait results, backoff and deadline timers). A step goes
 *
 *   PENDING -> RUNNING: [attempt (retries with backoff) -> check]* -> terminal
 *
 * where terminal is SUCCEEDED, FAILED, INCOMPLETE, SKIPPED or CANCELLED.
 * Scheduling (which PENDING step may start, which must be skipped) runs
 * after every state change from the loop's first idle hook (or a zero-delay
 * timer), never recursively from inside a callback. Stopping the run (abort, workflow timeout, signal)
 * marks pending steps SKIPPED and stops running children with escalation;
 * the run is over when every step is terminal, i.e. when every child has
 * been reaped.
 *
 * This file is the scheduler and the step state machine; a child's start
 * and end, the completion_check, wait steps and guards, worker invocation,
 * artifact copies and the run's documents live beside it (runner_int.h
 * lists the parts).
 */
#include "runner_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "fsutil.h"
#include "gitwork.h"
#include "backoff.h"
#include "branchctx.h"
#include "artifacts.h"
#include "jsonutil.h"
#include "redact.h"
#include "xalloc.h"

static void schedule_soon(struct runner *r);
static void run_stop(struct runner *r, enum run_status why, const char *reason);

void run_emit(struct runner *r, enum ev_type type, const struct step_run *sr, cJSON *data)
{
	struct wl_event ev = {0};
	ev.type = type;
	ev.run_id = r->run_id;
	if (sr) {
		ev.step = sr->s->id;
		ev.iteration = sr->s->check.present ? sr->iteration : 0;
		if (type == EV_ATTEMPT_STARTED || type == EV_ATTEMPT_FINISHED || type == EV_KILL)
			ev.attempt = sr->attempts_total;
	}
	ev.data = data;
	bus_emit(&r->bus, &ev);   /* the bus redacts (r->bus.rd) */
	cJSON_Delete(data);
}

void step_set_status(struct step_run *sr, enum step_status st, const char *reason)
{
	struct runner *r = sr->r;
	enum step_status old = sr->status;
	sr->status = st;
	free(sr->reason);
	sr->reason = reason ? xstrdup(reason) : NULL;
	if (st == STEP_RUNNING && old == STEP_PENDING) {
		sr->start_wall = time_wall_ms();
		sr->start_mono = time_now_ms();
		r->nrunning++;
	}
	if (step_terminal(st) && !step_terminal(old)) {
		if (!sr->dir) {
			struct wl_err err = WL_ERR_INIT;   /* skipped: a directory for its _meta.json */
			sr->dir = artifacts_step_dir(r->ctx, sr->s->id, &err);
		}
		sr->end_wall = time_wall_ms();
		sr->phase = PH_IDLE;
		if (old == STEP_RUNNING)
			r->nrunning--;
		r->nfinished++;
	}
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "status", step_status_name(st));
	json_add_string_or_null(d, "reason", reason);
	if (step_terminal(st)) {
		cJSON_AddNumberToObject(d, "duration_s", step_duration_s(sr));
		cJSON_AddNumberToObject(d, "iterations", sr->s->check.present ? sr->iteration : 0);
		cJSON_AddNumberToObject(d, "attempts", sr->attempts_total);
		/* the streak as it ends (a success resets it; metrics gauge) */
		cJSON_AddNumberToObject(d, "consecutive_failures", alert_consecutive(&sr->alert));
	}
	run_emit(r, EV_STEP_STATE, sr, d);
	rundoc_meta_changed(sr);
	schedule_soon(r);
}

/* Something that did not change an outcome but must not go unseen: an
 * EV_WARNING (progress line, events.jsonl, history -> `waitloop show`). */
void step_warn(struct step_run *sr, const char *kind, const char *message)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "kind", kind);
	cJSON_AddStringToObject(d, "message", message);
	run_emit(sr->r, EV_WARNING, sr, d);
}

/* ---- stopping ---- */

/* The run is stopping, and this step is not an always-run step (which runs
 * to its own end, bounded by its own timeout: docs/workflow.md). */
int run_stopping_for(const struct step_run *sr)
{
	return sr->r->stopping && !sr->s->always;
}

static void step_stop(struct step_run *sr, const char *why)
{
	if (sr->stopping)
		return;
	sr->stopping = 1;
	sr->stop_reason = xstrdup(why);
	if (sr->phase == PH_BACKOFF) {
		evloop_cancel_timer(sr->r->loop, sr->backoff_timer);
		sr->backoff_timer = 0;
		step_set_status(sr, STEP_CANCELLED, why);
		return;
	}
	if (sr->proc)
		proc_stop(sr->proc);      /* the guard (if any) is finished from the proc's exit */
	else if (sr->wait)
		wait_cancel(sr->wait);
	else
		step_set_status(sr, STEP_CANCELLED, why);   /* between phases: nothing runs */
}

/* Why a pending step will never run, once the run is stopping. */
static char *skip_reason(const struct runner *r, const struct step_run *sr, const char *fallback)
{
	for (size_t i = 0; i < sr->s->ndeps; i++) {
		const struct step_run *d = &r->steps[sr->s->deps[i]];
		if (d->status == STEP_FAILED)
			return xasprintf("dependency '%s' failed", d->s->id);
		if (d->status == STEP_PENDING || d->status == STEP_SKIPPED)
			return xasprintf("dependency '%s' skipped", d->s->id);
		if (d->status == STEP_CANCELLED)
			return xasprintf("dependency '%s' cancelled", d->s->id);
	}
	return xstrdup(fallback);
}

static void run_stop(struct runner *r, enum run_status why, const char *reason)
{
	if (r->stopping)
		return;
	r->stopping = 1;
	if (why == RUN_TIMED_OUT)
		r->timed_out = 1;
	for (size_t i = 0; i < r->nsteps; i++) {
		struct step_run *sr = &r->steps[i];
		if (sr->status == STEP_PENDING && !sr->s->always) {
			char *why_skip = skip_reason(r, sr, reason);
			step_set_status(sr, STEP_SKIPPED, why_skip);
			free(why_skip);
		}
	}
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].status == STEP_RUNNING && !r->steps[i].s->always)
			step_stop(&r->steps[i], reason);
	schedule_soon(r);   /* always-run steps may be ready now */
}

/*
 * A FAILED step with on_failure abort/retry blocks its dependents (they end
 * SKIPPED through schedule()); as in roboppi (AT-5.7) it does not cancel
 * running steps nor skip independent ones. The run still ends FAILED.
 */
void step_fail(struct step_run *sr, const char *reason)
{
	step_set_status(sr, STEP_FAILED, reason);
}

/* A stopped step ends CANCELLED with the reason it was stopped for. */
int step_finish_if_stopping(struct step_run *sr)
{
	if (!sr->stopping)
		return 0;
	step_set_status(sr, STEP_CANCELLED, sr->stop_reason);
	return 1;
}

/* ---- retries (delays: backoff.h) ---- */

static void on_backoff(void *arg)
{
	struct step_run *sr = arg;
	sr->backoff_timer = 0;
	attempt_start(sr);
}

/* A worker attempt (or a wait) failed: retry after a backoff, or fail the step. */
void attempt_failed(struct step_run *sr, const char *reason, int timed_out, int have_exit, int exit_code)
{
	struct runner *r = sr->r;
	int64_t delay = run_stopping_for(sr) || sr->fatal ? -1 : backoff_retry_delay(sr->s, sr->attempt - 1, sr->start_mono, time_now_ms(), timed_out, have_exit, exit_code);
	if (delay == BACKOFF_BUDGET_SPENT) {
		char d[64];
		duration_format(sr->s->retry.max_duration, d, sizeof(d));
		char *why = xasprintf("%s; no retry: retry.max_duration %s spent", reason, d);
		step_fail(sr, why);
		free(why);
		return;
	}
	if (delay < 0) {
		step_fail(sr, reason);
		return;
	}
	sr->phase = PH_BACKOFF;
	rundoc_meta_changed(sr);
	sr->backoff_timer = evloop_add_timer(r->loop, time_now_ms() + delay, on_backoff, sr);
}

/* ---- the end of a worker or check process ---- */

/* Count a failed (or successful) attempt/iteration; N in a row raises the
 * step's alert (alert_after_failures), once per streak. */
void step_record_outcome(struct step_run *sr, int failed, const char *reason)
{
	if (alert_record(&sr->alert, failed))
		run_emit(sr->r, EV_ALERT, sr, alert_event_data(&sr->alert, reason));
}

/* roboppi's branch lock before an attempt (branchctx.h): 1 when it is
 * broken, and then the step has failed FATAL (its dependents are skipped). */
static int branch_lock_broken(struct step_run *sr)
{
	struct runner *r = sr->r;
	struct wl_err err = WL_ERR_INIT;
	if (!r->lock_toplevel || branchctx_check_lock(r->workspace, r->lock_toplevel, r->lock_branch, sr->s->id, &err) == 0)
		return 0;
	sr->fatal = 1;
	step_fail(sr, err.msg);
	return 1;
}

/* After the branch_transition_step (with create_branch): the branch it left
 * checked out is the one the later steps must start on. -1 + err. */
static int branch_transition(struct step_run *sr, struct wl_err *err)
{
	struct runner *r = sr->r;
	const char *t = r->wf->branch_transition_step;
	if (!r->lock_toplevel || !r->wf->create_branch || !t || strcmp(t, sr->s->id))
		return 0;
	char *b = NULL;
	if (branchctx_transition(r->workspace, sr->s->id, &b, err) < 0)
		return -1;
	free(r->lock_branch);
	r->lock_branch = b;
	return 0;
}

void step_succeeded(struct step_run *sr)
{
	struct wl_err err = WL_ERR_INIT;
	if (branch_transition(sr, &err) < 0) {
		sr->fatal = 1;
		step_fail(sr, err.msg);
		return;
	}
	step_record_outcome(sr, 0, NULL);
	step_set_status(sr, STEP_SUCCEEDED, NULL);
}

/* The guard timed out at a max_wait nobody set: the step's own timeout. */
static int guard_timeout_is_step_timeout(const struct step_run *sr)
{
	return sr->guard_outcome == WAIT_TIMEOUT && sr->s->timeout > 0 && sr->s->wait_settings &&
	       !sr->s->wait_settings->p.max_wait_set;
}

void on_attempt_exit(void *arg, const struct proc_result *res)
{
	struct step_run *sr = arg;
	attempt_proc_done(sr, res);
	sr->exit_code = res->exited ? res->exit_code : -1;
	char *reason = attempt_result_reason(res, sr->s->timeout);
	int timed_out = 0;
	if (sr->guard_error) {
		free(reason);
		reason = sr->guard_error;
		sr->guard_error = NULL;
	} else if (sr->sentinel_fired && !sr->stopping) {
		free(reason);
		reason = xasprintf("Step failed (errorClass: %s): Sentinel: %s", error_class_name(sr->strig.error_class),
				   sr->strig.reason);
		sr->fatal = sr->strig.error_class == ERROR_CLASS_FATAL;
	} else if (sr->guard_aborted && !sr->stopping && guard_timeout_is_step_timeout(sr)) {
		/* a wait_policy without max_wait (e.g. only grace) times out with
		 * the step: that is the step's timeout, reported as such */
		free(reason);
		char d[64];
		duration_format(sr->s->timeout, d, sizeof(d));
		reason = xasprintf("timeout (%s)", d);
		timed_out = 1;
	} else if (sr->guard_aborted && !sr->stopping) {
		free(reason);
		reason = xasprintf("wait_policy: %s", sr->guard_message ? sr->guard_message
				   : wait_outcome_name(sr->guard_outcome));
	}
	if (sr->s->subworkflow && !sr->stopping) {
		stepio_copy_exports(sr);
		if (reason && res->exited && !res->timed_out) {
			free(reason);
			reason = xasprintf("subworkflow '%s' did not succeed (exit code %d)", sr->s->subworkflow,
					   res->exit_code);
		}
	}
	struct wl_err err = WL_ERR_INIT;
	/* roboppi collects outputs of a looping step after its check */
	if (!reason && sr->s->noutputs && !sr->s->check.present && stepio_copy_outputs(sr, &err) < 0)
		reason = xstrdup(err.msg);
	if (reason)
		step_record_outcome(sr, 1, reason);
	attempt_emit_finished(sr, "step", res, reason);
	if (step_finish_if_stopping(sr)) {
		free(reason);
		return;
	}
	if (reason) {
		attempt_failed(sr, reason, res->timed_out || timed_out, res->exited, res->exit_code);
		free(reason);
		return;
	}
	if (sr->s->check.present) {
		stepcheck_start(sr);
		return;
	}
	step_succeeded(sr);
}

void attempt_start(struct step_run *sr)
{
	struct runner *r = sr->r;
	if (run_stopping_for(sr)) {
		step_set_status(sr, STEP_CANCELLED, sr->stop_reason ? sr->stop_reason : "run stopping");
		return;
	}
	if (branch_lock_broken(sr))
		return;
	sr->attempt++;
	sr->attempts_total++;
	struct wl_err err = WL_ERR_INIT;
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "phase", sr->s->is_wait ? "wait" : "step");
	if (stepio_copy_inputs(sr, &err) == 0 && sr->s->is_wait) {
		wait_step_start(sr, d);
		return;
	}
	/* As roboppi: a missing step workspace: is not created; the worker
	 * cannot start there (inputs, copied above, may have made it). */
	if (!err.msg[0] && !fs_is_dir(sr->cwd))
		err_set(&err, "step workspace '%s' (%s) does not exist; create it in an earlier step or drop 'workspace:'",
			sr->s->workspace ? sr->s->workspace : ".", sr->cwd);
	/* Before the spawn, as a check's (stepcheck.c): then it joins the
	 * commit that records the child's process group (store.h), and a short
	 * step of a chain is one commit, not two (its turn had a second one for
	 * this event alone). */
	run_emit(r, EV_ATTEMPT_STARTED, sr, d);
	if (!err.msg[0] && attempt_spawn(sr, 0, &err) == 0) {
		rundoc_meta_changed(sr);
		return;
	}
	/* Could not start: the attempt failed before running. */
	sr->phase = PH_IDLE;
	step_record_outcome(sr, 1, err.msg);
	attempt_emit_finished(sr, sr->s->is_wait ? "wait" : "step", NULL, err.msg);
	attempt_failed(sr, err.msg, 0, 0, 0);
}

/* ---- scheduling ---- */

static void step_start(struct step_run *sr)
{
	struct runner *r = sr->r;
	const struct wl_step *s = sr->s;
	struct wl_err err = WL_ERR_INIT;
	if (!sr->dir)   /* else made ahead by rundoc_on_idle() */
		sr->dir = artifacts_step_dir(r->ctx, s->id, &err);
	sr->cwd = s->workspace ? fs_path_in(r->workspace, s->workspace) : xstrdup(r->workspace);
	if (!sr->dir)
		sr->dir = fs_join(r->context_dir, s->id);   /* err is reported below */
	sr->decision_file = s->check.decision_file ? fs_path_in(r->workspace, s->check.decision_file)
						   : fs_join(sr->dir, "review.verdict");
	sr->fix_file = s->check.fix_file ? fs_path_in(r->workspace, s->check.fix_file) : fs_join(sr->dir, "fix.md");
	sr->wait_failure_file = fs_join(sr->dir, "wait-failure.json");
	/* a directory this run created holds nothing of an earlier run: no
	 * clean slate to make (8 system calls per step) */
	if (!err.msg[0] && !artifacts_step_dir_is_new(r->ctx, s->id))
		rundoc_clear_step_dir(sr, &err);
	sr->max_iterations = s->check.present && s->max_iterations != WL_UNSET ? s->max_iterations : 1;
	sr->iteration = 1;
	if (s->check.present)
		sr->il = iter_loop_new(&r->iter_run, s, sr->dir, sr->decision_file, sr->fix_file, sr->max_iterations);
	step_set_status(sr, STEP_RUNNING, NULL);
	/* a worker step's missing workspace fails its attempt (attempt_start) */
	if (err.msg[0] || (s->is_wait && fs_mkdir_p(sr->cwd, &err) < 0)) {
		step_fail(sr, err.msg);
		return;
	}
	iteration_start(sr);
}

static int dep_ok(const struct step_run *d)
{
	return d->status == STEP_SUCCEEDED || d->status == STEP_INCOMPLETE ||
	       (d->status == STEP_FAILED && d->s->on_failure == ON_FAILURE_CONTINUE && !d->fatal);
}

/* An always-run step is ready when its depends_on have ended, whatever
 * their status; without depends_on, when every other non-always step has. */
static int always_ready(const struct runner *r, const struct step_run *sr)
{
	for (size_t j = 0; j < sr->s->ndeps; j++)
		if (!step_terminal(r->steps[sr->s->deps[j]].status))
			return 0;
	if (sr->s->ndeps)
		return 1;
	for (size_t i = 0; i < r->nsteps; i++)
		if (!r->steps[i].s->always && !step_terminal(r->steps[i].status))
			return 0;
	return 1;
}

static void schedule(struct runner *r)
{
	int changed;
	r->in_schedule = 1;
	proc_batch_begin();
	do {
		changed = 0;
		for (size_t i = 0; i < r->nsteps; i++) {
			struct step_run *sr = &r->steps[i];
			if (sr->status != STEP_PENDING || (r->stopping && !sr->s->always))
				continue;
			if (sr->s->always) {
				if (always_ready(r, sr) && !(r->concurrency && r->nrunning >= (size_t)r->concurrency)) {
					step_start(sr);
					changed = 1;
				}
				continue;
			}
			int ready = 1;
			const struct step_run *bad = NULL;
			for (size_t j = 0; j < sr->s->ndeps; j++) {
				const struct step_run *d = &r->steps[sr->s->deps[j]];
				if (!step_terminal(d->status)) {
					ready = 0;
				} else if (!dep_ok(d)) {
					bad = d;
					break;
				}
			}
			if (bad) {
				char *why = xasprintf("dependency '%s' %s", bad->s->id,
						      bad->status == STEP_FAILED ? "failed"
						      : bad->status == STEP_SKIPPED ? "skipped" : "cancelled");
				step_set_status(sr, STEP_SKIPPED, why);
				free(why);
				changed = 1;
				continue;
			}
			if (!ready || (r->concurrency && r->nrunning >= (size_t)r->concurrency))
				continue;
			step_start(sr);
			changed = 1;
		}
	} while (changed);
	proc_batch_end();
	r->in_schedule = 0;
	if (r->nfinished == r->nsteps)
		r->done = 1;
}

static void on_schedule(void *arg)
{
	struct runner *r = arg;
	r->schedule_timer = 0;
	schedule(r);
}

static void schedule_soon(struct runner *r)
{
	if (r->in_schedule || r->schedule_timer)
		return;
	r->schedule_timer = evloop_add_timer(r->loop, time_now_ms(), on_schedule, r);
}

/* The loop's first idle hook (registered before the documents' and the
 * history's): a schedule asked for in the previous round runs here, at the
 * start of the round, instead of from its timer after the poll. So in a
 * chain the next step starts right after the previous one ended, and the
 * history's commit and the deferred file creates of that round follow the
 * spawn -- they overlap the child's run instead of delaying its start. */
void runner_schedule_on_idle(void *arg, int will_wait)
{
	struct runner *r = arg;
	/* a signal first (it may stop the run: pending steps are then skipped,
	 * not started and cancelled); the timer schedules after it */
	if (!r->schedule_timer || r->done || evloop_signal_pending(r->loop))
		return;
	evloop_cancel_timer(r->loop, r->schedule_timer);
	r->schedule_timer = 0;
	schedule(r);
}

static void on_deadline(void *arg)
{
	struct runner *r = arg;
	r->deadline_timer = 0;
	char d[64], *why;
	duration_format(r->wf->timeout, d, sizeof(d));
	why = xasprintf("workflow timeout (%s)", d);
	run_stop(r, RUN_TIMED_OUT, why);
	free(why);
}

static void on_signal(void *arg, int signo)
{
	struct runner *r = arg;
	if (r->cancel_signo) {
		/* A second signal: no more grace. */
		proc_kill_all();
		return;
	}
	r->cancel_signo = signo;
	const char *n = sigabbrev_np(signo);
	char *why = xasprintf("cancelled by SIG%s", n ? n : "?");
	run_stop(r, RUN_CANCELLED, why);
	free(why);
}

/* ---- public API ---- */

static void step_run_release(struct step_run *sr)
{
	free(sr->reason);
	free(sr->dir);
	free(sr->cwd);
	free(sr->check_id);
	free(sr->decision_file);
	free(sr->fix_file);
	free(sr->wait_failure_file);
	free(sr->wait_name);
	free(sr->wait_stdout);
	free(sr->wait_stderr);
	free(sr->stop_reason);
	free(sr->guard_error);
	free(sr->guard_message);
	free(sr->sub_ctx);
	iter_loop_free(sr->il);
	sentinel_finish(sr->sentinel, NULL);
	sentinel_trigger_release(&sr->strig);
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nsteps; i++)
		step_run_release(&r->steps[i]);
	free(r->steps);
	if (r->loop) {
		evloop_off_signal(r->loop, SIGINT, on_signal, r);
		evloop_off_signal(r->loop, SIGTERM, on_signal, r);
		evloop_off_signal(r->loop, SIGHUP, on_signal, r);
		evloop_free(r->loop);
	}
	artifacts_close(r->ctx);
	gitwork_close(r->git);
	free(r->notice);
	redactor_free(r->rd);
	free(r->redact_env);
	free(r->lock_branch);
	strvec_clear(&r->base_env);
	strvec_clear(&r->step_env);
	free(r->run_id);
	free(r->workspace);
	free(r->context_dir);
	free(r->wf_dir);
	free(r->wf_file);
	free(r->self_exe);
	free(r->artifact_error);
	strvec_clear(&r->artifact_errors);
	free(r->gate_reason);
	free(r);
}

enum run_status runner_run(struct runner *r)
{
	if (r->ran)
		return r->status;
	r->ran = 1;
	r->start_mono = time_now_ms();
	evloop_on_signal(r->loop, SIGINT, on_signal, r);
	evloop_on_signal(r->loop, SIGTERM, on_signal, r);
	evloop_on_signal(r->loop, SIGHUP, on_signal, r);
	rundoc_write_workflow(r);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "workflow", r->wf->name ? r->wf->name : "");
	cJSON_AddStringToObject(d, "file", r->wf_file);
	cJSON_AddStringToObject(d, "workspace", r->workspace);
	cJSON_AddStringToObject(d, "context_dir", r->context_dir);
	cJSON_AddNumberToObject(d, "pid", (double)getpid());
	cJSON_AddNumberToObject(d, "steps", (double)r->nsteps);
	run_emit(r, EV_RUN_STARTED, NULL, d);
	const char *gate = r->gate_fn ? r->gate_fn(r->gate_arg, r) : NULL;
	if (gate)
		r->gate_reason = xstrdup(gate);
	r->in_schedule = 1;   /* one PENDING event per step, scheduled after */
	for (size_t i = 0; i < r->nsteps; i++) {
		step_set_status(&r->steps[i], STEP_PENDING, NULL);
		if (r->gate_reason)
			step_set_status(&r->steps[i], STEP_SKIPPED, r->gate_reason);
	}
	r->in_schedule = 0;
	if (r->gate_reason) {
		r->done = 1;
	} else {
		if (r->wf->timeout > 0)
			r->deadline_timer = evloop_add_timer(r->loop, r->start_mono + r->wf->timeout, on_deadline, r);
		schedule(r);
	}
	while (!r->done)
		evloop_run_once(r->loop);
	if (r->deadline_timer)
		evloop_cancel_timer(r->loop, r->deadline_timer);
	if (r->schedule_timer)
		evloop_cancel_timer(r->loop, r->schedule_timer);
	r->deadline_timer = r->schedule_timer = 0;
	if (r->meta_timer)
		evloop_cancel_timer(r->loop, r->meta_timer);
	rundoc_flush_meta(r);
	rundoc_settle(r);                  /* every _meta.json written, its errors kept */
	artifacts_flush_events(r->ctx);   /* its write errors count below (lost) */

	int failed = 0;
	for (size_t i = 0; i < r->nsteps; i++)
		failed |= r->steps[i].status == STEP_FAILED;
	if (r->cancel_signo)
		r->status = RUN_CANCELLED;
	else if (r->timed_out)
		r->status = RUN_TIMED_OUT;
	else if (failed || r->gate_reason)
		r->status = RUN_FAILED;
	else
		r->status = RUN_SUCCEEDED;
	r->end_wall = time_wall_ms();
	/* The final _workflow.json first: if it (or any artifact before it)
	 * could not be written, the run did not succeed, and history, the
	 * exit code and the files left say the same (a file that cannot be
	 * written is removed rather than left saying RUNNING). */
	rundoc_write_workflow(r);
	const char *lost = runner_artifact_error(r);
	if (lost && r->status == RUN_SUCCEEDED) {
		r->status = RUN_FAILED;
		rundoc_write_workflow(r);
	}
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "status", run_status_name(r->status));
	cJSON_AddNumberToObject(d, "duration_s", ms_to_s(r->end_wall - r->start_wall));
	cJSON_AddNumberToObject(d, "exit_code", runner_exit_code(r));
	if (r->gate_reason)
		cJSON_AddStringToObject(d, "reason", r->gate_reason);
	else if (lost) {
		char *why = xasprintf("artifacts lost: %s", lost);
		cJSON_AddStringToObject(d, "reason", why);
		free(why);
	}
	run_emit(r, EV_RUN_FINISHED, NULL, d);
	artifacts_flush_events(r->ctx);
	return r->status;
}
