/*
 * waitstep: the runner's side of the wait engine (wait.h) -- a wait step
 * (`wait:` with a condition) and the guard beside a worker step's or a
 * completion_check's child. The parameters come from the step; a wait
 * step's end is its attempt's end; a worker step's guard result is the
 * attempt's failure reason (on_attempt_exit), a check's goes to the
 * iteration directly (iter_loop_guard_done, iteration.h).
 */
#include "runner_int.h"

#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "xalloc.h"

void clear_guard(struct step_run *sr)
{
	sr->guard_aborted = 0;
	sr->guard_outcome = WAIT_MET;
	free(sr->guard_message);
	sr->guard_message = NULL;
}

/* A worker step's guard ended (from wait_guard_finish, synchronously): its
 * abort is the attempt's failure reason (on_attempt_exit). A check's guard
 * reports to the iteration instead (guard_start). */
static void step_guard_done(void *arg, const struct wait_result *wr)
{
	struct step_run *sr = arg;
	clear_guard(sr);
	sr->guard_outcome = wr->outcome;
	sr->guard_aborted = wr->outcome != WAIT_MET && wr->outcome != WAIT_CANCELLED;
	sr->guard_message = wr->message && *wr->message ? xstrdup(wr->message) : NULL;
}

/* ---- guards ---- */

static void fill_wait_params(struct step_run *sr, struct wait_params *p, enum wait_phase phase, char *const *env)
{
	struct runner *r = sr->r;
	p->loop = r->loop;
	p->settings = sr->settings;
	p->phase = phase;
	p->shell = r->shell;
	p->env = env;
	p->cwd = sr->cwd;
	p->out_dir = sr->dir;
	p->check_id = sr->check_id;
	p->run_id = r->run_id;
	p->workflow = r->wf->name;
	p->step = sr->s->id;
	p->iteration = sr->s->check.present ? sr->iteration : 0;
	p->redactor = r->rd;
	p->bus = &r->bus;
	/* names and logs: the step's own wait is the wait step itself or the guard of
	 * its check / worker; in-script waits live in <step dir>/waits/<name>/ */
	free(sr->wait_name);
	sr->wait_name = phase == WAIT_PHASE_WAIT ? xstrdup(sr->s->id)
			: sr->settings->p.target ? NULL
			: xasprintf("%s-%s", sr->s->id, phase == WAIT_PHASE_CHECK ? "check" : "guard");
	p->name = sr->wait_name;
	free(sr->wait_stdout);
	free(sr->wait_stderr);
	sr->wait_stdout = fs_join(sr->dir, phase == WAIT_PHASE_CHECK ? "check.stdout.log" : "stdout.log");
	sr->wait_stderr = fs_join(sr->dir, phase == WAIT_PHASE_CHECK ? "check.stderr.log" : "stderr.log");
	p->stdout_log = sr->wait_stdout;
	p->stderr_log = sr->wait_stderr;
}

/* The wait engine's non-fatal problems: a warning event of the step. */
static void on_wait_warning(void *arg, const char *message)
{
	step_warn(arg, "wait", message);
}

/* Start a guard beside sr->proc; -1 + err when the engine is missing or
 * refuses. A check's guard hands its result to the iteration directly (its
 * evidence for the decision); a worker step's to step_guard_done. */
int guard_start(struct step_run *sr, const struct wait_settings *settings, enum wait_phase phase,
		const struct strvec *env, struct wl_err *err)
{
	clear_guard(sr);
	sr->settings = settings;
	struct wait_params p = WAIT_PARAMS_INIT;
	fill_wait_params(sr, &p, phase, env->v);
	if (phase == WAIT_PHASE_CHECK) {
		p.on_done = iter_loop_guard_done;
		p.done_arg = sr->il;
	} else {
		p.on_done = step_guard_done;
	}
	p.on_warning = on_wait_warning;
	p.arg = sr;
	sr->wait = wait_guard_start(&p, sr->proc, err);
	return sr->wait ? 0 : -1;
}


static void on_wait_done(void *arg, const struct wait_result *wr)
{
	struct step_run *sr = arg;
	sr->wait = NULL;
	struct proc_result pr;
	memset(&pr, 0, sizeof(pr));
	pr.start_ms = sr->phase_start_mono;
	pr.end_ms = time_now_ms();
	pr.signals_sent = wr->signals_sent;
	pr.timed_out = wr->outcome == WAIT_TIMEOUT;
	char *reason = NULL;
	if (wr->outcome != WAIT_MET)
		reason = wr->message && *wr->message ? xasprintf("wait: %s", wr->message)
						     : xasprintf("wait %s", wait_outcome_name(wr->outcome));
	if (reason)
		step_record_outcome(sr, 1, reason);
	attempt_emit_finished(sr, "wait", &pr, reason);
	if (step_finish_if_stopping(sr)) {
		free(reason);
		return;
	}
	if (!reason) {
		if (sr->s->check.present)
			stepcheck_start(sr);
		else
			step_succeeded(sr);
		return;
	}
	attempt_failed(sr, reason, wr->outcome == WAIT_TIMEOUT, 0, 0);
	free(reason);
}

/* A wait step's condition output: what a worker step's output is (verbose display). */
static void on_wait_output(void *arg, int stream, const char *data, size_t len)
{
	struct step_run *sr = arg;
	if (sr->r->output_fn)
		sr->r->output_fn(sr->r->output_arg, sr->s->id, stream == 2 ? PROC_STDERR : PROC_STDOUT, data, len);
}

void wait_step_start(struct step_run *sr, cJSON *started)
{
	struct runner *r = sr->r;
	run_emit(r, EV_ATTEMPT_STARTED, sr, started);
	struct wl_err err = WL_ERR_INIT;
	struct strvec env = STRVEC_INIT;
	worker_env(sr, &env, "wait");
	sr->settings = sr->s->wait_settings;   /* a wait step always has them */
	struct wait_params p = WAIT_PARAMS_INIT;
	fill_wait_params(sr, &p, WAIT_PHASE_WAIT, env.v);
	p.condition = sr->s->wait_condition;
	p.on_output = on_wait_output;
	p.on_done = on_wait_done;
	p.on_warning = on_wait_warning;
	p.arg = sr;
	sr->phase = PH_WAIT;
	sr->phase_start_mono = time_now_ms();
	sr->wait = wait_start(&p, &err);
	strvec_clear(&env);
	if (sr->wait) {
		rundoc_meta_changed(sr);
		return;
	}
	sr->phase = PH_IDLE;
	step_record_outcome(sr, 1, err.msg);
	attempt_emit_finished(sr, "wait", NULL, err.msg);
	attempt_failed(sr, err.msg, 0, 0, 0);
}

