/*
 * attempt: one child of a step (a worker attempt or a completion_check) --
 * its start (command line, environment, logs, timeout, linger, the roboppi
 * Sentinel and the wait_policy guard beside it) and its end (why it failed,
 * the attempt_finished and kill events).
 */
#include "runner_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "xalloc.h"

#define OUTPUT_TAIL 8192
#define STEP_LINGER_MS 10000   /* background job holding a step's pipes: waited for this long */

static char *result_reason_of_exit(const struct proc_result *res, int64_t timeout_ms)
{
	if (res->exec_failed)
		return xstrdup(res->exec_error);
	if (res->timed_out) {
		char d[64];
		duration_format(timeout_ms, d, sizeof(d));
		return xasprintf("timeout (%s)", d);
	}
	if (res->signaled) {
		const char *n = sigabbrev_np(res->signo);
		return n ? xasprintf("killed by signal SIG%s", n) : xasprintf("killed by signal %d", res->signo);
	}
	if (res->exited && res->exit_code != 0)
		return xasprintf("exit code %d", res->exit_code);
	return NULL;
}

/* Why an attempt failed, or NULL. Lost output (a capture file could not be
 * written: full disk) fails the attempt too: a log that is not whole must
 * never turn into a pass (docs/execution.md "Write errors"). */
char *attempt_result_reason(const struct proc_result *res, int64_t timeout_ms)
{
	char *why = result_reason_of_exit(res, timeout_ms);
	if (!res->capture_error[0])
		return why;
	char *r = xasprintf("%s%soutput log lost: %s", why ? why : "", why ? "; " : "", res->capture_error);
	free(why);
	return r;
}


void attempt_emit_finished(struct step_run *sr, const char *phase, const struct proc_result *res,
				  const char *reason)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "phase", phase);
	if (res && res->exited)
		cJSON_AddNumberToObject(d, "exit_code", res->exit_code);
	else
		cJSON_AddNullToObject(d, "exit_code");
	if (res && res->signaled) {
		const char *n = sigabbrev_np(res->signo);
		char buf[32];
		snprintf(buf, sizeof(buf), "SIG%s", n ? n : "?");
		cJSON_AddStringToObject(d, "signal", buf);
	} else {
		cJSON_AddNullToObject(d, "signal");
	}
	cJSON_AddBoolToObject(d, "timed_out", res && res->timed_out);
	cJSON_AddItemToObject(d, "signals_sent", json_signals_sent(res ? res->signals_sent : 0));
	json_add_string_or_null(d, "reason", reason);
	cJSON_AddNumberToObject(d, "duration_s", res ? ms_to_s(res->end_ms - res->start_ms) : 0);
	cJSON_AddNumberToObject(d, "consecutive_failures", alert_consecutive(&sr->alert));
	run_emit(sr->r, EV_ATTEMPT_FINISHED, sr, d);
	if (res && res->signals_sent) {
		cJSON *k = cJSON_CreateObject();
		cJSON_AddStringToObject(k, "phase", phase);
		cJSON_AddItemToObject(k, "signals_sent", json_signals_sent(res->signals_sent));
		const char *why = res->timed_out ? "timeout"
				  : sr->stopping ? sr->stop_reason
				  : res->lingered ? "linger: group members outlived the main process"
				  : sr->sentinel_fired ? "sentinel"
				  : "wait_policy";
		cJSON_AddStringToObject(k, "why", why);
		run_emit(sr->r, EV_KILL, sr, k);
	}
}

/* Detach the proc and, when a guard watched it, let the guard finish (it
 * reports synchronously to the on_done guard_start() gave it: the
 * iteration for a check, the step for a worker). */
void attempt_proc_done(struct step_run *sr, const struct proc_result *res)
{
	sr->proc = NULL;
	sentinel_trigger_release(&sr->strig);
	sr->sentinel_fired = 0;
	if (sr->sentinel) {
		sr->sentinel_fired = sentinel_finish(sr->sentinel, &sr->strig);
		sr->sentinel = NULL;
	}
	if (res->capture_error[0]) {   /* a log not created at its first byte, or a write that failed */
		char *w = xasprintf("step '%s': output log lost: %s", sr->s->id, res->capture_error);
		run_keep_artifact_error(sr->r, w);
		free(w);
	}
	if (sr->wait) {
		struct wait *w = sr->wait;
		sr->wait = NULL;
		wait_guard_finish(w, res);
	}
}

static void on_child_output(void *arg, enum proc_stream stream, const char *data, size_t len)
{
	struct step_run *sr = arg;
	if (sr->sentinel)
		sentinel_output(sr->sentinel);
	if (sr->wait && sr->proc)
		wait_guard_output(sr->wait, data, len);
	if (sr->r->output_fn)
		sr->r->output_fn(sr->r->output_arg, sr->s->id, stream, data, len);
}

static void on_sentinel_warning(void *arg, const char *message)
{
	step_warn(arg, "sentinel", message);
}

/* roboppi's Sentinel beside the child, when the workflow enables it (sentinel.h). */
static int sentinel_guard_start(struct step_run *sr, int is_check, const struct strvec *env, struct wl_err *err)
{
	struct runner *r = sr->r;
	const struct wl_step *s = sr->s;
	const struct wl_stall *st = is_check && s->check.stall.present ? &s->check.stall : &s->stall;
	struct sentinel_params p = {0};
	if (!sentinel_policy_active(r->wf, st, &p.policy))
		return 0;
	enum wl_worker w = is_check ? s->check.worker : s->worker;
	p.loop = r->loop;
	p.is_check = is_check;
	p.worker_events = w != WORKER_CUSTOM && w != WORKER_UNSET;
	p.env = env->v;
	p.cwd = r->workspace;
	p.context_dir = r->context_dir;
	p.step = s->id;
	p.iteration = sr->iteration ? sr->iteration : 1;
	p.workflow_id = r->run_id;
	p.workflow_name = r->wf->name;
	p.events_file = r->wf->sentinel.events_file;
	p.redactor = r->rd;
	p.on_warning = on_sentinel_warning;
	p.arg = sr;
	sr->sentinel = sentinel_start(&p, sr->proc, err);
	return sr->sentinel ? 0 : -1;
}

/* Start one child of the step (worker attempt or check) with its guard; -1 + err. */
int attempt_spawn(struct step_run *sr, int is_check, struct wl_err *err)
{
	const char *phase = is_check ? "completion_check" : "step";
	struct strvec env = STRVEC_INIT, argv = STRVEC_INIT;
	clear_guard(sr);   /* a guard's verdict belongs to one child only */
	sr->settings = NULL;
	worker_env(sr, &env, phase);
	int rc = -1;
	if (worker_argv(sr, is_check, &env, &argv, err) < 0)
		goto out;
	int64_t timeout = is_check ? workflow_check_timeout(sr->r->wf, sr->s) : sr->s->timeout;
	const struct wl_wait_policy *use = is_check ? &sr->s->check.wait_policy : &sr->s->wait_policy;
	const struct wait_settings *settings = is_check ? sr->s->check.wait_settings : sr->s->wait_settings;
	char *out_path = fs_join(sr->dir, is_check ? "check.stdout.log" : "stdout.log");
	char *err_path = fs_join(sr->dir, is_check ? "check.stderr.log" : "stderr.log");
	struct proc_spec spec = PROC_SPEC_INIT;
	spec.argv = argv.v;
	spec.env = env.v;
	spec.cwd = sr->cwd;
	spec.stdout_path = out_path;
	spec.stderr_path = err_path;
	spec.capture_tail = OUTPUT_TAIL;
	spec.timeout_ms = timeout > 0 ? timeout : 0;
	/* roboppi: a step ends when its shell has exited AND its output pipes are
	 * closed, so a background job still holding them is waited for — here
	 * for at most STEP_LINGER_MS (never longer than the attempt's timeout),
	 * then its group is stopped: deterministic, and a step never hangs. */
	spec.linger_ms = timeout > 0 && timeout < STEP_LINGER_MS ? timeout : STEP_LINGER_MS;
	/* A job that let go of the pipes (`cmd >/dev/null 2>&1 &`) lives on as
	 * in roboppi, until the run ends: the reaper (a subreaper) stops it then. */
	spec.keep_detached = 1;
	int64_t grace = (settings ? settings : sr->r->wf->wait_defaults)->p.grace;
	spec.grace_ms = grace > 0 ? grace : 1;   /* grace 0s: at once (proc reads 0 as its 5 s default) */
	spec.on_output = on_child_output;
	spec.on_exit = is_check ? stepcheck_on_exit : on_attempt_exit;
	spec.arg = sr;
	sr->phase = is_check ? PH_CHECK : PH_STEP;
	sr->phase_start_mono = time_now_ms();
	sr->proc = proc_start(sr->r->loop, &spec, err);
	free(out_path);
	free(err_path);
	if (!sr->proc)
		goto out;
	if (sentinel_guard_start(sr, is_check, &env, err) < 0 ||
	    (use->present && guard_start(sr, settings, is_check ? WAIT_PHASE_CHECK : WAIT_PHASE_STEP, &env, err) < 0)) {
		/* The process runs but cannot be guarded: stop it; its exit reports the error. */
		free(sr->guard_error);
		sr->guard_error = xstrdup(err->msg);
		proc_stop(sr->proc);
	}
	rc = 0;
out:
	strvec_clear(&env);
	strvec_clear(&argv);
	return rc;
}
